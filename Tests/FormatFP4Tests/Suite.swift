// The FormatFP4 test suite. Files are added per topic.
