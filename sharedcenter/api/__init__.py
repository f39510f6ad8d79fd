"""The HTTP API (FastAPI) and the reading-station pages."""

from sharedcenter.api._app import create_app
from sharedcenter.api.routes.internal import notify_token

__all__ = ["create_app", "notify_token"]
