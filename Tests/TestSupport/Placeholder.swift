// Shared fixtures and helpers for every test target.
enum TestSupportPlaceholder {}
