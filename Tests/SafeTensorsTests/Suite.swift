// The SafeTensors test suite. Files are added per topic.
