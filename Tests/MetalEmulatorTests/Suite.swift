// The MetalEmulator test suite. Files are added per topic.
