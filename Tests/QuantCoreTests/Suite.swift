// The QuantCore test suite. Files are added per topic.
