"""The web application (interfaces layer): JSON API and server-rendered pages over the registry."""

from fairtrain.web.app import WebLimits, create_app

__all__ = ["WebLimits", "create_app"]
