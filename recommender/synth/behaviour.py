"""Synthetic users, their sessions and the events of each session, all vectorized.

A user has a Dirichlet taste over categories, one preferred style per category, two favourite
items per category, a browsing rate (log-normal: a long tail of heavy users) and, for the
breakfast regulars, a morning habit. Sessions are either *browse* sessions (category from the
taste, local time from the category's habit windows) or the regulars' *breakfast runs* (most
weekday mornings at their own time). A session views a few items (a favourite, the preferred
style by popularity, or the whole category by popularity) and each view may lead down the funnel
view → click / favorite / share and, for products, cart → purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.synth.catalog import CATEGORIES, SECONDS_PER_DAY, Items

EVENT_TYPES: tuple[str, ...] = ("view", "click", "favorite", "cart", "share", "purchase")

TASTE_CONCENTRATION = 1.0
"""Dirichlet concentration of category tastes: small = a few preferred categories per user."""
STYLE_LOYALTY = 0.85
"""Share of non-favourite views that come from the user's preferred style."""
FAVOURITES = 2
BROWSE_SESSIONS_PER_DAY = 0.2
"""Median browse sessions a user starts per day (log-normal across users, sigma below)."""
BROWSE_SIGMA = 0.9
REGULAR_SHARE = 0.25
"""Share of users who are breakfast regulars."""
WEEKEND_FACTOR = 0.5
"""Regulars' breakfast runs on Saturdays and Sundays, relative to weekdays."""
BREAKFAST_WINDOW = (6.5 * 60, 9.5 * 60 - 5)
"""Minutes of the day where regulars' breakfast runs start (06:30-09:25)."""

_BREAKFAST = next(i for i, c in enumerate(CATEGORIES) if c.name == "breakfast")
_IS_PRODUCT = np.array([c.kind == "product" for c in CATEGORIES])


class GroupedSampler:
    """Draws elements of a group with probability proportional to their weights, vectorized.

    Elements are sorted by group and keyed by ``group + cumulative share inside the group``, so
    one ``searchsorted`` draws for any number of (group, uniform) pairs. Groups must be non-empty
    and weights positive.
    """

    def __init__(self, groups: np.ndarray, weights: np.ndarray) -> None:
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]
        cumulative = np.cumsum(weights[order])
        n_groups = int(sorted_groups[-1]) + 1
        self.first = np.searchsorted(sorted_groups, np.arange(n_groups), side="left")
        self.last = np.searchsorted(sorted_groups, np.arange(n_groups), side="right") - 1
        before = (cumulative - weights[order])[self.first][sorted_groups]
        total = cumulative[self.last][sorted_groups] - before
        self.keys = sorted_groups + (cumulative - before) / total
        self.members = order

    def draw(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One element (an index into the original arrays) for each entry of ``groups``."""
        position = np.searchsorted(self.keys, groups + rng.random(len(groups)), side="right")
        return self.members[np.clip(position, self.first[groups], self.last[groups])]


@dataclass(frozen=True)
class Users:
    """Latent tastes and habits, one row per user."""

    taste: np.ndarray
    """(users, categories) category preference, rows sum to 1."""
    style: np.ndarray
    """(users, categories) preferred global style index."""
    favourites: np.ndarray
    """(users, categories, FAVOURITES) favourite item indices."""
    browse_rate: np.ndarray
    regular: np.ndarray
    habit_minute: np.ndarray
    """Regulars' usual breakfast time, minutes after midnight (local)."""
    morning_rate: np.ndarray
    """Regulars' probability of a weekday breakfast run."""


@dataclass(frozen=True)
class Sessions:
    """One row per session; ``start`` in seconds from the local midnight of the first day."""

    user: np.ndarray
    category: np.ndarray
    start: np.ndarray
    views: np.ndarray
    intent: np.ndarray
    """Whether the session is out to buy (its first product view goes to the cart)."""
    favourite_share: np.ndarray
    extra_cart: np.ndarray
    """Probability that a further viewed product goes to the cart in a buying session."""


def make_users(n_users: int, items: Items, rng: np.random.Generator) -> Users:
    """Draw ``n_users`` users with tastes over the catalog ``items``."""
    n_categories = len(CATEGORIES)
    appeal = np.array([c.appeal for c in CATEGORIES])
    taste = rng.dirichlet(appeal / appeal.sum() * TASTE_CONCENTRATION * n_categories, n_users)

    items_per_category = np.bincount(items.category, minlength=n_categories)
    styles_per_category = np.bincount(items.style_category, minlength=n_categories)
    usable = np.minimum(styles_per_category, items_per_category)
    first_style = np.cumsum(styles_per_category) - styles_per_category
    style = first_style + (rng.random((n_users, n_categories)) * usable).astype(np.int64)

    established = np.where(items.is_new, 1e-6, 1.0) * items.popularity
    favourite_sampler = GroupedSampler(items.style, established)
    favourites = favourite_sampler.draw(np.repeat(style.ravel(), FAVOURITES), rng)

    regular = rng.random(n_users) < REGULAR_SHARE
    return Users(
        taste=taste,
        style=style,
        favourites=favourites.reshape(n_users, n_categories, FAVOURITES),
        browse_rate=BROWSE_SESSIONS_PER_DAY * rng.lognormal(0.0, BROWSE_SIGMA, n_users),
        regular=regular,
        habit_minute=rng.uniform(6.75 * 60, 8.75 * 60, n_users),
        morning_rate=rng.uniform(0.65, 0.95, n_users),
    )


def _browse_sessions(users: Users, days: int, rng: np.random.Generator) -> Sessions:
    n_users, n_categories = users.taste.shape
    user = np.repeat(np.arange(n_users), rng.poisson(users.browse_rate * days))
    taste_sampler = GroupedSampler(np.repeat(np.arange(n_users), n_categories), users.taste.ravel())
    category = taste_sampler.draw(user, rng) % n_categories

    windows = np.array([w for c in CATEGORIES for w in c.hours])
    window_category = np.repeat(np.arange(n_categories), [len(c.hours) for c in CATEGORIES])
    window = GroupedSampler(window_category, windows[:, 3]).draw(category, rng)
    hour = rng.triangular(windows[window, 0], windows[window, 1], windows[window, 2])
    day = rng.integers(0, days, len(user))
    product = _IS_PRODUCT[category]
    return Sessions(
        user=user,
        category=category,
        start=day * SECONDS_PER_DAY + (hour * 3600).astype(np.int64),
        views=1 + rng.poisson(np.where(product, 4.0, 1.0)),
        intent=product & (rng.random(len(user)) < 0.4),
        favourite_share=np.full(len(user), 0.3),
        extra_cart=np.full(len(user), 0.1),
    )


def _breakfast_runs(users: Users, days: int, weekday0: int, rng: np.random.Generator) -> Sessions:
    regulars = np.flatnonzero(users.regular)
    weekday = (weekday0 + np.arange(days)) % 7
    day_factor = np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
    chance = users.morning_rate[regulars, None] * day_factor[None, :]
    row, day = np.nonzero(rng.random((len(regulars), days)) < chance)
    user = regulars[row]
    minute = np.clip(users.habit_minute[user] + rng.normal(0.0, 12.0, len(user)), *BREAKFAST_WINDOW)
    return Sessions(
        user=user,
        category=np.full(len(user), _BREAKFAST),
        start=day * SECONDS_PER_DAY + (minute * 60).astype(np.int64),
        views=1 + rng.poisson(2.5, len(user)),
        intent=rng.random(len(user)) < 0.95,
        favourite_share=np.full(len(user), 0.7),
        extra_cart=np.full(len(user), 0.2),
    )


def make_sessions(users: Users, days: int, weekday0: int, rng: np.random.Generator) -> Sessions:
    """Browse sessions and breakfast runs over ``days`` days; ``weekday0`` = weekday of day 0."""
    parts = (_browse_sessions(users, days, rng), _breakfast_runs(users, days, weekday0, rng))
    return Sessions(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Sessions.__dataclass_fields__)
    )


@dataclass(frozen=True)
class RawEvents:
    """Events as parallel arrays, sorted by time; ``seconds`` from the first local midnight."""

    user: np.ndarray
    item: np.ndarray
    event: np.ndarray
    """Index into ``EVENT_TYPES``."""
    seconds: np.ndarray


def _choose_items(
    users: Users,
    items: Items,
    user: np.ndarray,
    category: np.ndarray,
    favourite_share: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One item a view: a favourite, else the preferred style or the category, by popularity."""
    pick = rng.random(len(user))
    styled_below = favourite_share + (1 - favourite_share) * STYLE_LOYALTY
    item = np.empty(len(user), dtype=np.int64)
    rows = np.flatnonzero(pick < favourite_share)
    item[rows] = users.favourites[
        user[rows], category[rows], rng.integers(0, FAVOURITES, len(rows))
    ]
    rows = np.flatnonzero((pick >= favourite_share) & (pick < styled_below))
    styles = users.style[user[rows], category[rows]]
    item[rows] = GroupedSampler(items.style, items.popularity).draw(styles, rng)
    rows = np.flatnonzero(pick >= styled_below)
    item[rows] = GroupedSampler(items.category, items.popularity).draw(category[rows], rng)
    return item


def make_events(
    users: Users,
    items: Items,
    sessions: Sessions,
    created: np.ndarray,
    rng: np.random.Generator,
) -> RawEvents:
    """Views of each session and the funnel events they lead to, sorted by time.

    ``created`` is each item's creation time on the sessions' clock: views of an item before it
    existed are dropped, so new items only have the little history since their launch.
    """
    session = np.repeat(np.arange(len(sessions.user)), sessions.views)
    n = len(session)
    session_first = np.cumsum(sessions.views) - sessions.views
    first_view = np.arange(n) == session_first[session]
    user, category = sessions.user[session], sessions.category[session]
    item = _choose_items(users, items, user, category, sessions.favourite_share[session], rng)

    gaps = rng.exponential(45.0, n).astype(np.int64) + 5
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[session_first] - gaps[session_first], sessions.views)
    seconds = sessions.start[session] + elapsed

    product = _IS_PRODUCT[category]
    intent = sessions.intent[session]
    carted = product & np.where(
        intent,
        first_view | (rng.random(n) < sessions.extra_cart[session]),
        rng.random(n) < 0.03,
    )
    funnel = {  # event: (which views lead to it, delay after the view in seconds: low, high)
        "view": (np.ones(n, dtype=bool), 0, 1),
        "click": (rng.random(n) < np.where(product, 0.3, 0.5), 2, 20),
        "favorite": (rng.random(n) < np.where(product, 0.03, 0.06), 20, 90),
        "cart": (carted, 10, 60),
        "share": (rng.random(n) < np.where(product, 0.015, 0.05), 30, 150),
        "purchase": (carted & (rng.random(n) < np.where(intent, 0.9, 0.2)), 90, 400),
    }
    exists = seconds >= created[item]
    # One int64 key per event, (time, view, event type), sorts far faster than a lexsort.
    keys = []
    for code, name in enumerate(EVENT_TYPES):
        mask, low, high = funnel[name]
        rows = np.flatnonzero(mask & exists)
        when = seconds[rows] + rng.integers(low, high, len(rows))
        keys.append((when * n + rows) * len(EVENT_TYPES) + code)
    key = np.sort(np.concatenate(keys))
    code = (key % len(EVENT_TYPES)).astype(np.int8)
    rows = (key // len(EVENT_TYPES)) % n
    return RawEvents(
        user=user[rows], item=item[rows], event=code, seconds=key // (n * len(EVENT_TYPES))
    )
