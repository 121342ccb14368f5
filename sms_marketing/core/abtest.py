"""Pick the winner of an A/B(/n) SMS campaign test from per-variant counts.

Each variant is a number of *trials* (messages delivered) and *successes*
(recipients who clicked, replied or converted). The question asked is "is
the best-looking variant really better than every other one, or could the
difference be noise?".

Method:

* **Two-proportion z-test with pooled variance** (:func:`two_proportion_z_test`),
  the textbook large-sample test for comparing two binomial proportions
  (NIST/SEMATECH e-Handbook of Statistical Methods, section 7.3.3; Agresti,
  *An Introduction to Categorical Data Analysis*, 3rd ed., section 2.2)::

      p = (x_a + x_b) / (n_a + n_b)
      z = (x_a / n_a - x_b / n_b) / sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))
      p_value = erfc(|z| / sqrt(2))          # two-sided, = 2 * (1 - Phi(|z|))

  ``z`` is positive when ``a`` has the higher rate. When the pooled variance
  is zero (both rates 0 or both 1) or a side has no trials there is no
  evidence either way: ``(0.0, 1.0)``.
* **Leader against every other variant.** The *leader* is the variant with
  the highest rate (ties go to the earliest in the sequence; variants
  without trials cannot lead). With ``k`` variants it is compared with each
  of the other ``k - 1``. The question is one-sided ("is the leader
  better?") but the two-sided p-value is used, which is the conservative
  choice because the leader was picked after looking at the data.
* **Bonferroni correction** for the ``k - 1`` comparisons: the result is
  significant only if *every* comparison has ``p * (k - 1) < 1 - confidence``.
  The reported ``p_value`` is the largest corrected p (capped at 1.0) and
  ``z`` the smallest z, i.e. the weakest of the comparisons.
* **Validity of the normal approximation.** The z-test needs roughly five
  expected successes and five expected failures per group (the usual
  ``n * p >= 5`` and ``n * (1 - p) >= 5`` rule, with ``p`` the pooled rate of
  the pair being compared), plus a floor of ``min_trials`` trials per
  variant so that a handful of early clicks cannot end a test. When any
  comparison fails this the decision is :data:`TOO_FEW` and no statistic is
  reported. A variant with no trials at all (not sent yet) therefore keeps
  the test at :data:`TOO_FEW`.

When the result is not significant (or there is too little data) ``rule``
says what to send to the rest of the audience: :data:`RULE_LEADER` the
current leader, :data:`RULE_FIRST` the first variant (the control), or
:data:`RULE_WAIT` nothing yet (``winner`` is ``None``). A significant result
always names the leader as winner, whatever the rule.

A single variant is never significant (there is nothing to compare it
with); with enough trials its reason is :data:`NOT_SIGNIFICANT`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "NOT_SIGNIFICANT",
    "NO_DATA",
    "RULES",
    "RULE_FIRST",
    "RULE_LEADER",
    "RULE_WAIT",
    "SIGNIFICANT",
    "TOO_FEW",
    "Decision",
    "VariantStats",
    "decide",
    "two_proportion_z_test",
]

# Decision reasons.
SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not_significant"
TOO_FEW = "too_few"
NO_DATA = "no_data"

# What to pick when the test is not (yet) significant.
RULE_LEADER = "leader"
RULE_FIRST = "first"
RULE_WAIT = "wait"
RULES = (RULE_LEADER, RULE_FIRST, RULE_WAIT)

# Minimum expected successes and failures per group for the normal approximation.
_MIN_EXPECTED = 5


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0:
        raise ValueError(f"counts must be non-negative (successes={successes}, trials={trials})")
    if successes > trials:
        raise ValueError(f"successes ({successes}) cannot exceed trials ({trials})")


@dataclass(frozen=True)
class VariantStats:
    """Counts for one variant: ``key`` identifies it (an id, a name...)."""

    key: object
    trials: int
    successes: int

    def __post_init__(self) -> None:
        _check_counts(self.successes, self.trials)

    @property
    def rate(self) -> float:
        """Success rate, ``0.0`` when nothing was sent."""
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class Decision:
    """Outcome of :func:`decide`.

    ``winner`` and ``leader`` are variant keys (or ``None``); ``p_value`` is
    the Bonferroni-corrected p-value and ``z`` the smallest z-score, both
    ``None`` when no test was run (:data:`NO_DATA`, :data:`TOO_FEW`, or a
    single variant). ``reason`` is one of the module's reason constants.
    """

    winner: object | None
    leader: object | None
    significant: bool
    p_value: float | None
    z: float | None
    reason: str


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float]:
    """Pooled two-proportion z-test of ``a`` against ``b``.

    Input: successes and trials of each group.
    Output: ``(z, p_value)``, ``z`` positive when ``a``'s rate is higher and
    ``p_value`` two-sided; ``(0.0, 1.0)`` when a group has no trials or the
    pooled variance is zero (both rates 0 or both 1).
    Raises ``ValueError`` for a negative count or more successes than trials.
    """
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        return 0.0, 1.0
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1.0 - pooled) * (1.0 / trials_a + 1.0 / trials_b)
    if variance <= 0.0:
        return 0.0, 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def _approximation_valid(leader: VariantStats, other: VariantStats, min_trials: int) -> bool:
    total = leader.trials + other.trials
    if total == 0:
        return False
    pooled = (leader.successes + other.successes) / total
    for variant in (leader, other):
        if variant.trials < min_trials:
            return False
        if variant.trials * pooled < _MIN_EXPECTED:
            return False
        if variant.trials * (1.0 - pooled) < _MIN_EXPECTED:
            return False
    return True


def _find_leader(variants: Sequence[VariantStats]) -> int | None:
    best: int | None = None
    for index, variant in enumerate(variants):
        if variant.trials == 0:
            continue
        if best is None:
            best = index
            continue
        current = variants[best]
        # Exact comparison of successes/trials by cross-multiplication; a strict
        # ">" keeps the earliest variant on ties.
        if variant.successes * current.trials > current.successes * variant.trials:
            best = index
    return best


def decide(
    variants: Sequence[VariantStats],
    confidence: float = 0.95,
    rule: str = RULE_LEADER,
    min_trials: int = 30,
) -> Decision:
    """Decide which variant wins an A/B(/n) test.

    Input: the variants' counts (order matters: ties and :data:`RULE_FIRST`
    use it), the confidence level in (0, 1), the fallback ``rule`` (one of
    :data:`RULES`) and the minimum number of trials per variant.
    Output: a :class:`Decision`; see the module docstring for the method.
    Raises ``ValueError`` for a confidence outside (0, 1), an unknown rule
    or a negative ``min_trials``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    if min_trials < 0:
        raise ValueError(f"min_trials must be non-negative, got {min_trials!r}")

    variants = list(variants)
    leader_index = _find_leader(variants)
    leader = variants[leader_index] if leader_index is not None else None
    leader_key = leader.key if leader is not None else None

    def fallback(reason: str, p_value: float | None = None, z: float | None = None) -> Decision:
        if rule == RULE_LEADER:
            winner = leader_key
        elif rule == RULE_FIRST:
            winner = variants[0].key if variants else None
        else:
            winner = None
        return Decision(winner, leader_key, False, p_value, z, reason)

    if leader is None:
        return fallback(NO_DATA)
    others = [variant for index, variant in enumerate(variants) if index != leader_index]
    if leader.trials < min_trials or not all(
        _approximation_valid(leader, other, min_trials) for other in others
    ):
        return fallback(TOO_FEW)
    if not others:
        return fallback(NOT_SIGNIFICANT)

    comparisons = len(others)
    alpha = 1.0 - confidence
    corrected: list[float] = []
    z_scores: list[float] = []
    for other in others:
        z, p_value = two_proportion_z_test(
            leader.successes, leader.trials, other.successes, other.trials
        )
        corrected.append(p_value * comparisons)
        z_scores.append(z)
    # Compare the uncapped values: p * (k - 1) < alpha for every comparison.
    significant = all(p < alpha for p in corrected)
    p_value = min(max(corrected), 1.0)
    z = min(z_scores)
    if significant:
        return Decision(leader_key, leader_key, True, p_value, z, SIGNIFICANT)
    return fallback(NOT_SIGNIFICANT, p_value, z)
