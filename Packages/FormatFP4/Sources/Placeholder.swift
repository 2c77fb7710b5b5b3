// FormatFP4: placeholder until its issue lands. See Docs/architecture.md.
enum FormatFP4ModulePlaceholder {}
