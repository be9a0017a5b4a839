"""Which version is live: resolving the live pointer, for serving and for jobs alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from storage.connect import SyncClient
from storage.errors import NoLiveModel
from storage.keys import Keys, VersionKeys
from storage.manifest import Manifest


def choose(live: Mapping[str, str], model_name: str | None) -> str:
    """The namespace to serve: ``model_name``'s, or the only live model's."""
    if model_name is not None:
        if model_name not in live:
            others = f" (live: {', '.join(sorted(live))})" if live else ""
            raise NoLiveModel(f"model {model_name!r} has no published version{others}; "
                              f"run `recsys publish {model_name}@champion`")
        return live[model_name]
    if len(live) == 1:
        return next(iter(live.values()))
    if not live:
        raise NoLiveModel("no model is published yet; run `recsys publish NAME@ALIAS`")
    raise NoLiveModel(f"several models are live ({', '.join(sorted(live))}); name the one "
                      "to use (RECSYS_MODEL_NAME for the API, --model for the commands)")


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
    """The live version of ``model_name`` (or of the only live model), read now."""
    live = {k.decode(): v.decode() for k, v in client.hgetall(keys.live()).items()}
    namespace = choose(live, model_name)
    vkeys = keys.version(namespace)
    with client.pipeline(transaction=False) as pipe:
        meta, items = pipe.get(vkeys.meta()).get(vkeys.items()).execute()
    if meta is None or items is None:
        raise incomplete(namespace)
    return LiveVersion(vkeys, Manifest.from_bytes(meta), pa.ipc.open_stream(items).read_all())
