"""Data contracts: load and validate events and catalogs from CSV, Parquet or JSON Lines.

Loaders are strict by default: any bad row rejects the file with a ``DataError`` that names the
file, the row, the column, the reason and the value. ``skip_invalid=True`` drops bad rows and
counts them by reason in ``LoadResult.skipped``.
"""

from recommender.data.catalog import CATALOG_COLUMNS, KINDS, load_catalog
from recommender.data.events import EVENT_COLUMNS, load_events
from recommender.data.validation import LoadResult

__all__ = ["CATALOG_COLUMNS", "EVENT_COLUMNS", "KINDS", "LoadResult", "load_catalog",
           "load_events"]
