"""Errors of the storage layer::

    RecommenderError
    └── StorageError
        ├── StoreUnavailable   Redis cannot be reached or timed out (the clients reconnect)
        └── NoLiveModel        nothing is live for the model asked for, or its version is gone

The API maps both to 503; the commands print the message.
"""

from __future__ import annotations

from recommender.errors import RecommenderError


class StorageError(RecommenderError):
    """Base of the errors the storage layer raises on purpose."""


class StoreUnavailable(StorageError):
    """Redis cannot be reached; retrying later may succeed."""


class NoLiveModel(StorageError):
    """No published version to serve: nothing live, the model asked for is not live, or the
    live version's keys are incomplete or expired."""
