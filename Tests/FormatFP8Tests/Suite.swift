// The FormatFP8 test suite. Files are added per topic.
