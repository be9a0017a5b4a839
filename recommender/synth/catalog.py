"""The synthetic catalog: categories, their styles and time-of-day habits, and the item table.

Each category is split into a few *styles* (中式 / 西式 / 粤式 breakfast, 奶茶 / 咖啡 / 果茶
drinks, ...). Users prefer one style per category, which is the collaborative signal a model can
learn; inside a style, items have a Zipf-like popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

SECONDS_PER_DAY = 86_400
NEW_ITEM_DAYS = 14
"""Items created in the last ``NEW_ITEM_DAYS`` of the window are the "new items"."""

NEW_ITEM_SHARE = 0.05
UNAVAILABLE_SHARE = 0.03
ZIPF_EXPONENT = 0.9

_PRODUCT_ATTRIBUTES = ("热销", "招牌", "低卡", "香辣", "清淡", "甜口", "套餐", "限时")
_CONTENT_ATTRIBUTES = ("干货", "图文", "视频", "福利", "本周", "线下")


@dataclass(frozen=True)
class Style:
    """A group of similar items inside a category; ``tag`` goes into the items' tags."""

    tag: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Category:
    """One catalog category.

    ``share`` is its fraction of the catalog, ``appeal`` its mean share of a user's attention and
    ``hours`` the local time-of-day windows of its sessions as ``(start, peak, end, weight)``
    in hours (a triangular distribution inside each window).
    """

    name: str
    kind: str
    share: float
    appeal: float
    styles: tuple[Style, ...]
    hours: tuple[tuple[float, float, float, float], ...]


# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category("breakfast", "product", 0.18, 0.20, (
        Style("中式", ("油条", "豆浆", "包子", "小笼包", "煎饼果子", "皮蛋瘦肉粥", "烧饼", "豆腐脑",
                      "茶叶蛋", "鲜肉馄饨", "葱油饼", "生煎包")),
        Style("西式", ("火腿三明治", "牛角包", "贝果", "燕麦酸奶杯", "热狗", "松饼", "鲜牛奶")),
        Style("粤式", ("虾饺", "肠粉", "叉烧包", "烧卖", "萝卜糕", "艇仔粥", "流沙包")),
    ), ((6.5, 7.75, 9.5, 0.92), (9.5, 9.75, 11.0, 0.05), (5.5, 6.25, 6.5, 0.03))),
    Category("lunch", "product", 0.18, 0.20, (
        Style("川湘", ("宫保鸡丁饭", "麻婆豆腐饭", "回锅肉饭", "鱼香肉丝饭", "小炒肉饭",
                      "水煮牛肉饭")),
        Style("面食", ("兰州牛肉面", "炸酱面", "酸辣粉", "担担面", "葱油拌面", "刀削面")),
        Style("轻食", ("鸡胸肉沙拉", "藜麦能量碗", "全麦鸡肉卷", "牛油果沙拉", "三文鱼波奇饭")),
        Style("快餐", ("黄焖鸡米饭", "卤肉饭", "咖喱鸡饭", "照烧鸡排饭", "番茄牛腩饭")),
    ), ((11.0, 12.0, 13.5, 0.85), (10.0, 10.5, 11.0, 0.10), (13.5, 14.0, 15.0, 0.05))),
    Category("dinner", "product", 0.18, 0.17, (
        Style("家常菜", ("红烧肉", "番茄炒蛋", "清炒时蔬", "糖醋排骨", "可乐鸡翅", "地三鲜")),
        Style("火锅", ("鸳鸯锅底", "肥牛卷", "毛肚", "虾滑", "手切羊肉", "牛油锅底")),
        Style("烧烤", ("羊肉串", "烤鸡翅", "烤茄子", "烤生蚝", "烤韭菜", "烤馒头片")),
        Style("海鲜", ("清蒸鲈鱼", "蒜蓉粉丝扇贝", "椒盐皮皮虾", "香辣蟹", "白灼虾")),
    ), ((17.0, 18.5, 20.0, 0.85), (16.0, 16.5, 17.0, 0.05), (20.0, 20.5, 21.5, 0.10))),
    Category("snacks", "product", 0.12, 0.10, (
        Style("甜品", ("葡式蛋挞", "双皮奶", "芒果班戟", "提拉米苏", "舒芙蕾", "麻薯")),
        Style("卤味", ("鸭脖", "卤鸡爪", "卤豆干", "鸭锁骨", "卤藕片")),
        Style("零食", ("每日坚果", "薯片", "牛肉干", "海苔", "芒果干")),
    ), ((14.0, 15.5, 17.0, 0.50), (21.0, 22.0, 23.0, 0.35), (10.0, 11.0, 12.0, 0.15))),
    Category("drinks", "product", 0.12, 0.13, (
        Style("奶茶", ("珍珠奶茶", "杨枝甘露", "芋泥波波", "黑糖鹿丸", "椰椰奶冻")),
        Style("咖啡", ("美式咖啡", "拿铁", "生椰拿铁", "澳白", "冷萃咖啡")),
        Style("果茶", ("柠檬茶", "葡萄冻冻", "满杯橙子", "多肉桃桃", "百香果双响炮")),
    ), ((13.0, 15.0, 17.0, 0.60), (10.0, 10.5, 12.0, 0.20), (19.0, 20.0, 21.5, 0.20))),
    Category("articles", "content", 0.14, 0.12, (
        Style("健康", ("早餐怎么吃更健康", "一周减脂食谱", "控糖饮食指南", "上班族营养搭配")),
        Style("美食", ("十分钟快手早餐", "家常红烧肉做法", "火锅蘸料大全", "自制奶茶教程")),
        Style("探店", ("本周新店探访", "城市早餐地图", "深夜食堂推荐", "人气榜单")),
    ), ((19.0, 21.5, 23.0, 0.70), (12.0, 12.5, 13.5, 0.20), (7.5, 8.0, 9.0, 0.10))),
    Category("activities", "content", 0.08, 0.08, (
        Style("优惠", ("满30减5", "新人专享礼包", "会员日折扣", "第二份半价")),
        Style("打卡", ("早餐打卡挑战", "集章换好礼", "连续签到有礼")),
        Style("社群", ("好友拼团", "社群专属福利", "邀请有礼")),
    ), ((19.0, 21.0, 23.0, 0.60), (12.0, 12.5, 13.5, 0.30), (8.0, 8.5, 9.0, 0.10))),
)
# fmt: on
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)


@dataclass(frozen=True)
class Items:
    """The catalog as numpy arrays (row i = item i) plus the catalog frame itself."""

    frame: pd.DataFrame
    category: np.ndarray
    """Category index (into ``CATEGORIES``) of each item."""
    style: np.ndarray
    """Global style index of each item (styles numbered across categories)."""
    popularity: np.ndarray
    """Zipf-like weight inside its category, > 0."""
    created: np.ndarray
    """Creation time, epoch seconds."""
    is_new: np.ndarray
    style_category: np.ndarray
    """Category index of each global style."""


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """``prefix`` + ``numbers`` zero-padded to at least ``width`` digits, as a ``str`` Series.

    The digits are written straight into one byte buffer (one pass per digit position), which is
    several times faster than formatting tens of millions of numbers one by one.
    """
    top = int(numbers.max()) if len(numbers) else 0
    if top >= 2**32 or (len(numbers) and int(numbers.min()) < 0):
        raise ValueError("id numbers must lie in [0, 2**32)")
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    size = len(head) + max(width, len(str(top)))
    buffer = np.empty((len(numbers), size), dtype=np.uint8)
    buffer[:, : len(head)] = head
    rest = numbers.astype(np.uint32)
    for position in range(size - 1, len(head) - 1, -1):
        rest, digit = np.divmod(rest, np.uint32(10))
        buffer[:, position] = digit + ord("0")
    offsets = np.arange(0, buffer.size + 1, size, dtype=np.int64)
    text = pa.Array.from_buffers(
        pa.large_string(), len(numbers), [None, pa.py_buffer(offsets), pa.py_buffer(buffer)]
    )
    return pd.Series(text, dtype="str")


def category_counts(n_items: int) -> np.ndarray:
    """Items per category: shares of ``n_items`` by largest remainder, at least one each."""
    if n_items < len(CATEGORIES):
        raise ValueError(
            f"items must be at least {len(CATEGORIES)} (one per category), got {n_items}"
        )
    extra = n_items - len(CATEGORIES)
    quota = np.array([c.share for c in CATEGORIES]) * extra
    counts = np.floor(quota).astype(np.int64)
    remainder_order = np.argsort(-(quota - counts), kind="stable")
    counts[remainder_order[: extra - counts.sum()]] += 1
    return counts + 1


def _style_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per global style: category, tag, first-name offset, name count; and all names."""
    styles = [(ci, s) for ci, c in enumerate(CATEGORIES) for s in c.styles]
    category = np.array([ci for ci, _ in styles], dtype=np.int64)
    tags = np.array([s.tag for _, s in styles], dtype=object)
    name_count = np.array([len(s.names) for _, s in styles], dtype=np.int64)
    name_offset = np.concatenate([[0], np.cumsum(name_count)[:-1]])
    names = np.array([n for _, s in styles for n in s.names], dtype=object)
    return category, tags, name_offset, name_count, names


def _rank_within(groups: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """0-based rank of each element by ``keys`` inside its group."""
    order = np.lexsort((keys, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    ranks = np.empty(len(groups), dtype=np.int64)
    ranks[order] = np.arange(len(groups)) - np.repeat(starts, sizes)
    return ranks


def make_items(n_items: int, start_seconds: int, days: int, rng: np.random.Generator) -> Items:
    """The catalog of ``n_items`` items for a window of ``days`` from ``start_seconds`` (UTC)."""
    style_category, style_tags, name_offset, name_count, names = _style_tables()
    counts = category_counts(n_items)
    category = np.repeat(np.arange(len(CATEGORIES)), counts)
    position = np.arange(n_items) - np.repeat(np.cumsum(counts) - counts, counts)
    n_styles = np.bincount(style_category)
    first_style = np.cumsum(n_styles) - n_styles
    style = first_style[category] + position % n_styles[category]
    rank_in_style = position // n_styles[category]
    copy = rank_in_style // name_count[style]
    base = names[name_offset[style] + rank_in_style % name_count[style]]
    title = pd.Series(base, dtype="str") + pd.Series(
        np.where(copy > 0, "·" + (copy + 1).astype(str).astype(object), ""), dtype="str"
    )

    popularity = (1.0 + _rank_within(category, rng.random(n_items))) ** -ZIPF_EXPONENT
    end = start_seconds + days * SECONDS_PER_DAY
    is_new = rng.random(n_items) < NEW_ITEM_SHARE
    if not is_new.any():
        is_new[rng.integers(n_items)] = True
    new_from = max(start_seconds, end - NEW_ITEM_DAYS * SECONDS_PER_DAY)
    created = np.where(
        is_new,
        rng.uniform(new_from, end - SECONDS_PER_DAY / 2, n_items),
        start_seconds - rng.uniform(30, 720, n_items) * SECONDS_PER_DAY,
    ).astype(np.int64)
    available = rng.random(n_items) >= UNAVAILABLE_SHARE

    kinds = np.array([c.kind for c in CATEGORIES], dtype=object)[category]
    product_attribute = rng.integers(len(_PRODUCT_ATTRIBUTES), size=n_items)
    content_attribute = rng.integers(len(_CONTENT_ATTRIBUTES), size=n_items)
    attributes = np.where(
        kinds == "product",
        np.array(_PRODUCT_ATTRIBUTES, dtype=object)[product_attribute],
        np.array(_CONTENT_ATTRIBUTES, dtype=object)[content_attribute],
    )
    tags = (
        pd.Series(style_tags[style], dtype="str")
        + ";"
        + pd.Series(attributes, dtype="str")
        + pd.Series(np.where(is_new, ";新品", ""), dtype="str")
    )
    numbers = format_ids("", np.arange(1, n_items + 1), width=4)
    item_ids = pd.Series(np.where(kinds == "product", "p", "c"), dtype="str") + numbers
    frame = pd.DataFrame(
        {
            "item_id": item_ids,
            "kind": pd.Series(kinds, dtype="str"),
            "category": pd.Series(np.array(CATEGORY_NAMES, dtype=object)[category], dtype="str"),
            "title": title,
            "tags": tags,
            "available": available,
            "created_at": pd.to_datetime(created, unit="s", utc=True).as_unit("ns"),
        }
    )
    return Items(frame, category, style, popularity, created, is_new, style_category)
