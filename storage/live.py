"""Which version is live: resolving the live pointer, for serving and for jobs alike.

Several model names can be live at once (``Keys.live``: name -> namespace). Serving and the jobs
use ``RECSYS_MODEL_NAME`` (``--model``) when given, else the *default model*
(``Keys.default_model``), else the only live model. The first model made live becomes the default
(``storage.writer.make_live``, in the same transaction as the pointer), so publishing a second
name never changes what an unconfigured server serves; ``set_default`` moves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import redis

from storage.connect import SyncClient
from storage.errors import NoLiveModel
from storage.keys import Keys, VersionKeys
from storage.manifest import Manifest

READS = 2
"""Commands ``queue_pointers`` queues."""


@dataclass(frozen=True)
class Pointers:
    """The live pointer (model name -> namespace) and the default model's name."""

    live: dict[str, str]
    default: str | None


def queue_pointers(pipe: Any, keys: Keys) -> None:
    """Queue on ``pipe`` (sync or async) the reads of ``parse_pointers`` (one hash slot)."""
    pipe.hgetall(keys.live())
    pipe.get(keys.default_model())


def parse_pointers(replies: Sequence[Any]) -> Pointers:
    """The ``READS`` replies of ``queue_pointers``."""
    live, default = replies
    return Pointers({name.decode(): namespace.decode() for name, namespace in live.items()},
                    default.decode() if default is not None else None)


def choose(live: Mapping[str, str], model_name: str | None, default: str | None = None) -> str:
    """The namespace to serve: ``model_name``'s, else the ``default`` model's, else the only
    live model's."""
    if model_name is not None:
        if model_name not in live:
            others = f" (live: {', '.join(sorted(live))})" if live else ""
            raise NoLiveModel(f"model {model_name!r} has no published version{others}; "
                              f"run `recsys publish {model_name}@champion`")
        return live[model_name]
    if default is not None and default in live:
        return live[default]
    if len(live) == 1:
        return next(iter(live.values()))
    if not live:
        raise NoLiveModel("no model is published yet; run `recsys publish NAME@ALIAS`")
    why = (f"the default model {default!r} is not live" if default is not None
           else "none is the default")
    raise NoLiveModel(f"several models are live ({', '.join(sorted(live))}) and {why}; name the "
                      "one to use (RECSYS_MODEL_NAME for the API, --model for the commands) or "
                      "make one the default (`recsys publish NAME@ALIAS --default`)")


def read_pointers(client: SyncClient, keys: Keys) -> Pointers:
    """``Pointers`` as they are now."""
    with client.pipeline(transaction=False) as pipe:
        queue_pointers(pipe, keys)
        return parse_pointers(pipe.execute())


def set_default(client: SyncClient, keys: Keys, name: str) -> None:
    """Make ``name`` the default model; ``NoLiveModel`` unless it is live."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(keys.live())
                if not pipe.hexists(keys.live(), name):
                    raise NoLiveModel(f"model {name!r} has no live version to make the default; "
                                      f"run `recsys publish {name}@champion --default`")
                pipe.multi()
                pipe.set(keys.default_model(), name)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def incomplete(namespace: str) -> NoLiveModel:
    return NoLiveModel(f"the live version {namespace!r} is incomplete or expired in Redis; "
                       "publish again")


@dataclass(frozen=True)
class LiveVersion:
    """A live version as a job reads it: its keys, manifest and item table."""

    keys: VersionKeys
    manifest: Manifest
    items: pa.Table


def read_live(client: SyncClient, keys: Keys, model_name: str | None) -> LiveVersion:
    """The live version of ``model_name`` (or of the default model, ``choose``), read now."""
    pointers = read_pointers(client, keys)
    namespace = choose(pointers.live, model_name, pointers.default)
    vkeys = keys.version(namespace)
    with client.pipeline(transaction=False) as pipe:
        meta, items = pipe.get(vkeys.meta()).get(vkeys.items()).execute()
    if meta is None or items is None:
        raise incomplete(namespace)
    return LiveVersion(vkeys, Manifest.from_bytes(meta), pa.ipc.open_stream(items).read_all())
