"""Qt-free and torch-free core: DICOM decoding, the VinDr index, the cache, the demo dataset."""
