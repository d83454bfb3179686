"""Box editing beside the viewer."""
