// FormatFP8: placeholder until its issue lands. See Docs/architecture.md.
enum FormatFP8ModulePlaceholder {}
