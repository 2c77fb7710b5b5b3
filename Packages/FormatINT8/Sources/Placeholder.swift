// FormatINT8: placeholder until its issue lands. See Docs/architecture.md.
enum FormatINT8ModulePlaceholder {}
