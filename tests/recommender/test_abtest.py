"""A/B statistics against hand-computed values (z = 1.959964 for 95%, z = 0.841621 for 80%)."""

from __future__ import annotations

import json

import pytest

from recommender.abtest import (
    ExperimentReport,
    VariantCounts,
    build_report,
    format_p,
    relative_uplift,
    sample_size,
    two_proportion_p_value,
    verdict,
    wilson_interval,
)


def test_wilson_interval_of_10_in_100_is_the_textbook_value() -> None:
    # p = 0.1, z² = 3.841459, z²/n = 0.0384146, scale = 1.0384146
    # centre = (0.1 + 0.0192073) / 1.0384146 = 0.114797
    # half = 1.959964 * sqrt(0.0009 + 0.0000960) / 1.0384146 = 0.0618565 / 1.0384146 = 0.059568
    low, high = wilson_interval(10, 100)
    assert low == pytest.approx(0.0552, abs=5e-5)
    assert high == pytest.approx(0.1744, abs=5e-5)


def test_wilson_interval_of_zero_successes_starts_at_zero() -> None:
    # 0/10: centre = 0.1920730 / 1.3841459 = 0.138768; half = 1.959964 * sqrt(3.841459 / 400)
    # / 1.3841459 = 0.138768 -> (0, 0.2775)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.2775, abs=5e-5)


def test_two_proportion_p_value_of_50_vs_70_in_1000() -> None:
    # pooled = 120/2000 = 0.06; se = sqrt(0.06 * 0.94 * (1/1000 + 1/1000)) = 0.0106207
    # z = (0.07 - 0.05) / 0.0106207 = 1.88312; p = 2 * (1 - Φ(1.88312)) = 2 * 0.029843 = 0.05969
    assert two_proportion_p_value(50, 1000, 70, 1000) == pytest.approx(0.05969, abs=5e-5)
    assert two_proportion_p_value(70, 1000, 50, 1000) == pytest.approx(0.05969, abs=5e-5)
    assert two_proportion_p_value(0, 100, 0, 200) == 1.0  # nothing happened anywhere


def test_relative_uplift_uses_the_delta_method_on_the_log_ratio() -> None:
    # r = 0.07 / 0.05 = 1.4; se(log r) = sqrt(1/70 - 1/1000 + 1/50 - 1/1000) = sqrt(0.0322857)
    # = 0.179682; z * se = 0.352170; log 1.4 = 0.336472
    # low = exp(-0.015698) - 1 = -0.01558; high = exp(0.688642) - 1 = 0.99101
    uplift = relative_uplift(50, 1000, 70, 1000)
    assert uplift is not None
    assert uplift.estimate == pytest.approx(0.4)
    assert uplift.low == pytest.approx(-0.01558, abs=5e-5)
    assert uplift.high == pytest.approx(0.99101, abs=5e-5)
    assert relative_uplift(0, 1000, 5, 1000) is None  # no control rate to compare with
    zero = relative_uplift(5, 1000, 0, 1000)
    assert zero is not None and zero.estimate == -1.0 and zero.low is None


def test_sample_size_to_detect_a_5_percent_uplift_on_a_10_percent_rate() -> None:
    # p1 = 0.10, p2 = 0.105, p̄ = 0.1025
    # 1.959964 * sqrt(2 * 0.1025 * 0.8975) = 1.959964 * sqrt(0.1839875) = 0.8407023
    # 0.841621 * sqrt(0.09 + 0.093975) = 0.841621 * 0.4289231 = 0.3609908
    # (0.8407023 + 0.3609908)² / 0.005² = 1.4440663 / 0.000025 = 57762.65 -> 57763
    assert sample_size(0.10) == 57763
    assert sample_size(0.10, uplift=0.10) < sample_size(0.10)
    with pytest.raises(ValueError, match="control_rate"):
        sample_size(0.0)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # 1200/12000 vs 1344/12000: uplift 0.112/0.1 - 1 = 12%; pooled 0.106,
        # se = sqrt(0.106 * 0.894 / 6000) = 0.0039742, z = 0.012 / 0.0039742 = 3.0195, p = 0.0025
        ((1200, 12000, 1344, 12000), "treatment converts 12% better, p = 0.0025"),
        # 1200/12000 vs 1104/12000: -8%; pooled 0.096, se = sqrt(0.096 * 0.904 / 6000)
        # = 0.0038032, z = 2.1035, p = 0.035
        ((1200, 12000, 1104, 12000), "treatment converts 8% worse, p = 0.035"),
        # 50/1000 vs 55/1000: p = 0.62; sample_size(0.05) = 122124 per variant, 121124 more,
        # rounded up to two significant digits: 130,000
        ((50, 1000, 55, 1000),
         "not enough data: about 130,000 more impressions per variant to detect a 5% uplift"),
        # 6000/60000 vs 6060/60000: pooled 0.1005, se = sqrt(0.1005 * 0.8995 / 30000) = 0.0017359,
        # z = 0.57607, p = 0.5646; 60000 >= sample_size(0.10) = 57763
        ((6000, 60000, 6060, 60000), "no significant difference (p = 0.56)"),
        # 0/1000 vs 10/1000: pooled 0.005, se = sqrt(0.005 * 0.995 / 500) = 0.0031544,
        # z = 3.1702, p = 0.0015
        ((0, 1000, 10, 1000),
         "treatment converts better (control has no purchases), p = 0.0015"),
        ((0, 1000, 0, 1000), "not enough data: no purchases yet"),
        ((0, 0, 0, 10), "not enough data: no impressions yet"),
    ],
)
def test_verdict_reads_each_case_in_plain_language(
    counts: tuple[int, int, int, int], expected: str
) -> None:
    assert verdict(*counts) == expected


def test_verdict_on_click_through_names_the_variant_and_clicks() -> None:
    assert verdict(1200, 12000, 1344, 12000, variant="B", metric="ctr") == (
        "B is clicked 12% more, p = 0.0025"
    )


def test_p_values_are_shown_with_two_significant_digits() -> None:
    assert [format_p(p) for p in (0.41, 0.003, 0.0102, 0.0004)] == [
        "p = 0.41", "p = 0.003", "p = 0.01", "p < 0.001"
    ]


def report() -> ExperimentReport:
    return build_report(
        "als-vs-bpr",
        {
            "treatment": VariantCounts(users=40, impressions=1000, clicks=130, carts=30,
                                       purchases=70),
            "control": VariantCounts(users=38, impressions=1000, clicks=100, carts=20,
                                     purchases=50),
        },
        control="control",
    )


def test_build_report_puts_control_first_with_rates_and_wilson_intervals() -> None:
    control, treatment = report().variants
    assert (control.name, treatment.name) == ("control", "treatment")
    assert control.vs_control == {}
    assert control.ctr.value == pytest.approx(0.10)  # 100 / 1000
    assert treatment.conversion.value == pytest.approx(0.07)  # 70 / 1000
    assert (treatment.conversion.low, treatment.conversion.high) == pytest.approx(
        wilson_interval(70, 1000)
    )


def test_build_report_compares_each_metric_and_gives_the_verdict_on_conversion() -> None:
    built = report()
    treatment = built.variants[1]
    conversion = treatment.vs_control["conversion"]
    assert conversion.uplift == pytest.approx(0.4)
    assert (conversion.low, conversion.high) == pytest.approx((-0.01558, 0.99101), abs=5e-5)
    assert conversion.p_value == pytest.approx(0.05969, abs=5e-5)
    # ctr 100 -> 130 in 1000: pooled 0.115, se = sqrt(0.115 * 0.885 / 500) = 0.014267,
    # z = 0.03 / 0.014267 = 2.1028, p = 0.0355
    assert treatment.vs_control["ctr"].verdict == "treatment is clicked 30% more, p = 0.035"
    assert built.verdict == conversion.verdict
    assert built.verdict.startswith("not enough data: about 130,000 more impressions")


def test_report_json_is_plain_json_and_empty_variants_have_no_rates() -> None:
    built = build_report("new", {"a": VariantCounts(0, 0, 0, 0, 0),
                                 "b": VariantCounts(0, 0, 0, 0, 0)}, control="a")
    payload = json.loads(json.dumps(built.to_json(), allow_nan=False))
    assert payload["variants"][0]["ctr"] == {"value": None, "low": None, "high": None}
    assert payload["variants"][1]["vs_control"]["conversion"]["p_value"] is None
    assert payload["verdict"] == "not enough data: no impressions yet"
    assert set(json.loads(json.dumps(report().to_json()))) == {
        "name", "control", "metric", "verdict", "variants"
    }


def test_bad_counts_and_unknown_control_are_refused() -> None:
    with pytest.raises(ValueError, match="must not exceed impressions"):
        VariantCounts(users=1, impressions=5, clicks=6, carts=0, purchases=0)
    with pytest.raises(ValueError, match="negative"):
        VariantCounts(users=-1, impressions=5, clicks=0, carts=0, purchases=0)
    with pytest.raises(ValueError, match="control variant 'x'"):
        build_report("e", {"a": VariantCounts(1, 1, 0, 0, 0)}, control="x")
