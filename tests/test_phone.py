"""Phone normalisation: the formats people type, the types and zones the sender needs."""

import pytest

from sms_marketing.core import phone


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 13800138000", "CN", "+8613800138000"),
        ("008613800138000", "CN", "+8613800138000"),
        ("+86-138-0013-8000", "CN", "+8613800138000"),
        ("+86 13800138000", None, "+8613800138000"),
        ("+86 13800138000", "US", "+8613800138000"),
        ("008613800138000", "US", "+8613800138000"),
        ("008613800138000", None, "+8613800138000"),
        ("＋８６ １３８ ００１３ ８０００", "CN", "+8613800138000"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "CN", "+14155552671"),
        ("011 44 7911 123456", "US", "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("tel:+33-6-12-34-56-78", None, "+33612345678"),
        ("8613800138000", None, "+8613800138000"),
    ],
)
def test_normalize_to_e164(raw, region, e164):
    assert phone.to_e164(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "number_type", "country", "tz"),
    [
        ("13800138000", "CN", phone.MOBILE, "CN", "Asia/Shanghai"),
        ("010 6552 9988", "CN", phone.FIXED_LINE, "CN", "Asia/Shanghai"),
        ("+1 415 555 2671", None, phone.FIXED_OR_MOBILE, "US", "America/Los_Angeles"),
        ("+44 7400 123456", None, phone.MOBILE, "GB", "Europe/London"),
        ("+7 916 123 45 67", None, phone.MOBILE, "RU", None),
        ("+44 20 7946 0018", None, phone.FIXED_LINE, "GB", "Europe/London"),
        ("+44 56 1234 5678", None, phone.VOIP, "GB", "Europe/London"),
        ("+33 6 12 34 56 78", None, phone.MOBILE, "FR", "Europe/Paris"),
        ("+1 800 253 0000", None, phone.OTHER, "US", None),  # toll-free spans every US zone
    ],
)
def test_type_country_and_time_zone(raw, region, number_type, country, tz):
    info = phone.normalize(raw, region)
    assert (info.number_type, info.region) == (number_type, country)
    assert info.time_zone == tz


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("12345", "CN"),
        ("not a number", "CN"),
        ("+86 138", None),
        ("138 0013 8000", None),  # national format without a region cannot be read
        ("+999 1234 5678", None),
        ("0000000000", "US"),
    ],
)
def test_invalid_numbers_have_no_e164(raw, region):
    info = phone.normalize(raw, region)
    assert info.number_type == phone.INVALID
    assert info.e164 is None and not info.is_valid and not info.sms_capable


@pytest.mark.parametrize("raw", [None, "", "   ", False])
def test_empty_input_is_no_number(raw):
    assert phone.normalize(raw, "CN") is None
    assert phone.to_e164(raw, "CN") is None


def test_first_number_prefers_mobile_then_valid_then_invalid():
    mobile, landline, bad = "13800138000", "010 6552 9988", "123"
    assert phone.first_number([mobile, landline], "CN").e164 == "+8613800138000"
    # a landline in the mobile field does not hide a real mobile in the phone field
    assert phone.first_number([landline, mobile], "CN").e164 == "+8613800138000"
    assert phone.first_number([bad, landline], "CN").number_type == phone.FIXED_LINE
    assert phone.first_number([bad, ""], "CN").number_type == phone.INVALID
    assert phone.first_number(["", None], "CN") is None
