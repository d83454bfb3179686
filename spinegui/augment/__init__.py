"""See DESIGN.md for what belongs in this layer."""
