"""The study browser: model, thumbnails, panel."""
