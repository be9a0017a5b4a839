"""Where the data lives: flag > environment > ``recsys.toml`` > default, for the URL and prefix."""

from __future__ import annotations

import pytest

from recommender.config import RecsysConfig
from storage.keys import DEFAULT_PREFIX
from storage.settings import DEFAULT_URL, PREFIX_ENV, URL_ENV, StorageSettings, resolve

FLAG_URL, ENV_URL, TOML_URL = ("redis://flag:1/0", "redis+cluster://env:2",
                               "redis://toml:3/5")
FLAG_PREFIX, ENV_PREFIX, TOML_PREFIX = "flag:", "env:", "toml:"
BOTH_ENV = {URL_ENV: ENV_URL, PREFIX_ENV: ENV_PREFIX}


def toml(**serving: str) -> RecsysConfig:
    """The configuration a ``recsys.toml`` with these ``[serving]`` keys gives."""
    return RecsysConfig.model_validate({"serving": serving})


TOML = toml(redis_url=TOML_URL, prefix=TOML_PREFIX)


def test_a_flag_beats_the_environment_and_the_toml() -> None:
    got = resolve(TOML, redis_url=FLAG_URL, prefix=FLAG_PREFIX, environ=BOTH_ENV)
    assert got == StorageSettings(FLAG_URL, FLAG_PREFIX)
    assert got.url == FLAG_URL and got.keys.prefix == FLAG_PREFIX


def test_the_environment_beats_the_toml() -> None:
    assert resolve(TOML, environ=BOTH_ENV) == StorageSettings(ENV_URL, ENV_PREFIX)


def test_the_toml_beats_the_default() -> None:
    assert resolve(TOML, environ={}) == StorageSettings(TOML_URL, TOML_PREFIX)


@pytest.mark.parametrize("config", [None, RecsysConfig(), toml()])
def test_nothing_named_gives_the_defaults(config: RecsysConfig | None) -> None:
    got = resolve(config, environ={})
    assert got == StorageSettings(None, DEFAULT_PREFIX)
    assert got.redis_url is None  # the commands start the embedded Redis then
    assert got.url == DEFAULT_URL


@pytest.mark.parametrize(
    ("flags", "environ", "want"),
    [
        # Each level on its own for one setting, the other setting from another level.
        ({"redis_url": FLAG_URL}, {PREFIX_ENV: ENV_PREFIX}, (FLAG_URL, ENV_PREFIX)),
        ({"prefix": FLAG_PREFIX}, {URL_ENV: ENV_URL}, (ENV_URL, FLAG_PREFIX)),
        ({"prefix": FLAG_PREFIX}, {}, (TOML_URL, FLAG_PREFIX)),
        ({"redis_url": FLAG_URL}, {}, (FLAG_URL, TOML_PREFIX)),
        ({}, {URL_ENV: ENV_URL}, (ENV_URL, TOML_PREFIX)),
        ({}, {PREFIX_ENV: ENV_PREFIX}, (TOML_URL, ENV_PREFIX)),
        # Unset flags (None) and empty environment variables fall through to the next level.
        ({"redis_url": None, "prefix": None}, BOTH_ENV, (ENV_URL, ENV_PREFIX)),
        ({}, {URL_ENV: "", PREFIX_ENV: ""}, (TOML_URL, TOML_PREFIX)),
    ],
)
def test_each_setting_is_resolved_on_its_own(
    flags: dict[str, str | None], environ: dict[str, str], want: tuple[str, str]
) -> None:
    assert resolve(TOML, environ=environ, **flags) == StorageSettings(*want)


def test_the_environment_beats_the_default_without_a_toml() -> None:
    assert resolve(None, environ=BOTH_ENV) == StorageSettings(ENV_URL, ENV_PREFIX)


def test_the_process_environment_is_read_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(URL_ENV, ENV_URL)
    monkeypatch.setenv(PREFIX_ENV, ENV_PREFIX)
    assert resolve(TOML) == StorageSettings(ENV_URL, ENV_PREFIX)


def test_the_environment_carries_the_settings_to_other_processes() -> None:
    assert StorageSettings(ENV_URL, ENV_PREFIX).environment() == BOTH_ENV
    assert StorageSettings(None, TOML_PREFIX).environment() == {PREFIX_ENV: TOML_PREFIX}


@pytest.mark.parametrize("bad", ["a{b:", "tag}:", "{ctl}:"])
@pytest.mark.parametrize("level", ["flag", "environment", "toml"])
def test_a_prefix_with_a_brace_is_refused(bad: str, level: str) -> None:
    flags = {"prefix": bad} if level == "flag" else {}
    environ = {PREFIX_ENV: bad} if level == "environment" else {}
    config = toml(prefix=bad) if level == "toml" else None
    with pytest.raises(ValueError, match="prefix"):
        resolve(config, environ=environ, **flags)


def test_a_prefix_with_a_brace_is_refused_when_built_directly() -> None:
    with pytest.raises(ValueError):
        StorageSettings(None, "x{y}:")
