"""A/B(/n) winner selection: the z-test against an independent formula, corrections and rules."""

import math
from statistics import NormalDist

import pytest

from sms_marketing.core.abtest import (
    NO_DATA,
    NOT_SIGNIFICANT,
    RULE_FIRST,
    RULE_LEADER,
    RULE_WAIT,
    RULES,
    SIGNIFICANT,
    TOO_FEW,
    Decision,
    VariantStats,
    decide,
    two_proportion_z_test,
)


def reference_z_test(x_a, n_a, x_b, n_b):
    """Textbook pooled z-test written independently, with the p-value from NormalDist."""
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    z = (p_a - p_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, 2 * (1 - NormalDist().cdf(abs(z)))


# --- two_proportion_z_test -------------------------------------------------------------------


def test_textbook_example():
    z, p = two_proportion_z_test(200, 1000, 150, 1000)
    assert z == pytest.approx(2.9424, abs=1e-4)
    assert p == pytest.approx(0.003256, abs=1e-6)
    ref_z, ref_p = reference_z_test(200, 1000, 150, 1000)
    assert z == pytest.approx(ref_z, rel=1e-12)
    assert p == pytest.approx(ref_p, rel=1e-9)


@pytest.mark.parametrize(
    "counts",
    [
        (200, 1000, 150, 1000),
        (45, 500, 30, 480),
        (12, 90, 30, 110),
        (510, 5000, 480, 5100),
        (3, 40, 1, 60),
    ],
)
def test_matches_independent_formula(counts):
    z, p = two_proportion_z_test(*counts)
    ref_z, ref_p = reference_z_test(*counts)
    assert z == pytest.approx(ref_z, rel=1e-12)
    assert p == pytest.approx(ref_p, rel=1e-9, abs=1e-15)


def test_sign_follows_the_better_group_and_p_is_symmetric():
    z_ab, p_ab = two_proportion_z_test(200, 1000, 150, 1000)
    z_ba, p_ba = two_proportion_z_test(150, 1000, 200, 1000)
    assert z_ab > 0 > z_ba
    assert z_ab == pytest.approx(-z_ba)
    assert p_ab == pytest.approx(p_ba)


def test_equal_rates_give_p_one():
    z, p = two_proportion_z_test(50, 500, 100, 1000)
    assert z == 0.0
    assert p == 1.0


@pytest.mark.parametrize(
    "counts",
    [
        (0, 100, 0, 100),  # both rates 0: pooled variance 0
        (100, 100, 50, 50),  # both rates 1
        (0, 0, 10, 100),  # no trials on one side
        (10, 100, 0, 0),
        (0, 0, 0, 0),
    ],
)
def test_degenerate_inputs_give_no_evidence(counts):
    assert two_proportion_z_test(*counts) == (0.0, 1.0)


@pytest.mark.parametrize(
    "counts",
    [
        (-1, 100, 10, 100),
        (1, -100, 10, 100),
        (10, 100, -1, 100),
        (10, 100, 1, -100),
        (101, 100, 10, 100),
        (10, 100, 11, 10),
    ],
)
def test_invalid_counts_raise(counts):
    with pytest.raises(ValueError):
        two_proportion_z_test(*counts)


# --- VariantStats ----------------------------------------------------------------------------


def test_variant_rate():
    assert VariantStats("a", 200, 30).rate == pytest.approx(0.15)
    assert VariantStats("a", 0, 0).rate == 0.0


@pytest.mark.parametrize(("trials", "successes"), [(-1, 0), (10, -1), (10, 11)])
def test_variant_validates_counts(trials, successes):
    with pytest.raises(ValueError):
        VariantStats("a", trials, successes)


# --- decide ----------------------------------------------------------------------------------


def test_two_variants_significant():
    decision = decide([VariantStats("A", 1000, 150), VariantStats("B", 1000, 200)])
    z, p = two_proportion_z_test(200, 1000, 150, 1000)
    assert decision == Decision(
        winner="B", leader="B", significant=True, p_value=p, z=z, reason=SIGNIFICANT
    )


@pytest.mark.parametrize("rule", RULES)
def test_significant_winner_ignores_rule(rule):
    decision = decide([VariantStats("A", 1000, 150), VariantStats("B", 1000, 200)], rule=rule)
    assert (decision.winner, decision.reason) == ("B", SIGNIFICANT)


def test_bonferroni_three_variants():
    # Each comparison alone has p ~= 0.038 < 0.05, but with two comparisons the
    # corrected p ~= 0.076 is not significant.
    a = VariantStats("A", 1000, 124)
    b = VariantStats("B", 1000, 95)
    c = VariantStats("C", 1000, 95)
    z, p = two_proportion_z_test(124, 1000, 95, 1000)
    assert 0.025 < p < 0.05
    assert decide([a, b]).significant

    decision = decide([a, b, c])
    assert decision.leader == "A"
    assert not decision.significant
    assert decision.reason == NOT_SIGNIFICANT
    assert decision.p_value == pytest.approx(2 * p)
    assert decision.z == pytest.approx(z)
    assert decision.winner == "A"  # default rule: leader


def test_bonferroni_reports_weakest_comparison():
    variants = [
        VariantStats("control", 2000, 200),
        VariantStats("short", 2000, 300),
        VariantStats("emoji", 2000, 240),
    ]
    decision = decide(variants, confidence=0.9)
    z_control, p_control = two_proportion_z_test(300, 2000, 200, 2000)
    z_emoji, p_emoji = two_proportion_z_test(300, 2000, 240, 2000)
    assert z_emoji < z_control
    assert decision.leader == "short"
    assert decision.z == pytest.approx(z_emoji)
    assert decision.p_value == pytest.approx(2 * max(p_control, p_emoji))
    assert decision.significant == (2 * p_emoji < 0.1)


def test_corrected_p_value_is_capped():
    decision = decide([VariantStats(k, 500, 50 + i) for i, k in enumerate("ABCD")], rule=RULE_WAIT)
    assert decision.leader == "D"
    assert decision.p_value == 1.0
    assert decision.reason == NOT_SIGNIFICANT


@pytest.mark.parametrize(
    ("rule", "winner"), [(RULE_LEADER, "B"), (RULE_FIRST, "A"), (RULE_WAIT, None)]
)
def test_rules_when_not_significant(rule, winner):
    decision = decide([VariantStats("A", 1000, 100), VariantStats("B", 1000, 110)], rule=rule)
    assert decision.leader == "B"
    assert not decision.significant
    assert decision.reason == NOT_SIGNIFICANT
    assert decision.p_value == pytest.approx(two_proportion_z_test(110, 1000, 100, 1000)[1])
    assert decision.winner == winner


@pytest.mark.parametrize(
    ("rule", "winner"), [(RULE_LEADER, "B"), (RULE_FIRST, "A"), (RULE_WAIT, None)]
)
def test_rules_when_too_few(rule, winner):
    # Far apart, but only 20 trials each: below min_trials.
    decision = decide([VariantStats("A", 20, 2), VariantStats("B", 20, 15)], rule=rule)
    assert decision == Decision(winner, "B", False, None, None, TOO_FEW)


@pytest.mark.parametrize(
    "variants",
    [
        # 4 pooled successes among 1000: expected successes 2 per group < 5.
        [VariantStats("A", 500, 0), VariantStats("B", 500, 4)],
        # Almost everyone converted: expected failures < 5.
        [VariantStats("A", 100, 99), VariantStats("B", 100, 96)],
        # The leader is fine against B but C has too few trials.
        [VariantStats("A", 1000, 200), VariantStats("B", 1000, 100), VariantStats("C", 10, 1)],
        # A variant that has not been sent yet keeps the test open.
        [VariantStats("A", 1000, 200), VariantStats("B", 1000, 100), VariantStats("C", 0, 0)],
    ],
)
def test_too_few_when_normal_approximation_is_invalid(variants):
    decision = decide(variants)
    assert decision.reason == TOO_FEW
    assert not decision.significant
    assert decision.p_value is None
    assert decision.z is None


def test_min_trials_is_configurable():
    variants = [VariantStats("A", 60, 30), VariantStats("B", 60, 10)]
    assert decide(variants, min_trials=100).reason == TOO_FEW
    assert decide(variants).reason == SIGNIFICANT
    assert decide(variants, min_trials=0).reason == SIGNIFICANT


@pytest.mark.parametrize(
    ("rule", "winner"), [(RULE_LEADER, None), (RULE_FIRST, "A"), (RULE_WAIT, None)]
)
def test_no_data(rule, winner):
    decision = decide([VariantStats("A", 0, 0), VariantStats("B", 0, 0)], rule=rule)
    assert decision == Decision(winner, None, False, None, None, NO_DATA)


def test_empty_sequence_is_no_data():
    for rule in RULES:
        assert decide([], rule=rule) == Decision(None, None, False, None, None, NO_DATA)


def test_tie_goes_to_earliest_variant():
    variants = [
        VariantStats("A", 1000, 100),
        VariantStats("B", 500, 50),
        VariantStats("C", 1000, 90),
    ]
    decision = decide(variants, rule=RULE_LEADER)
    assert decision.leader == "A"
    assert decision.winner == "A"
    assert decision.reason == NOT_SIGNIFICANT
    assert decision.p_value == 1.0  # A vs B is a perfect tie: p = 1, times 2, capped
    assert decision.z == 0.0


def test_variant_without_trials_cannot_lead():
    decision = decide([VariantStats("A", 0, 0), VariantStats("B", 1000, 0)], rule=RULE_FIRST)
    assert decision.leader == "B"
    assert decision.winner == "A"
    assert decision.reason == TOO_FEW


def test_single_variant_is_never_significant():
    decision = decide([VariantStats("A", 1000, 100)], rule=RULE_WAIT)
    assert decision == Decision(None, "A", False, None, None, NOT_SIGNIFICANT)
    assert decide([VariantStats("A", 10, 1)]).reason == TOO_FEW


def test_confidence_changes_the_verdict():
    variants = [VariantStats("A", 1000, 100), VariantStats("B", 1000, 130)]
    p = two_proportion_z_test(130, 1000, 100, 1000)[1]
    assert 0.01 < p < 0.05
    assert decide(variants, confidence=0.95).significant
    assert not decide(variants, confidence=0.99).significant


def test_keys_are_opaque():
    decision = decide([VariantStats(7, 1000, 150), VariantStats(("x", 1), 1000, 200)])
    assert decision.winner == ("x", 1)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, 95, float("nan")])
def test_invalid_confidence(confidence):
    with pytest.raises(ValueError):
        decide([VariantStats("A", 100, 10)], confidence=confidence)


def test_invalid_rule_and_min_trials():
    with pytest.raises(ValueError):
        decide([VariantStats("A", 100, 10)], rule="best")
    with pytest.raises(ValueError):
        decide([VariantStats("A", 100, 10)], min_trials=-1)


def test_accepts_any_sequence():
    variants = (VariantStats("A", 1000, 150), VariantStats("B", 1000, 200))
    assert decide(variants).winner == "B"
