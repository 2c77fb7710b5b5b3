// FormatNF4: placeholder until its issue lands. See Docs/architecture.md.
enum FormatNF4ModulePlaceholder {}
