"""The package version, importable without Keras (the CLI's --version and --help read it)."""

__version__ = "0.1.0"
