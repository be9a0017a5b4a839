"""The user x item confidence matrix that every model fits on.

Confidence of one (user, item) pair = the sum over its events of
``weight[event] * 2^(-age / half_life)``, with age measured back from a reference time (the newest
event by default). The matrix is a scipy CSR matrix of users x items (implicit's orientation),
float32.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from recommender.errors import ConfigError

_UNIT_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
SECONDS_PER_DAY = 86_400.0


def epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    """UTC timestamps -> float64 seconds since the epoch, without a Python loop."""
    values = timestamps.array
    if not hasattr(values, "asi8"):
        values = pd.to_datetime(timestamps, utc=True).array
    return values.asi8 / _UNIT_PER_SECOND[values.unit]


def _arrow_text(values: Iterable[str] | pd.Series | pd.Index | np.ndarray) -> pa.ChunkedArray:
    """Values as Arrow ``large_string`` chunks; no copy for pandas string columns."""
    array = pa.array(pd.Series(values, dtype="string[pyarrow]", copy=False).array)
    chunks = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    return chunks.cast(pa.large_string())


def _to_numpy(values: pa.ChunkedArray, fill: int) -> np.ndarray:
    return (pc.fill_null(values, fill) if values.null_count else values).to_numpy()


def _encode(values: Iterable[str] | pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes of ``values`` (``-1`` for nulls) and the distinct ids in order of first appearance."""
    encoded = pc.dictionary_encode(_arrow_text(values))
    if len({len(chunk.dictionary) for chunk in encoded.chunks}) > 1:
        encoded = encoded.unify_dictionaries()  # Arrow shares one dictionary; make sure of it
    dictionary = (encoded.chunks[-1].dictionary if encoded.num_chunks
                  else pa.array([], type=pa.large_string()))
    indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks], type=pa.int32())
    index = pd.Index(pd.arrays.ArrowStringArray(dictionary), dtype="string[pyarrow]")
    return _to_numpy(indices, -1), index


def _positions(values: pa.ChunkedArray, known: pa.ChunkedArray) -> np.ndarray:
    """Position of each value in ``known``; ``-1`` where it is not there (one hash pass)."""
    return _to_numpy(pc.index_in(values, value_set=known.combine_chunks()), -1)


@dataclass(frozen=True)
class IdMap:
    """A two-way map between external ids (strings) and dense indices ``0..n-1``."""

    index: pd.Index

    @classmethod
    def from_values(cls, values: Iterable[str] | pd.Series | np.ndarray) -> IdMap:
        """Ids in order of first appearance, duplicates and nulls dropped."""
        return cls(_encode(values)[1])

    @classmethod
    def from_ids(cls, ids: Iterable[str] | np.ndarray) -> IdMap:
        """Ids taken as they are, in order (they must be unique)."""
        values = ids if isinstance(ids, np.ndarray) else list(ids)
        index = pd.Index(values, dtype="string[pyarrow]")
        if not index.is_unique:
            raise ValueError("ids must be unique")
        return cls(index)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, value: object) -> bool:
        return value in self.index

    @property
    def ids(self) -> np.ndarray:
        return self.index.to_numpy(dtype=object)

    def to_index(self, values: Iterable[str] | pd.Series | np.ndarray) -> np.ndarray:
        """Indices of ``values``; ``-1`` where an id is unknown."""
        known = _arrow_text(self.index)
        return _positions(_arrow_text(values), known).astype(np.intp)

    def get(self, value: str) -> int | None:
        """Index of one id, or ``None``."""
        try:
            position = self.index.get_loc(value)
        except KeyError:
            return None
        return int(position) if isinstance(position, int | np.integer) else None

    def to_ids(self, indices: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class Interactions:
    """A confidence matrix together with the id maps of its rows and columns."""

    matrix: sparse.csr_matrix
    users: IdMap
    items: IdMap

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape  # type: ignore[return-value]

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)


def event_weights(events: pd.Series, weights: Mapping[str, float]) -> np.ndarray:
    """The weight of each event type, vectorized; unknown types raise ``ConfigError``."""
    names = list(weights)
    values = _arrow_text(events)
    positions = pc.index_in(values, value_set=pa.array(names, type=pa.large_string()))
    if positions.null_count:
        missing = [str(u) for u in pc.unique(values.filter(pc.is_null(positions))).to_pylist()]
        raise ConfigError(
            f"events of type {missing} have no weight; add them with --weights "
            f"{missing[0]}=1 or in recsys.toml [events] weights"
        )
    table = np.array([float(weights[name]) for name in names], dtype=np.float64)
    return table[positions.to_numpy()]


def decay(seconds: np.ndarray, half_life_days: float, reference: float | None = None) -> np.ndarray:
    """``2^(-age / half_life)``; future ages count as zero; ``half_life_days=0``: no decay."""
    if half_life_days <= 0 or len(seconds) == 0:
        return np.ones(len(seconds), dtype=np.float64)
    ref = float(seconds.max()) if reference is None else reference
    exponent = np.subtract(ref, seconds, dtype=np.float64)  # one buffer, updated in place
    np.maximum(exponent, 0.0, out=exponent)
    np.multiply(exponent, -1.0 / (SECONDS_PER_DAY * half_life_days), out=exponent)
    return np.exp2(exponent, out=exponent)


@dataclass(frozen=True)
class EncodedEvents:
    """Events encoded once as integer codes: what splits, fingerprints and matrices are built from.

    A job that splits, fingerprints and builds several matrices from the same events encodes the
    text columns once here instead of once per step.

    Attributes
    ----------
    users, items, kinds : ndarray of int
        Per row, the code of its user, item and event type in ``user_ids``, ``item_ids`` and
        ``kind_names`` (all in order of first appearance).
    user_ids, item_ids : IdMap
        The distinct users and items.
    kind_names : list of str
        The distinct event types.
    seconds : ndarray of float64
        Per row, its timestamp in seconds since the epoch.
    """

    users: np.ndarray
    items: np.ndarray
    kinds: np.ndarray
    user_ids: IdMap
    item_ids: IdMap
    kind_names: list[str]
    seconds: np.ndarray

    @classmethod
    def from_frame(cls, events: pd.DataFrame) -> EncodedEvents:
        """Encode canonical events (``user_id``, ``item_id``, ``event``, ``timestamp``)."""
        users, user_ids = _encode(events["user_id"])
        items, item_ids = _encode(events["item_id"])
        kinds, kind_names = _encode(events["event"])
        return cls(
            users=users, items=items, kinds=kinds, user_ids=IdMap(user_ids),
            item_ids=IdMap(item_ids), kind_names=[str(name) for name in kind_names],
            seconds=epoch_seconds(events["timestamp"]),
        )

    def __len__(self) -> int:
        return len(self.users)

    def weights(self, weights: Mapping[str, float]) -> np.ndarray:
        """The weight of each row's event type; types without a weight raise ``ConfigError``."""
        if len(self.kinds) and self.kinds.min() < 0:
            raise ConfigError("events without an event type have no weight")
        names = pd.Series(self.kind_names, dtype="string[pyarrow]")
        return event_weights(names, weights)[self.kinds]

    def interactions(
        self,
        weights: Mapping[str, float],
        half_life_days: float = 0.0,
        reference: float | None = None,
        rows: np.ndarray | None = None,
    ) -> Interactions:
        """The confidence matrix of the events, or of the ``rows`` (a boolean mask) only.

        Its id maps hold the users and items of those rows, in order of first appearance, as
        ``build_interactions`` of the same rows would. ``reference`` (epoch seconds) is where
        the decay's ages are measured from; by default the newest of those rows.
        """
        values = self.weights(weights)
        if rows is None:  # every row: the codes already number the ids by first appearance
            if half_life_days > 0:
                values *= decay(self.seconds, half_life_days, reference)
            return _aggregate(self.users, self.items, values, self.user_ids, self.item_ids)
        values = values[rows]
        if half_life_days > 0:
            values *= decay(self.seconds[rows], half_life_days, reference)
        user_codes, user_ids = self._subset(self.users[rows], self.user_ids)
        item_codes, item_ids = self._subset(self.items[rows], self.item_ids)
        return _aggregate(user_codes, item_codes, values, user_ids, item_ids)

    @staticmethod
    def _subset(codes: np.ndarray, ids: IdMap) -> tuple[np.ndarray, IdMap]:
        """``codes`` renumbered to the ids they use, in order of first appearance (``-1`` kept)."""
        valid = codes >= 0
        if valid.all():
            renumbered, used = pd.factorize(codes)
        else:
            renumbered = np.full(len(codes), -1, dtype=np.intp)
            renumbered[valid], used = pd.factorize(codes[valid])
        if len(used) == len(ids) and np.array_equal(used, np.arange(len(ids))):
            return renumbered, ids  # every id, in the same order: the same map
        return renumbered, IdMap(ids.index[used])


def _aggregate(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, users: IdMap, items: IdMap
) -> Interactions:
    """Sum the ``values`` of each (row, col) into a float32 CSR matrix; rows with an unknown
    id (``-1``) or a weight of 0 contribute nothing."""
    keep = (rows >= 0) & (cols >= 0) & (values > 0)
    if not keep.all():
        rows, cols, values = rows[keep], cols[keep], values[keep]
    matrix = sparse.csr_matrix(
        (values.astype(np.float32), (rows, cols)), shape=(len(users), len(items)), dtype=np.float32
    )
    matrix.sum_duplicates()
    return Interactions(matrix, users, items)


def build_interactions(
    events: pd.DataFrame,
    weights: Mapping[str, float],
    half_life_days: float = 0.0,
    reference_time: pd.Timestamp | None = None,
    users: IdMap | None = None,
    items: IdMap | None = None,
) -> Interactions:
    """Aggregate events into a user x item CSR confidence matrix.

    ``users`` and ``items`` fix the id maps (e.g. the training maps when building a test matrix);
    events whose ids are not in a fixed map are dropped, which callers use on purpose. Without
    them the maps are built from ``events``. Events whose weight is 0 contribute nothing.
    """
    reference = None if reference_time is None else reference_time.timestamp()
    if users is None and items is None:
        return EncodedEvents.from_frame(events).interactions(weights, half_life_days, reference)
    rows, users = _indices(events["user_id"], users)
    cols, items = _indices(events["item_id"], items)
    values = event_weights(events["event"], weights)
    if half_life_days > 0:
        values *= decay(epoch_seconds(events["timestamp"]), half_life_days, reference)
    return _aggregate(rows, cols, values, users, items)


def _indices(values: pd.Series, fixed: IdMap | None) -> tuple[np.ndarray, IdMap]:
    """Row or column indices of ``values``: in the ``fixed`` map, or in a map built from them."""
    if fixed is not None:
        return fixed.to_index(values), fixed
    codes, index = _encode(values)
    return codes, IdMap(index)
