"""The Redis contract of recsys, one definition of each part: key names and hash tags
(``keys``), encodings (``codec``), Lua scripts (``scripts``), the version manifest
(``manifest``), experiment records (``experiments``), live-pointer resolution (``live``), push
state (``push_state``), the events stream (``events``), publishing (``writer``), the async reads
of serving (``reader``), clients from a URL, one node or a Redis Cluster (``connect``), and the
settings every command and the API read (``settings``).

Jobs use the sync side (``connect``, ``writer``, ``experiments``, ``live.read_live``); serving
the async side (``reader.Store``, ``events``). Imports ``recommender`` and ``redis``; never
``mlflow``, ``fastapi`` or ``training``.
"""

from storage.connect import connect, connect_async
from storage.errors import NoLiveModel, StorageError, StoreUnavailable
from storage.keys import DEFAULT_PREFIX, Keys, VersionKeys
from storage.manifest import Manifest
from storage.settings import StorageSettings, resolve

__all__ = [
    "DEFAULT_PREFIX",
    "Keys",
    "Manifest",
    "NoLiveModel",
    "StorageError",
    "StorageSettings",
    "StoreUnavailable",
    "VersionKeys",
    "connect",
    "connect_async",
    "resolve",
]
