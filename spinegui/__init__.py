"""spinegui: spine X-ray augmentation research on VinDr-SpineXR."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spinegui")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
