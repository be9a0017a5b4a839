"""Routers: ``health`` (open), and the ``/v1`` resources behind the API key."""
