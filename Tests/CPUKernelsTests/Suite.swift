// The CPUKernels test suite. Files are added per topic.
