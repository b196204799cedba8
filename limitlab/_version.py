from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("limitlab")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0+unknown"
