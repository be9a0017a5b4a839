"""Simulated A/B traffic against a running ``recsys serve``, then the experiment's report.

Users ask for recommendations over real HTTP, taken in turn from ``--users`` synthetic ids
(``sim-0``, ``sim-1``, ...: unknown to the model, they get the popular list) or from the real
ids of ``--users-from``; a user clicks the first item shown with the probability of their variant
(``--p-control`` for the variant named by ``--control``, ``--p-treatment`` for every other) and,
after a click, buys it with ``--p-purchase`` (the same for all variants). Clicks and purchases
go to ``POST /v1/events`` with the response's ``rec_id``, in batches. The loop stops by itself
after ``--minutes``; the script then waits for the workers to write their counts and prints the
report of ``GET /v1/admin/experiments/{name}/report`` next to what it actually sent.

With ``--n 1`` (the default) one response is one impression, so the report's CTR estimates the
click probability; with ``--n 10`` it is a tenth of it (impressions count every item shown).
Serving counts one click per user and item in 24 h: when users come back (fewer users than
requests) later clicks on the same item are not counted, and the report's CTR falls below the
click probability. The "sent" figures printed next to the report count clicks the same way.

A 10-minute run with two published versions::

    export RECSYS_API_KEYS=k1 RECSYS_ADMIN_KEYS=admin1
    recsys publish products@champion          # the live version (control)
    recsys ab start sim --variant control=products@champion:50 \\
        --variant treatment=products@challenger:50 --kind product
    recsys serve --port 8000 &
    .venv/bin/python benchmarks/ab_simulation.py --url http://127.0.0.1:8000 --api-key k1 \\
        --admin-key admin1 --experiment sim --minutes 10 --p-control 0.10 --p-treatment 0.12
    recsys ab report sim --metric ctr         # the same report from the command line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

EVENT_BATCH = 500


@dataclass
class Sent:
    """What the simulation did, per variant: the ground truth to hold the report against."""

    requests: Counter[str] = field(default_factory=Counter)
    impressions: Counter[str] = field(default_factory=Counter)
    clicks: Counter[str] = field(default_factory=Counter)
    purchases: Counter[str] = field(default_factory=Counter)
    clicked: set[tuple[str, str, str]] = field(default_factory=set)
    bought: set[tuple[str, str, str]] = field(default_factory=set)
    turn: int = 0
    outside: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)


class Synthetic:
    """``sim-0``, ``sim-1``, ... without building the list."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        return f"sim-{index}"


def load_users(args: argparse.Namespace) -> Sequence[str]:
    if args.users_from is None:
        return Synthetic(args.users)
    import pandas as pd

    path = Path(args.users_from)
    reader = {".parquet": pd.read_parquet, ".csv": pd.read_csv}.get(path.suffix, pd.read_json)
    options = {"lines": True} if reader is pd.read_json else {}
    ids = reader(path, **options)["user_id"].astype(str).drop_duplicates()
    return ids.head(args.users).tolist()


async def post_events(client: httpx.AsyncClient, sent: Sent, final: bool = False) -> None:
    while len(sent.events) >= EVENT_BATCH or (final and sent.events):
        batch, sent.events = sent.events[:EVENT_BATCH], sent.events[EVENT_BATCH:]
        response = await client.post("/v1/events", json=batch)
        if response.status_code != 202:
            sent.errors[response.status_code] += 1


async def worker(client: httpx.AsyncClient, args: argparse.Namespace, users: Sequence[str],
                 sent: Sent, deadline: float, rng: random.Random) -> None:
    """Request, maybe click and buy, until the deadline."""
    while time.monotonic() < deadline:
        user = users[sent.turn % len(users)]
        sent.turn += 1
        response = await client.get(f"/v1/users/{user}/recommendations",
                                    params={"n": args.n, "kind": args.kind})
        if response.status_code != 200:
            sent.errors[response.status_code] += 1
            continue
        body = response.json()
        variant = body["variant"]
        if body["experiment"] != args.experiment or not body["items"]:
            sent.outside += 1
            continue
        sent.requests[variant] += 1
        sent.impressions[variant] += len(body["items"])
        p_click = args.p_control if variant == args.control else args.p_treatment
        if rng.random() >= p_click:
            continue
        item, now = body["items"][0]["item_id"], time.time()
        event = {"user_id": user, "item_id": item, "rec_id": body["rec_id"], "timestamp": now}
        first = (variant, user, item) not in sent.clicked  # what serving counts
        sent.clicked.add((variant, user, item))
        sent.clicks[variant] += first
        sent.events.append({**event, "event": "click"})
        if rng.random() < args.p_purchase:
            sent.purchases[variant] += (variant, user, item) not in sent.bought
            sent.bought.add((variant, user, item))
            sent.events.append({**event, "event": "purchase"})
        await post_events(client, sent)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    users = load_users(args)
    rng = random.Random(args.seed)
    sent = Sent()
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, headers={"X-API-Key": args.api_key},
                                 limits=limits, timeout=10) as client:
        started = time.monotonic()
        deadline = started + args.minutes * 60
        await asyncio.gather(*(worker(client, args, users, sent, deadline,
                                      random.Random(rng.random()))
                               for _ in range(args.concurrency)))
        seconds = time.monotonic() - started
        await post_events(client, sent, final=True)
        await asyncio.sleep(2.5)  # every worker writes its impressions within a second
        report = await client.get(f"/v1/admin/experiments/{args.experiment}/report",
                                  params={"metric": args.metric},
                                  headers={"X-API-Key": args.admin_key or args.api_key})
    report.raise_for_status()
    total = sum(sent.requests.values())
    return {
        "seconds": round(seconds, 1),
        "requests_per_second": round(total / seconds, 1),
        "sent": {"requests": dict(sent.requests), "impressions": dict(sent.impressions),
                 "clicks": dict(sent.clicks), "purchases": dict(sent.purchases),
                 "outside_experiment": sent.outside, "errors": dict(sent.errors)},
        "truth": {"p_control": args.p_control, "p_treatment": args.p_treatment,
                  "p_purchase": args.p_purchase},
        "report": report.json(),
    }


def _rate(rate: dict[str, float | None]) -> str:
    if rate["value"] is None:
        return "-"
    return f"{rate['value']:.4f} [{rate['low']:.4f}, {rate['high']:.4f}]"


def summary(result: dict[str, Any]) -> str:
    report, sent = result["report"], result["sent"]
    lines = [f"{result['seconds']} s, {result['requests_per_second']} requests/s; "
             f"true click probabilities: {result['truth']}"]
    for variant in report["variants"]:
        name, counts = variant["name"], variant["counts"]
        lines.append(
            f"{name:>10}: users {counts['users']:,}, impressions {counts['impressions']:,} "
            f"(sent {sent['impressions'].get(name, 0):,}), clicks {counts['clicks']:,} "
            f"(sent {sent['clicks'].get(name, 0):,}), purchases {counts['purchases']:,} "
            f"(sent {sent['purchases'].get(name, 0):,}); "
            f"CTR {_rate(variant['ctr'])}, conversion {_rate(variant['conversion'])}")
        for metric, versus in variant["vs_control"].items():
            if versus["low"] is not None:
                lines.append(f"{'':>12}{metric} vs control: uplift {versus['uplift']:+.3f} "
                             f"[{versus['low']:+.3f}, {versus['high']:+.3f}], p = "
                             f"{versus['p_value']:.3g}")
    lines.append(f"verdict ({report['metric']}): {report['verdict']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--admin-key", help="A key of RECSYS_ADMIN_KEYS (default: --api-key).")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--control", default="control", help="The control variant's name.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--p-control", type=float, default=0.10)
    parser.add_argument("--p-treatment", type=float, default=0.12)
    parser.add_argument("--p-purchase", type=float, default=0.2,
                        help="Probability of a purchase after a click (every variant).")
    parser.add_argument("--users", type=int, default=10_000_000,
                        help="How many distinct users (taken in turn).")
    parser.add_argument("--users-from", help="Events or users file (csv, parquet, jsonl) whose "
                        "user_id column gives the users (default: sim-0, sim-1, ...).")
    parser.add_argument("--kind", default="product")
    parser.add_argument("--n", type=int, default=1, help="Items per response.")
    parser.add_argument("--metric", default="ctr", choices=["ctr", "conversion"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", dest="as_json", action="store_true",
                        help="Print the whole result as JSON.")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.as_json else summary(result))


if __name__ == "__main__":
    main()
