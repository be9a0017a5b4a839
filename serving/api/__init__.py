"""The HTTP routes: one router a resource under ``serving.api.routes``."""
