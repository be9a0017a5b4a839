"""A/B test statistics on counts: intervals, p-values, uplift, sample size, verdicts, reports.

Pure functions of counts; serving collects the counts, this module judges them.

- **Rates** are proportions of impressions: ``CTR = clicks / impressions`` and
  ``conversion = purchases / impressions`` (an impression is one recommended item shown, so
  neither can exceed 1).
- **Interval of a rate**: the Wilson score interval (good coverage for small counts and rates near
  0, unlike the normal "Wald" interval).
- **p-value**: the two-sided two-proportion z-test with the pooled rate under "no difference".
- **Relative uplift** of treatment against control, ``p_t / p_c - 1``, with the delta-method
  (Katz) interval on the log of the ratio: ``se(log r) = sqrt(1/x_t - 1/n_t + 1/x_c - 1/n_c)``.
- **Sample size** per variant to detect a relative uplift ``δ`` at two-sided ``alpha`` with
  ``power``, for control rate ``p1`` and ``p2 = p1 (1 + δ)`` (normal approximation, no continuity
  correction)::

      n = (z_{1-α/2} sqrt(2 p̄ (1 - p̄)) + z_{1-β} sqrt(p1 (1 - p1) + p2 (1 - p2)))² / (p2 - p1)²

  with ``p̄ = (p1 + p2) / 2``.

The verdict reads a fixed-horizon test: a result that is not significant before the planned
sample size is reached is "not enough data", not "no difference".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from scipy.stats import norm

LEVEL = 0.95
ALPHA = 0.05
POWER = 0.8
MIN_UPLIFT = 0.05
"""The relative uplift an experiment is sized to detect (5%)."""

METRICS = ("ctr", "conversion")
_SUCCESSES = {"ctr": "clicks", "conversion": "purchases"}
_PHRASES = {  # metric -> (verb, better, worse)
    "ctr": ("is clicked", "more", "less"),
    "conversion": ("converts", "better", "worse"),
}


def _z(level: float) -> float:
    """The two-sided normal quantile of ``level`` (1.959964 for 0.95)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
    return float(norm.ppf(0.5 + level / 2.0))


def _check_counts(successes: int, trials: int) -> None:
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")


def wilson_interval(successes: int, trials: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / trials``."""
    _check_counts(successes, trials)
    z = _z(level)
    p = successes / trials
    scale = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(
    control_successes: int, control_trials: int, treatment_successes: int, treatment_trials: int
) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of equal rates.

    When the pooled rate is 0 or 1 (no successes at all, or nothing but) the two samples are
    identical and the p-value is 1.
    """
    _check_counts(control_successes, control_trials)
    _check_counts(treatment_successes, treatment_trials)
    pooled = (control_successes + treatment_successes) / (control_trials + treatment_trials)
    variance = pooled * (1 - pooled) * (1 / control_trials + 1 / treatment_trials)
    if variance == 0.0:
        return 1.0
    diff = treatment_successes / treatment_trials - control_successes / control_trials
    return float(2.0 * norm.sf(abs(diff) / math.sqrt(variance)))


@dataclass(frozen=True)
class Uplift:
    """Relative uplift ``p_t / p_c - 1``; its interval is ``None`` when either count is 0."""

    estimate: float
    low: float | None
    high: float | None


def relative_uplift(
    control_successes: int,
    control_trials: int,
    treatment_successes: int,
    treatment_trials: int,
    level: float = LEVEL,
) -> Uplift | None:
    """Treatment's rate relative to control's, with the delta-method interval on ``log(p_t/p_c)``.

    Returns ``None`` when control has no success (the ratio is undefined).
    """
    _check_counts(control_successes, control_trials)
    _check_counts(treatment_successes, treatment_trials)
    if control_successes == 0:
        return None
    ratio = (treatment_successes / treatment_trials) / (control_successes / control_trials)
    if treatment_successes == 0:
        return Uplift(ratio - 1.0, None, None)
    se = math.sqrt(
        1 / treatment_successes - 1 / treatment_trials + 1 / control_successes - 1 / control_trials
    )
    spread = _z(level) * se
    log_ratio = math.log(ratio)
    return Uplift(ratio - 1.0, math.exp(log_ratio - spread) - 1.0,
                  math.exp(log_ratio + spread) - 1.0)


def sample_size(
    control_rate: float, uplift: float = MIN_UPLIFT, alpha: float = ALPHA, power: float = POWER
) -> int:
    """Trials per variant to detect a relative ``uplift`` of ``control_rate`` (module docstring).

    Raises ``ValueError`` unless ``0 < control_rate`` and ``control_rate * (1 + uplift) < 1``.
    """
    p1 = control_rate
    p2 = p1 * (1.0 + uplift)
    if not (0.0 < p1 < 1.0 and 0.0 < p2 < 1.0) or uplift == 0.0:
        raise ValueError(
            f"need 0 < control_rate and control_rate * (1 + uplift) < 1 with uplift != 0, got "
            f"control_rate={control_rate}, uplift={uplift}"
        )
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be strictly between 0 and 1, got {power}")
    mean = (p1 + p2) / 2.0
    z_alpha = _z(1.0 - alpha)
    z_beta = float(norm.ppf(power))
    numerator = (z_alpha * math.sqrt(2 * mean * (1 - mean))
                 + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))
    return math.ceil(numerator**2 / (p2 - p1) ** 2)


def format_p(p_value: float) -> str:
    """``p = 0.003``, ``p = 0.41``, ``p < 0.001``: two significant digits."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"


def _percent(fraction: float) -> str:
    value = abs(fraction) * 100
    return f"{value:.0f}%" if value >= 1 else f"{value:.1f}%"


def _about(count: int) -> str:
    """``count`` rounded up to two significant digits, with thousands separators."""
    step = 10 ** max(0, len(str(count)) - 2)
    return f"{math.ceil(count / step) * step:,}"


def verdict(
    control_successes: int,
    control_trials: int,
    treatment_successes: int,
    treatment_trials: int,
    *,
    variant: str = "treatment",
    metric: str = "conversion",
    alpha: float = ALPHA,
    min_uplift: float = MIN_UPLIFT,
    power: float = POWER,
) -> str:
    """A plain-language reading of treatment against control on ``metric`` (``ctr`` or
    ``conversion``).

    - significant (``p < alpha``): ``"treatment converts 12% better, p = 0.003"`` or
      ``"... 8% worse, p = 0.01"``;
    - not significant while either variant has fewer impressions than ``sample_size`` of the
      control rate (the pooled rate if control has none): ``"not enough data: about 57,000 more
      impressions per variant to detect a 5% uplift"``;
    - otherwise ``"no significant difference (p = 0.41)"``.
    """
    if metric not in _PHRASES:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    verb, better, worse = _PHRASES[metric]
    noun = _SUCCESSES[metric]
    if min(control_trials, treatment_trials) == 0:
        return "not enough data: no impressions yet"
    if control_successes + treatment_successes == 0:
        return f"not enough data: no {noun} yet"
    p_value = two_proportion_p_value(
        control_successes, control_trials, treatment_successes, treatment_trials
    )
    if p_value < alpha:
        uplift = relative_uplift(
            control_successes, control_trials, treatment_successes, treatment_trials
        )
        if uplift is None:
            return f"{variant} {verb} {better} (control has no {noun}), {format_p(p_value)}"
        direction = better if uplift.estimate > 0 else worse
        return f"{variant} {verb} {_percent(uplift.estimate)} {direction}, {format_p(p_value)}"
    base = control_successes / control_trials if control_successes else (
        (control_successes + treatment_successes) / (control_trials + treatment_trials)
    )
    if base * (1.0 + min_uplift) < 1.0:
        needed = sample_size(base, min_uplift, alpha, power)
        missing = needed - min(control_trials, treatment_trials)
        if missing > 0:
            return (
                f"not enough data: about {_about(missing)} more impressions per variant to "
                f"detect a {_percent(min_uplift)} uplift"
            )
    return f"no significant difference ({format_p(p_value)})"


@dataclass(frozen=True)
class VariantCounts:
    """What serving counted for one variant. ``impressions`` are recommended items shown (one a
    shown item), so ``clicks`` and ``purchases`` are at most ``impressions``."""

    users: int
    impressions: int
    clicks: int
    carts: int
    purchases: int

    def __post_init__(self) -> None:
        negative = [f.name for f in fields(self) if getattr(self, f.name) < 0]
        if negative:
            raise ValueError(f"counts must be >= 0, got negative {negative}")
        if max(self.clicks, self.purchases) > self.impressions:
            raise ValueError(
                f"clicks ({self.clicks}) and purchases ({self.purchases}) must not exceed "
                f"impressions ({self.impressions}): count an impression per item shown"
            )

    def successes(self, metric: str) -> int:
        return int(getattr(self, _SUCCESSES[metric]))


@dataclass(frozen=True)
class Rate:
    """A rate and its Wilson interval; all ``None`` before the first impression."""

    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, successes: int, trials: int, level: float = LEVEL) -> Rate:
        if trials == 0:
            return cls(None, None, None)
        low, high = wilson_interval(successes, trials, level)
        return cls(successes / trials, low, high)


@dataclass(frozen=True)
class Comparison:
    """One metric of a variant against control: uplift, its interval, p-value and verdict."""

    metric: str
    uplift: float | None
    low: float | None
    high: float | None
    p_value: float | None
    verdict: str


@dataclass(frozen=True)
class VariantReport:
    """One variant: its counts, rates, and (except for control) its comparisons to control."""

    name: str
    counts: VariantCounts
    ctr: Rate
    conversion: Rate
    vs_control: dict[str, Comparison]


@dataclass(frozen=True)
class ExperimentReport:
    """Every variant of an experiment, control first; ``verdict`` is one line per treatment on
    the ``metric`` the report was built for."""

    name: str
    control: str
    metric: str
    variants: list[VariantReport]
    verdict: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: floats, ints, strings and ``None``."""
        return {
            "name": self.name,
            "control": self.control,
            "metric": self.metric,
            "verdict": self.verdict,
            "variants": [asdict(variant) for variant in self.variants],
        }


def compare(
    control: VariantCounts, treatment: VariantCounts, metric: str, variant: str = "treatment"
) -> Comparison:
    """``treatment`` against ``control`` on ``metric``: uplift with interval, p-value, verdict."""
    x_c, n_c = control.successes(metric), control.impressions
    x_t, n_t = treatment.successes(metric), treatment.impressions
    text = verdict(x_c, n_c, x_t, n_t, variant=variant, metric=metric)
    if min(n_c, n_t) == 0:
        return Comparison(metric, None, None, None, None, text)
    uplift = relative_uplift(x_c, n_c, x_t, n_t)
    p_value = two_proportion_p_value(x_c, n_c, x_t, n_t)
    if uplift is None:
        return Comparison(metric, None, None, None, p_value, text)
    return Comparison(metric, uplift.estimate, uplift.low, uplift.high, p_value, text)


def build_report(
    name: str,
    counts_by_variant: dict[str, VariantCounts],
    control: str,
    metric: str = "conversion",
) -> ExperimentReport:
    """The report of experiment ``name``: per variant rates with 95% Wilson intervals, and every
    other variant against ``control`` on CTR and conversion; the verdict is on ``metric``."""
    if control not in counts_by_variant:
        raise ValueError(
            f"control variant {control!r} is not among the variants {sorted(counts_by_variant)}"
        )
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    base = counts_by_variant[control]
    order = [control, *(v for v in counts_by_variant if v != control)]
    variants = []
    for variant in order:
        counts = counts_by_variant[variant]
        comparisons = {} if variant == control else {
            m: compare(base, counts, m, variant) for m in METRICS
        }
        variants.append(VariantReport(
            name=variant,
            counts=counts,
            ctr=Rate.of(counts.clicks, counts.impressions),
            conversion=Rate.of(counts.purchases, counts.impressions),
            vs_control=comparisons,
        ))
    lines = [v.vs_control[metric].verdict for v in variants if v.name != control]
    return ExperimentReport(name, control, metric, variants, "\n".join(lines))
