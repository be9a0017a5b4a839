"""``storage.live.choose``: which live version a server or a job without a model name uses."""

from __future__ import annotations

import pytest

from storage.errors import NoLiveModel
from storage.live import choose

LIVE = {"shop": "shop:1:a", "other": "other:3:b"}


def test_a_named_model_wins_over_the_default() -> None:
    assert choose(LIVE, "other", "shop") == "other:3:b"


def test_without_a_name_the_default_model_is_served_among_several() -> None:
    assert choose(LIVE, None, "shop") == "shop:1:a"
    assert choose(LIVE, None, "other") == "other:3:b"


def test_the_only_live_model_is_served_without_a_default() -> None:
    assert choose({"shop": "shop:1:a"}, None) == "shop:1:a"
    assert choose({"shop": "shop:1:a"}, None, "gone") == "shop:1:a"


@pytest.mark.parametrize(
    ("default", "why"),
    [(None, "none is the default"), ("gone", "the default model 'gone' is not live")],
)
def test_several_live_models_without_a_live_default_say_what_to_do(default: str | None,
                                                                  why: str) -> None:
    with pytest.raises(NoLiveModel) as raised:
        choose(LIVE, None, default)
    assert str(raised.value) == (
        f"several models are live (other, shop) and {why}; name the one to use "
        "(RECSYS_MODEL_NAME for the API, --model for the commands) or make one the default "
        "(`recsys publish NAME@ALIAS --default`)")


def test_nothing_live_and_an_unknown_name() -> None:
    with pytest.raises(NoLiveModel, match="no model is published yet"):
        choose({}, None, "shop")
    with pytest.raises(NoLiveModel, match=r"model 'nope' has no published version \(live: "
                       r"other, shop\)"):
        choose(LIVE, "nope", "shop")
