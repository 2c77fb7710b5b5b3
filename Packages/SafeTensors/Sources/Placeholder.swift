// SafeTensors: placeholder until its issue lands. See Docs/architecture.md.
enum SafeTensorsModulePlaceholder {}
