"""Lesion boxes: the model, the edit store with autosave, the overlay file, import and exports."""
