"""Training specs, model parameters from recsys.toml and --param, and alias names."""

from __future__ import annotations

import pytest

from recommender.config import config_from_dict
from recommender.errors import ConfigError
from training.aliases import CHALLENGER, CHAMPION, check_alias
from training.spec import TrainSpec, model_params


def test_param_pairs_override_the_config_with_or_without_the_model_prefix() -> None:
    config = config_from_dict({"models": {"als": {"factors": 32, "alpha": 2.0}}})
    params = model_params("als", ["factors=64", "als.iterations=5"], config)
    assert params == {"factors": 64, "alpha": 2.0, "iterations": 5}


def test_a_param_for_another_model_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"\['ease'\].*--model is 'als'"):
        model_params("als", ["ease.l2=100"], config_from_dict({}))


def test_split_key_names_protocol_ratio_seed_and_user_cap() -> None:
    spec = TrainSpec(model="als", protocol="temporal", ratio=0.8, seed=7, eval_users=0)
    assert spec.split_key == "temporal ratio=0.8 seed=7 users<=0"


def test_mlflow_params_are_flat_strings() -> None:
    spec = TrainSpec(model="ease", params={"l2": 300.0}, weights={"view": 1.0}, half_life_days=0)
    assert spec.mlflow_params() == {
        "model": "ease", "half_life_days": "0", "protocol": "stratified", "ratio": "0.75",
        "seed": "42", "k": "10", "eval_users": "20000", "param.l2": "300.0", "weight.view": "1.0",
    }


def test_spec_round_trips_through_a_dict_and_with_params_merges() -> None:
    spec = TrainSpec(model="als", params={"factors": 8}, weights={"view": 1.0})
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    assert spec.with_params({"alpha": 3.0}).params == {"factors": 8, "alpha": 3.0}
    assert spec.params == {"factors": 8}


@pytest.mark.parametrize("alias", [CHAMPION, CHALLENGER, "canary-2", "ab_test"])
def test_lowercase_aliases_are_accepted(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize("alias", ["Champion", "2nd", "v3", "latest", "", "a b"])
def test_other_aliases_are_rejected(alias: str) -> None:
    with pytest.raises(ConfigError, match="lowercase"):
        check_alias(alias)


def test_repeatable_categories_of_the_spec_keep_such_items_relevant_in_the_job_split() -> None:
    import pandas as pd

    from training.job_data import prepare_split

    day = 86_400
    events = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2"],
        "item_id": ["tea", "cake", "tea", "tea", "cake"],
        "event": ["purchase"] * 5,
        "timestamp": pd.to_datetime([1 * day, 1 * day, 9 * day, 1 * day, 1 * day], unit="s",
                                    utc=True),
    })
    catalog = pd.DataFrame({"item_id": ["tea", "cake"], "category": ["drinks", "cakes"]})
    weights = {"purchase": 1.0}
    plain = TrainSpec(model="pop", protocol="temporal", ratio=0.9, weights=weights)
    regular = TrainSpec(model="pop", protocol="temporal", ratio=0.9, weights=weights,
                        repeatable_categories=["drinks"])
    with pytest.raises(ConfigError, match="no user"):  # u1's tea again: not relevant
        prepare_split(events, plain, catalog)
    data = prepare_split(events, regular, catalog)
    assert data.test[data.users].nnz == 1 and "repeatable=drinks" in regular.split_key
