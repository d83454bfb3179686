"""The dataset on disk (VinDr-SpineXR layout), the workspace beside it, its cache and browse facts."""
