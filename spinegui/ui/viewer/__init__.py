"""The image viewer: window/level display, box items, header panel."""
