// The DoubleQuant test suite. Files are added per topic.
