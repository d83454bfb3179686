"""The Augment tab: geometric preview (worker process), presets, export."""
