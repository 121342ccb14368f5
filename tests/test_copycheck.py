"""The copy assistant on real-world messages: which rules pass, which give a hint."""

import pytest

from sms_marketing.core import copycheck

# (message, region, footer added by the campaign, gateway signature, hints expected)
MESSAGES = [
    (
        "{{ first_name }}, 30% off everything today only: https://shop.example/sale",
        "US",
        True,
        False,
        set(),
    ),
    (
        "【优品汇】{{ first_name }}，新品8折限时3天，点击 https://m.youpin.example/s 回复TD退订",
        "CN",
        False,
        False,
        set(),
    ),
    (
        "{{ name }}您好，您的购物车商品即将售罄，今天下单立减20元：{{ cart_url }}",
        "CN",
        True,
        True,
        set(),
    ),
    # no value up front, no name, no urgency, no link or keyword
    (
        "We have updated our store. Come and see us.",
        "US",
        True,
        False,
        {"value", "personal", "urgency", "action"},
    ),
    # a Western text that one curly apostrophe turns into UCS-2
    (
        "{{ first_name }}, 20% off today at Tom’s Café: https://toms.example",
        "US",
        True,
        False,
        {"length"},
    ),
    # three segments of GSM-7
    (
        "{{ first_name }}, 10% off today: https://x.example " + "great deals " * 40,
        "US",
        True,
        False,
        {"length"},
    ),
    # US without STOP and without the campaign footer
    (
        "{{ first_name }}: 2 for 1 tonight, show this SMS in store.",
        "US",
        False,
        False,
        {"optout", "action"},
    ),
    # China: no signature (the gateway adds none), no 退订
    (
        "{{ first_name }}，双十一全场5折，今晚12点结束，回复1领券",
        "CN",
        False,
        False,
        {"optout", "signature"},
    ),
    # EU: the sender does not name itself
    (
        "{{ first_name }}, -25% this weekend: https://shop.example/eu Reply STOP to opt out",
        "EU",
        False,
        False,
        {"signature"},
    ),
    (
        "Acme: {{ first_name }}, -25% this weekend: https://shop.example/eu STOP to opt out",
        "EU",
        False,
        False,
        set(),
    ),
    # public shorteners are filtered by carriers
    ("{{ first_name }}, 15% off today: https://bit.ly/3xYz", "US", True, False, {"shortener"}),
    ("{{ first_name }}，限时5折 http://t.cn/A6abc 回复TD退订", "CN", False, True, {"shortener"}),
    # shouting and spam words
    (
        "{{ first_name }} HUGE SALE TODAY ONLY!!! 50% OFF https://shop.example",
        "US",
        True,
        False,
        {"caps", "spam"},
    ),
    (
        "Congratulations {{ first_name }}, you are a WINNER! Claim your cash prize now: "
        "https://claim.example",
        "US",
        True,
        False,
        {"spam", "value"},
    ),
    (
        "{{ first_name }}，恭喜您获得中奖资格，今天领取：https://x.example 回复TD退订",
        "CN",
        False,
        True,
        {"spam", "value"},
    ),
    # a reply keyword is a call to action; the opt-out keyword is not
    ("{{ first_name }}, free tasting tonight. Reply YES to book a seat.", "US", True, False, set()),
    (
        "{{ first_name }}, free tasting tonight. Reply STOP to opt out.",
        "US",
        False,
        False,
        {"action"},
    ),
    # the Chinese opt-out replies are no call to action either (T, N, R as well as TD)
    ("{{ first_name }}，新品8折，今晚截止，回复T退订", "CN", False, True, {"action"}),
    ("{{ first_name }}，新品8折，今晚截止，拒收请回复R", "CN", False, True, {"action"}),
    ("{{ first_name }}，新品8折，今晚截止，回复1参与 回复N退订", "CN", False, True, set()),
]


@pytest.mark.parametrize(("body", "region", "footer", "signature", "hints"), MESSAGES)
def test_real_world_messages(body, region, footer, signature, hints):
    results = copycheck.check(
        body, region=region, footer_added=footer, signature_added=signature, company="Acme"
    )
    assert [result.rule for result in results] == list(copycheck.RULES)
    assert {result.rule for result in results if not result.passed} == hints


def test_values_explain_the_hints():
    results = {
        r.rule: r
        for r in copycheck.check(
            "Tom’s Café: FREE GIFT FOR YOU TODAY!!! https://bit.ly/x", region="US"
        )
    }
    assert results["length"].values["characters"] == "’"  # é is in GSM-7
    assert results["shortener"].values["hosts"] == ["bit.ly"]
    assert results["caps"].values["words"] == ["FREE", "GIFT", "FOR", "YOU", "TODAY"]
    assert results["spam"].values["exclaims"] is True
    assert results["personal"].values["placeholders"] == []


@pytest.mark.parametrize(
    ("country", "region"),
    [("CN", "CN"), ("cn", "CN"), ("US", "US"), ("CA", "US"), ("FR", "EU"), ("DE", "EU"),
     ("GB", None), ("", None), (None, None)],
)  # fmt: skip
def test_region_of_country(country, region):
    assert copycheck.region_of(country) == region


def test_empty_message_passes_nothing_useful():
    results = {r.rule: r for r in copycheck.check("")}
    assert not results["value"].passed
    assert not results["action"].passed
    assert results["length"].passed  # nothing to pay for yet
