"""The one version source: pyproject.toml, the CLI, the web API and the signal reader's user agent read it."""

__version__ = "0.2.0"
