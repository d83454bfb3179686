"""See docs/ARCHITECTURE.md (Layers, Where new code goes) for what belongs in this layer."""
