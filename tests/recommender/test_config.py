from pathlib import Path

import pytest

from recommender.config import (
    DEFAULT_WEIGHTS,
    RecsysConfig,
    load_config,
    parse_params,
    parse_weights,
)
from recommender.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recsys.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_spec() -> None:
    config = RecsysConfig()
    assert config.events.weights == DEFAULT_WEIGHTS
    assert config.events.half_life_days == 30
    assert config.rules.timezone == "Asia/Shanghai"
    breakfast = config.rules.slots[0]
    assert (breakfast.name, breakfast.start, breakfast.end) == ("breakfast", "06:30", "09:30")
    assert breakfast.categories == ["breakfast"] and breakfast.push and breakfast.push_items == 3
    assert config.push.max_per_user_per_day == 2
    assert config.push.quiet_hours == "22:00-06:30"


def test_the_spec_example_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[events]
weights = { view = 1, click = 2, favorite = 3, cart = 4, share = 4, purchase = 8 }
half_life_days = 30

[rules]
timezone = "Asia/Shanghai"

[[rules.slots]]
name = "breakfast"
start = "06:30"
end = "09:30"
categories = ["breakfast"]
boost = 2.0
push = true
push_items = 3

[push]
max_per_user_per_day = 2
quiet_hours = "22:00-06:30"

[models.als]
factors = 48
""",
    )
    config = load_config(path)
    assert [s.name for s in config.rules.slots] == ["breakfast"]
    assert config.models.params_for("als") == {"factors": 48}
    assert config.models.params_for("ease") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[events]\nhalf_life_days = -1", "events.half_life_days"),
        ("[events]\nweights = { view = -2 }", "events.weights: weight of 'view' must be >= 0"),
        ('[rules]\ntimezone = "Mars/Olympus"', "rules.timezone: expected an IANA time zone"),
        (
            "[[rules.slots]]\nname='b'\nstart='6:30'\nend='09:30'\ncategories=['x']",
            "rules.slots.0.start: expected a time as HH:MM",
        ),
        ("[[rules.slots]]\nname='b'\nstart='06:30'\nend='09:30'", "needs categories"),
        ("[push]\nquiet_hours = 'late'", "push.quiet_hours: expected 'HH:MM-HH:MM'"),
        ("[events]\nwieghts = {view=1}", "events.wieghts: unknown key"),
        ("[realtime]\nsession_offset = 0", "realtime.session_offset"),
    ],
)
def test_bad_values_name_the_key_and_the_expectation(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert fragment in str(caught.value)
    assert "recsys.toml" in str(caught.value)


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[events\n"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")


def test_weights_option_overrides_listed_types_only() -> None:
    weights = parse_weights("view=1, purchase=1", DEFAULT_WEIGHTS)
    assert weights["view"] == 1 and weights["purchase"] == 1 and weights["cart"] == 4


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("view", "expected EVENT=NUMBER pairs, got 'view'"),
        ("view=abc", "weight of 'view' must be a number, got 'abc'"),
        ("=3", "expected EVENT=NUMBER pairs, got '=3'"),
        ("view=-1", "weight of 'view' must be >= 0, got -1.0"),
    ],
)
def test_bad_weights_option_is_refused_naming_the_problem_not_a_flag(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_weights(text)
    assert str(caught.value) == why  # the CLI adds the flag (recsys_cli.common.option_weights)


def test_a_misspelt_event_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_weights("view=1,purchse=8", DEFAULT_WEIGHTS)
    assert str(caught.value) == (
        "unknown event type 'purchse'; known: view, click, favorite, cart, share, purchase "
        "(a new type needs a weight under [events] weights in recsys.toml)"
    )


def test_an_event_type_defined_in_recsys_toml_can_be_reweighted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[events]\nweights = { view = 1, wishlist = 3 }\n"))
    weights = parse_weights("wishlist=5,cart=4", config.events.weights)
    assert weights == {"view": 1.0, "wishlist": 5.0, "cart": 4.0}
    with pytest.raises(ConfigError, match="known: view, click, favorite, cart, share, purchase, "
                                          "wishlist"):
        parse_weights("wishlsit=5", config.events.weights)


def test_params_are_typed_by_model() -> None:
    assert parse_params(["als.factors=32", "ease.l2=300.5", "itemknn.similarity=cosine"]) == {
        "als": {"factors": 32},
        "ease": {"l2": 300.5},
        "itemknn": {"similarity": "cosine"},
    }
    with pytest.raises(ConfigError, match=r"MODEL\.NAME=VALUE"):
        parse_params(["factors=32"])
