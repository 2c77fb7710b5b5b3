// The ModelPatcher test suite. Files are added per topic.
