"""The operating report of an event log: activity, retention, funnel, hourly conversion, slots.

Every figure is computed in the configured time zone (``RulesConfig.timezone``): a day is a local
calendar day and an hour a local hour, so an event at 23:30 UTC counts at 07:30 the next day in
Asia/Shanghai.

- **Daily active users** (DAU): distinct users with at least one event that day.
- **Retention**: a user's cohort is the first day they are seen (over the whole log, so ``since``
  does not make old users look new). ``dN`` of a cohort is the share of its users active on
  ``cohort + N`` days; it is ``NaN`` when that day is after the last day of the log. The overall
  ``dN`` pools the cohorts where it is observable: retained users / cohort users.
- **Funnel** (``view -> cart -> purchase``): per stage, distinct users with such an event and the
  number of events; ``step_conversion`` = users at this stage / users at the previous stage
  (users who purchased without a logged cart still count, so it can exceed 1).
- **Conversion by hour**: per local hour 0-23, ``purchases / views`` (``NaN`` without views).
- **Top items per slot**: events whose local time falls in a slot's ``[start, end)`` window,
  items ranked by purchases, then by events; with a catalog, each item's category and whether it
  is one of the slot's own items (``recommender.rules.slot_item_mask``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from recommender.config import RulesConfig, SlotConfig
from recommender.errors import ConfigError
from recommender.rules import slot_item_mask

FUNNEL = ("view", "cart", "purchase")
RETENTION_DAYS = (1, 7)
TOP_ITEMS = 10


@dataclass(frozen=True)
class OpsReport:
    """The operating numbers; every table has a fresh ``RangeIndex``.

    Attributes
    ----------
    summary : dict
        ``timezone``, ``since``, ``first_day``, ``last_day``, ``events``, ``users``, ``items``.
    daily : DataFrame
        ``date``, ``active_users``, ``events``, ``new_users``.
    retention : DataFrame
        ``cohort``, ``users``, ``d1``, ``d7`` (share, ``NaN`` if not yet observable).
    retention_overall : dict
        ``d1``, ``d7`` pooled over observable cohorts (``None`` if none is).
    funnel : DataFrame
        ``stage``, ``users``, ``events``, ``step_conversion`` (``NaN`` for the first stage).
    hourly : DataFrame
        ``hour`` 0-23, ``views``, ``purchases``, ``conversion``.
    top_items : DataFrame
        ``slot``, ``rank``, ``item_id``, ``purchases``, ``events`` (+ ``category``, ``title``,
        ``in_slot`` with a catalog).
    """

    summary: dict[str, Any]
    daily: pd.DataFrame
    retention: pd.DataFrame
    retention_overall: dict[str, float | None]
    funnel: pd.DataFrame
    hourly: pd.DataFrame
    top_items: pd.DataFrame

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: dates as ``YYYY-MM-DD``, ``NaN`` as ``None``."""
        return {
            "summary": self.summary,
            "daily": _records(self.daily),
            "retention": {"overall": self.retention_overall, "cohorts": _records(self.retention)},
            "funnel": _records(self.funnel),
            "hourly": _records(self.hourly),
            "top_items": _records(self.top_items),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            out[column] = frame[column].dt.strftime("%Y-%m-%d").where(frame[column].notna(), None)
    return [{key: _plain(value) for key, value in row.items()} for row in out.to_dict("records")]


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (for ``json``)."""
    return value.item() if isinstance(value, np.generic) else value


def local_times(events: pd.DataFrame, timezone: str) -> pd.Series:
    """Event timestamps as naive local wall-clock times in ``timezone``."""
    return events["timestamp"].dt.tz_convert(timezone).dt.tz_localize(None)


def daily_activity(days: pd.Series, users: pd.Series, first_day: pd.Series) -> pd.DataFrame:
    """DAU, events and new users per local day (``first_day``: each row's user's first day)."""
    frame = pd.DataFrame({"date": days, "user_id": users, "new": first_day == days})
    grouped = frame.groupby("date", sort=True)
    new_users = frame.loc[frame["new"]].groupby("date")["user_id"].nunique()
    out = pd.DataFrame({
        "active_users": grouped["user_id"].nunique(),
        "events": grouped.size(),
    })
    out["new_users"] = new_users.reindex(out.index, fill_value=0)
    return out.rename_axis("date").reset_index().astype({"new_users": "int64"})


def retention(
    days: pd.Series, users: pd.Series, offsets: tuple[int, ...] = RETENTION_DAYS,
    since: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """Per cohort day and pooled ``dN`` retention (module docstring) of non-empty activity;
    cohorts before ``since`` are left out."""
    codes, _ = pd.factorize(users)
    origin = days.min()
    day_number = ((days - origin) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    last = int(day_number.max())
    first = pd.Series(day_number).groupby(codes).min().to_numpy()  # per user code 0..n-1
    span = last + max(offsets, default=0) + 1
    active = np.unique(codes.astype(np.int64) * span + day_number)
    cohorts = pd.DataFrame({"cohort": first})
    for n in offsets:
        back = np.isin(np.arange(len(first)) * span + first + n, active)
        cohorts[f"d{n}"] = np.where(first + n <= last, back, np.nan)
    table = cohorts.groupby("cohort").agg(users=("cohort", "size"),
                                          **{f"d{n}": (f"d{n}", "mean") for n in offsets})
    table.index = origin + pd.to_timedelta(table.index, unit="D")
    table = table.rename_axis("cohort").reset_index()
    if since is not None:
        table = table.loc[table["cohort"] >= since].reset_index(drop=True)
    overall: dict[str, float | None] = {}
    for n in offsets:
        observable = table[f"d{n}"].notna()
        pooled = float((table.loc[observable, f"d{n}"] * table.loc[observable, "users"]).sum())
        size = int(table.loc[observable, "users"].sum())
        overall[f"d{n}"] = pooled / size if size else None
    return table, overall


def funnel(events: pd.DataFrame, stages: tuple[str, ...] = FUNNEL) -> pd.DataFrame:
    """Users and events at each stage and the user step conversion (module docstring)."""
    staged = events.loc[events["event"].isin(stages), ["user_id", "event"]]
    grouped = staged.groupby("event")
    out = pd.DataFrame({
        "users": grouped["user_id"].nunique().reindex(list(stages), fill_value=0),
        "events": grouped.size().reindex(list(stages), fill_value=0),
    }).astype("int64")
    previous = out["users"].shift(1)
    out["step_conversion"] = out["users"] / previous.where(previous > 0)
    return out.rename_axis("stage").reset_index()


def hourly_conversion(events: pd.DataFrame, hours: np.ndarray) -> pd.DataFrame:
    """Views, purchases and ``purchases / views`` per local hour 0-23."""
    kind = events["event"].to_numpy()
    out = pd.DataFrame({
        "hour": np.arange(24),
        "views": np.bincount(hours[kind == "view"], minlength=24),
        "purchases": np.bincount(hours[kind == "purchase"], minlength=24),
    })
    out["conversion"] = out["purchases"] / out["views"].where(out["views"] > 0)
    return out


def _in_slot(minutes: np.ndarray, slot: SlotConfig) -> np.ndarray:
    """Vectorized ``rules.in_window`` on minutes of the local day."""
    start = slot.start_time.hour * 60 + slot.start_time.minute
    end = slot.end_time.hour * 60 + slot.end_time.minute
    if start < end:
        return (minutes >= start) & (minutes < end)
    return (minutes >= start) | (minutes < end)


def top_items_per_slot(
    events: pd.DataFrame,
    minutes: np.ndarray,
    slots: list[SlotConfig],
    catalog: pd.DataFrame | None = None,
    n: int = TOP_ITEMS,
) -> pd.DataFrame:
    """The ``n`` items with most purchases (then events) in each slot's window."""
    purchase = (events["event"] == "purchase").to_numpy()
    tables = []
    for slot in slots:
        mask = _in_slot(minutes, slot)
        per_item = pd.DataFrame({"item_id": events["item_id"].to_numpy()[mask],
                                 "purchase": purchase[mask]})
        ranked = (per_item.groupby("item_id")
                  .agg(purchases=("purchase", "sum"), events=("purchase", "size"))
                  .reset_index()
                  .sort_values(["purchases", "events", "item_id"], ascending=[False, False, True])
                  .head(n))
        ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
        ranked.insert(0, "slot", slot.name)
        if catalog is not None:
            ranked = _describe(ranked, catalog, slot)
        tables.append(ranked)
    columns = ["slot", "rank", "item_id", "purchases", "events"]
    if catalog is not None:
        columns += ["category", "title", "in_slot"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns].astype(
        {"rank": "int64", "purchases": "int64", "events": "int64"}
    )


def _describe(ranked: pd.DataFrame, catalog: pd.DataFrame, slot: SlotConfig) -> pd.DataFrame:
    """``ranked`` with each item's category, title and whether it is one of ``slot``'s items."""
    items = catalog.drop_duplicates("item_id").reset_index(drop=True)
    info = pd.DataFrame({
        "item_id": items["item_id"].to_numpy(),
        "category": items["category"].to_numpy(),
        "title": items["title"].to_numpy() if "title" in items else None,
        "in_slot": slot_item_mask(items, slot),
    })
    return ranked.merge(info, on="item_id", how="left")


def build_ops_report(
    events: pd.DataFrame,
    rules: RulesConfig,
    catalog: pd.DataFrame | None = None,
    since: date | None = None,
    top_n: int = TOP_ITEMS,
) -> OpsReport:
    """The operating report of canonical ``events``, from local day ``since`` on (module
    docstring for every figure). ``rules`` gives the time zone and the slots."""
    local = local_times(events, rules.timezone)
    days = local.dt.normalize()
    users = events["user_id"]
    first_day = days.groupby(users.to_numpy()).transform("min")
    start = None if since is None else pd.Timestamp(since)
    keep = np.ones(len(events), dtype=bool) if start is None else (days >= start).to_numpy()
    if not keep.any():
        raise ConfigError(
            "no events to report" + ("" if since is None else f" on or after {since.isoformat()}")
            + "; check --events and --since"
        )
    kept, kept_local = events.loc[keep], local[keep]
    cohorts, overall = retention(days, users, RETENTION_DAYS, start)
    minutes = (kept_local.dt.hour * 60 + kept_local.dt.minute).to_numpy()
    return OpsReport(
        summary={
            "timezone": rules.timezone,
            "since": None if since is None else since.isoformat(),
            "first_day": days[keep].min().strftime("%Y-%m-%d"),
            "last_day": days[keep].max().strftime("%Y-%m-%d"),
            "events": int(keep.sum()),
            "users": int(kept["user_id"].nunique()),
            "items": int(kept["item_id"].nunique()),
        },
        daily=daily_activity(days[keep], users[keep], first_day[keep]),
        retention=cohorts,
        retention_overall=overall,
        funnel=funnel(kept),
        hourly=hourly_conversion(kept, kept_local.dt.hour.to_numpy()),
        top_items=top_items_per_slot(kept, minutes, list(rules.slots), catalog, top_n),
    )
