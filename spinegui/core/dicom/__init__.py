"""DICOM reading, decoding, display (window/level), de-identification and writing. No Qt, no torch."""
