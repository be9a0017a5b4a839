"""Registry alias names. Moving an alias is the deployment: ``models:/products@champion``."""

from __future__ import annotations

import re

from recommender.errors import ConfigError

CHAMPION = "champion"
CHALLENGER = "challenger"

_ALIAS = re.compile(r"^[a-z][a-z0-9_-]*$")


def check_alias(alias: str) -> str:
    """``alias`` if it is a lowercase name, else ``ConfigError`` saying what is expected."""
    if not _ALIAS.match(alias) or re.fullmatch(r"v\d+", alias) or alias == "latest":
        raise ConfigError(
            f"alias {alias!r} must be lowercase letters, digits, '-' or '_', start with a letter "
            f"and not be 'latest' or v<number> (e.g. {CHAMPION!r}, {CHALLENGER!r})"
        )
    return alias
