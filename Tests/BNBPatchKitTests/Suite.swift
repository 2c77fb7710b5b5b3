// The BNBPatchKit test suite. Files are added per topic.
