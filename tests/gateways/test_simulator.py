"""The simulator's readers: a hidden preferred hour per number, clicks drawn from it."""

from collections import Counter

from sms_marketing.core.gateways.simulator import SimulatedReader


def test_preferred_hours_are_spread_over_the_day_and_stable():
    reader = SimulatedReader(seed="s1")
    hours = Counter(reader.preferred_hour(f"+86138{n:08d}") for n in range(12000))
    assert set(hours) == set(range(9, 21))
    assert min(hours.values()) > 800  # about 1,000 each
    assert reader.preferred_hour("+8613800000001") == SimulatedReader(seed="s1").preferred_hour(
        "+8613800000001"
    )
    assert SimulatedReader(seed="other").preferred_hour("+8613800000001") in range(9, 21)


def test_clicks_follow_the_hidden_hour():
    reader = SimulatedReader(seed="s2", base=0.04, near=0.14, peak=0.30)
    numbers = [f"+86139{n:08d}" for n in range(20000)]
    at_peak = sum(
        reader.clicks(number, reader.preferred_hour(number), f"a{i}")
        for i, number in enumerate(numbers)
    )
    far = sum(
        reader.clicks(number, (reader.preferred_hour(number) + 6) % 24, f"b{i}")
        for i, number in enumerate(numbers)
    )
    assert 0.28 < at_peak / len(numbers) < 0.32
    assert 0.03 < far / len(numbers) < 0.05
    assert reader.click_probability(numbers[0], reader.preferred_hour(numbers[0]) + 1) == 0.14
