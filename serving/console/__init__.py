"""The operator console: ``/console`` (sign-in, pages, static files) and ``/docs`` from local
assets. The pages' data comes from the ``/v1/admin`` JSON routes (``serving.api.routes``)."""

from serving.console.pages import install
from serving.console.session import require_admin

__all__ = ["install", "require_admin"]
