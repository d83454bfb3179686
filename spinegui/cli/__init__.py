"""The command line: spinegui.cli.entry builds the parser and dispatches; one module per command group.
See docs/ARCHITECTURE.md (Layers)."""
