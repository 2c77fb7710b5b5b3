// The FormatNF4 test suite. Files are added per topic.
