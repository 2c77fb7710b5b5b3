// The MetalKernels test suite. Files are added per topic.
