"""What the console ships: every word in both languages, the vendored files with licences, and
the language chosen from Accept-Language."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from serving.console.i18n import STRINGS, _from_header
from serving.console.pages import STATIC

ROOT = Path(__file__).resolve().parents[2]


def test_every_language_has_every_word() -> None:
    english, chinese = STRINGS["en"], STRINGS["zh-CN"]
    assert english.keys() == chinese.keys()
    script = (STATIC / "console.js").read_text()
    used = set(re.findall(r'\bt\("([a-z0-9_]+)"\)', script))
    assert used and used <= english.keys(), used - english.keys()


@pytest.mark.parametrize("path", [
    "vendor/chartjs/chart.umd.min.js", "vendor/chartjs/LICENSE.md",
    "vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css",
    "vendor/swagger-ui/LICENSE", "console.js", "console.css"])
def test_the_assets_are_in_the_package(path: str) -> None:
    assert (STATIC / path).stat().st_size > 0


def test_the_package_data_ships_the_assets() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["serving.console"]
    package = STATIC.parent
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    assert {path for path in STATIC.rglob("*") if path.is_file()} == shipped


def test_no_asset_loads_from_a_cdn() -> None:
    for name in ("console.js", "console.css"):
        assert "http" not in (STATIC / name).read_text().replace("X-CSRF", "")


@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9", "en"), ("zh-TW", "zh-CN"),
    ("fr-FR,en;q=0.5,zh;q=0.9", "zh-CN"), ("fr", None), ("", None), ("en;q=x", "en")])
def test_accept_language_picks_the_best_language_spoken(header: str, language: str | None) -> None:
    assert _from_header(header) == language
