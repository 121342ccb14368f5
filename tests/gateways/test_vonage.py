"""Vonage SMS API client against a local server speaking Vonage's wire format.

Bodies follow the SMS API reference and the "Troubleshooting SMS" / "Delivery receipts" /
"Inbound SMS" guides; the signature vectors are those of Vonage's own Python SDK test suite
(``tests/test_client.py`` in Vonage/vonage-python-sdk: params ``a=1, b=2,
timestamp=1461605396``, secret ``secret``).
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
from werkzeug import Response

from sms_marketing.core.gateways import base, vonage
from sms_marketing.core.gateways.base import OutboundSms, SignatureError, WebhookRequest

from .servers import HangUpServer

API_KEY = "abcd1234"
API_SECRET = "Sup3rS3cret"
SIGNATURE_SECRET = "sig-secret-0123456789"
CALLBACK = "https://odoo.example.com/sms/webhook/vonage/status/tok3n"


def sms(ref="t1", to="+447700900000", body="Hello", sender=None):
    return OutboundSms(ref=ref, to=to, body=body, sender=sender)


def answer(*parts, count=None):
    """The SMS API answer: one ``messages`` entry per part."""
    return {"message-count": str(count or len(parts)), "messages": list(parts)}


def part(message_id="0C000000217B7F02", price="0.03330000", status="0", **extra):
    entry = {
        "to": "447700900000",
        "message-id": message_id,
        "status": status,
        "remaining-balance": "15.53590000",
        "message-price": price,
        "network": "23410",
    }
    entry.update(extra)
    return entry


def refused(status, text):
    return answer({"status": str(status), "error-text": text})


@pytest.fixture
def settings(httpserver):
    return {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "sender": "AcmeShop",
        "base_url": httpserver.url_for("/").rstrip("/"),
    }


@pytest.fixture
def client(settings):
    return vonage.VonageClient(settings)


@pytest.fixture
def signed_client(settings):
    return vonage.VonageClient({**settings, "signature_secret": SIGNATURE_SECRET})


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hang_up_server():
    server = HangUpServer()
    yield server
    server.close()


def received(httpserver):
    assert len(httpserver.log) == 1
    return httpserver.log[0][0]


def wait_until_served(httpserver, count=1):
    deadline = time.monotonic() + 5
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def sign(params, secret=SIGNATURE_SECRET, method="md5hash"):
    """The "Signing messages" manual procedure, written out independently of the client."""
    text = ""
    for name in sorted(params):
        text += "&" + name + "=" + params[name].replace("&", "_").replace("=", "_")
    if method == "md5hash":
        return hashlib.md5((text + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), getattr(hashlib, method)).hexdigest()


def dlr(status="delivered", **extra):
    """A delivery receipt as the "Delivery receipts" guide shows it."""
    params = {
        "err-code": "0",
        "message-timestamp": "2018-10-25 12:10:29",
        "messageId": "0B00000127FDBC63",
        "msisdn": "447547232824",
        "network-code": "23410",
        "price": "0.03330000",
        "scts": "1810251310",
        "status": status,
        "to": "AcmeShop",
        "client-ref": "trace-42",
        "api-key": API_KEY,
    }
    params.update(extra)
    return params


def inbound_params(**extra):
    params = {
        "msisdn": "447700900001",
        "to": "447700900000",
        "messageId": "0A0000000123ABCD1",
        "text": "STOP",
        "type": "text",
        "keyword": "STOP",
        "api-key": API_KEY,
        "message-timestamp": "2020-01-01 12:00:00",
    }
    params.update(extra)
    return params


def get_request(params, url=CALLBACK):
    """Vonage's default: a GET with the fields in the query string."""
    return WebhookRequest("GET", f"{url}?{urlencode(params)}", query=dict(params))


def form_request(params, url=CALLBACK):
    return WebhookRequest(
        "POST",
        url,
        headers={"content-type": "application/x-www-form-urlencoded"},
        form=dict(params),
        body=urlencode(params).encode(),
    )


def json_request(params, url=CALLBACK):
    return WebhookRequest(
        "POST", url, headers={"content-type": "application/json"}, body=json.dumps(params).encode()
    )


def signed(params, timestamp="1700000000", **kwargs):
    params = {**params, "timestamp": timestamp, "nonce": "6bd2a2d5-5b40-4c88-8e11-40bd5e1f1f6a"}
    return {**params, "sig": sign(params, **kwargs)}


# -- configuration ----------------------------------------------------------------------------


def test_registered_under_vonage_with_one_message_per_request():
    assert base.get_client_class("vonage") is vonage.VonageClient
    assert vonage.VonageClient.max_batch == 1


@pytest.mark.parametrize("missing", ["api_key", "api_secret", "sender"])
def test_missing_setting_is_a_config_error_naming_it(settings, missing):
    del settings[missing]
    with pytest.raises(base.GatewayConfigError) as info:
        vonage.VonageClient(settings)
    assert info.value.field == missing


@pytest.mark.parametrize(
    ("field", "value"),
    [("signature_method", "sha3"), ("base_url", "rest.nexmo.com"), ("signature_max_age", "x")],
)
def test_bad_setting_is_a_config_error_naming_it(settings, field, value):
    settings[field] = value
    with pytest.raises(base.GatewayConfigError) as info:
        vonage.VonageClient(settings)
    assert info.value.field == field


def test_default_base_url_is_rest_nexmo_com():
    client = vonage.VonageClient({"api_key": "k", "api_secret": "s", "sender": "Acme"})
    assert client.send_url == "https://rest.nexmo.com/sms/json"


# -- sending ----------------------------------------------------------------------------------


def test_send_posts_documented_form(httpserver, client):
    httpserver.expect_request("/sms/json", method="POST").respond_with_json(answer(part()))
    client.send([sms(ref="trace-1", to="+44 7700 900000")])
    request = received(httpserver)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "from": "AcmeShop",
        "to": "447700900000",
        "text": "Hello",
        "client-ref": "trace-1",
    }


def test_text_outside_gsm7_is_sent_as_unicode(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(answer(part()))
    client.send([sms(body="您好，周六见")])
    form = received(httpserver).form
    assert (form["type"], form["text"]) == ("unicode", "您好，周六见")


def test_gsm7_extension_characters_stay_plain_text(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(answer(part()))
    client.send([sms(body="Price: 5€ [promo]")])
    assert "type" not in received(httpserver).form


def test_status_callback_requests_a_receipt_at_that_url(httpserver, settings):
    settings["status_callback"] = CALLBACK
    httpserver.expect_request("/sms/json").respond_with_json(answer(part()))
    vonage.VonageClient(settings).send([sms()])
    form = received(httpserver).form
    assert (form["status-report-req"], form["callback"]) == ("1", CALLBACK)


def test_without_status_callback_no_receipt_fields_are_sent(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(answer(part()))
    client.send([sms()])
    assert {"status-report-req", "callback"}.isdisjoint(received(httpserver).form)


@pytest.mark.parametrize(
    ("sender", "sent_as"),
    [("+447700900999", "447700900999"), ("MyShop", "MyShop"), (None, "AcmeShop")],
)
def test_message_sender_overrides_default_and_loses_its_plus(httpserver, client, sender, sent_as):
    httpserver.expect_request("/sms/json").respond_with_json(answer(part()))
    client.send([sms(sender=sender)])
    assert received(httpserver).form["from"] == sent_as


def test_accepted_message_gives_first_part_id_count_and_total_price(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(
        answer(part("0C0000001", "0.0333"), part("0C0000002", "0.0333"))
    )
    [result] = client.send([sms(ref="long", body="x" * 200)])
    assert (result.ref, result.accepted, result.provider_id, result.segments) == (
        "long",
        True,
        "0C0000001",
        2,
    )
    assert result.cost == pytest.approx(0.0666)


def test_several_messages_answer_in_order(httpserver, client):
    for message_id in ("ID1", "ID2"):
        httpserver.expect_oneshot_request("/sms/json").respond_with_json(answer(part(message_id)))
    results = client.send([sms(ref="a"), sms(ref="b")])
    assert [(r.ref, r.provider_id) for r in results] == [("a", "ID1"), ("b", "ID2")]


@pytest.mark.parametrize(
    ("status", "text", "kind", "code"),
    [
        ("1", "Throughput Rate Exceeded", base.RETRYABLE, base.ERR_RATE_LIMITED),
        ("2", "Missing to param", base.PERMANENT, base.ERR_REJECTED),
        ("3", "Invalid to param", base.PERMANENT, base.ERR_REJECTED),
        ("4", "Bad Credentials", base.RETRYABLE, base.ERR_AUTH),
        ("5", "Internal Error", base.RETRYABLE, base.ERR_SERVER),
        ("6", "Invalid Message", base.PERMANENT, base.ERR_REJECTED),
        ("7", "Number barred", base.PERMANENT, base.ERR_BLOCKED),
        ("8", "Partner account barred", base.RETRYABLE, base.ERR_AUTH),
        ("9", "Partner quota exceeded", base.PERMANENT, base.ERR_INSUFFICIENT_FUNDS),
        ("10", "Too many existing binds", base.RETRYABLE, base.ERR_RATE_LIMITED),
        ("11", "Account not enabled for HTTP", base.RETRYABLE, base.ERR_AUTH),
        ("12", "Message too long", base.PERMANENT, base.ERR_REJECTED),
        ("14", "Invalid signature", base.RETRYABLE, base.ERR_AUTH),
        ("15", "Illegal Sender Address - rejected", base.PERMANENT, base.ERR_REJECTED),
        ("22", "Invalid network code", base.PERMANENT, base.ERR_UNSUPPORTED_COUNTRY),
        ("23", "Invalid callback url", base.PERMANENT, base.ERR_REJECTED),
        ("29", "Non White-listed Destination", base.PERMANENT, base.ERR_BLOCKED),
        ("32", "Signature and api secret disallowed", base.RETRYABLE, base.ERR_AUTH),
        ("33", "Number de-activated", base.PERMANENT, base.ERR_INVALID_NUMBER),
        ("99", "Something new", base.PERMANENT, base.ERR_UNKNOWN),
    ],
)
def test_sms_api_status_codes_map_to_normalised_errors(
    httpserver, client, status, text, kind, code
):
    httpserver.expect_request("/sms/json").respond_with_json(refused(status, text))
    [result] = client.send([sms(ref="r1")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r1",
        False,
        kind,
        code,
    )
    assert result.error_message == f"{status}: {text}"


def test_message_with_a_refused_part_is_not_accepted(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(
        answer(part("ID1"), {"status": "1", "error-text": "Throughput Rate Exceeded"})
    )
    [result] = client.send([sms(body="x" * 200)])
    assert (result.accepted, result.error_code) == (False, base.ERR_RATE_LIMITED)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>proxy page</html>", "text/html"),
        ('{"message-count": "1", "messages": [', "application/json"),
        ('{"message-count": "1"}', "application/json"),
        ('{"message-count": "1", "messages": ["0"]}', "application/json"),
        ("", "text/plain"),
    ],
)
def test_unreadable_success_answer_is_ambiguous_never_resent(
    httpserver, client, body, content_type
):
    httpserver.expect_request("/sms/json").respond_with_data(body, content_type=content_type)
    [result] = client.send([sms(ref="r7")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r7",
        False,
        base.AMBIGUOUS,
        base.ERR_UNKNOWN,
    )


@pytest.mark.parametrize(
    "parts",
    [
        [part(message_id="")],  # accepted, but which message?
        [part(message_id=None)],
        [{"message-id": "0C000000217B7F02", "message-price": "0.03"}],  # no status at all
    ],
)
def test_success_answer_without_id_or_status_is_ambiguous(httpserver, client, parts):
    httpserver.expect_request("/sms/json").respond_with_json(answer(*parts))
    [result] = client.send([sms(ref="r8")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r8",
        False,
        base.AMBIGUOUS,
        base.ERR_UNKNOWN,
    )


def test_integer_status_zero_is_still_accepted(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_json(answer(part(status=0)))
    [result] = client.send([sms()])
    assert (result.accepted, result.provider_id) == (True, "0C000000217B7F02")


def test_http_429_is_rate_limited_with_retry_after(httpserver, client):
    httpserver.expect_request("/sms/json").respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "3"}
    )
    [result] = client.send([sms()])
    assert (result.error_kind, result.error_code, result.retry_after) == (
        base.RETRYABLE,
        base.ERR_RATE_LIMITED,
        3.0,
    )


@pytest.mark.parametrize(
    ("http_status", "code"), [(500, base.ERR_SERVER), (503, base.ERR_SERVER), (401, base.ERR_AUTH)]
)
def test_http_errors_are_retryable(httpserver, client, http_status, code):
    httpserver.expect_request("/sms/json").respond_with_data("oops", status=http_status)
    [result] = client.send([sms()])
    assert (result.error_kind, result.error_code) == (base.RETRYABLE, code)


def test_read_timeout_is_ambiguous_timeout(httpserver, settings):
    release = threading.Event()

    def slow(request):
        release.wait(5)
        return Response(json.dumps(answer(part())), content_type="application/json")

    httpserver.expect_request("/sms/json").respond_with_handler(slow)
    [result] = vonage.VonageClient(settings, timeout=0.05).send([sms(ref="slow")])
    release.set()
    wait_until_served(httpserver)
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "slow",
        False,
        base.AMBIGUOUS,
        base.ERR_TIMEOUT,
    )


def test_connection_closed_after_the_request_is_ambiguous_network_error(settings, hang_up_server):
    settings["base_url"] = hang_up_server.url
    [result] = vonage.VonageClient(settings, timeout=2).send([sms(ref="lost")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "lost",
        False,
        base.AMBIGUOUS,
        base.ERR_NETWORK,
    )
    [(head, body)] = hang_up_server.requests
    assert head.startswith(b"POST /sms/json ")
    assert b"client-ref=lost" in body
    assert API_SECRET not in result.error_message


def test_connection_refused_is_retryable_network_error(settings, closed_port_url):
    settings["base_url"] = closed_port_url
    [result] = vonage.VonageClient(settings, timeout=1).send([sms(ref="down")])
    assert (result.ref, result.error_kind, result.error_code) == (
        "down",
        base.RETRYABLE,
        base.ERR_NETWORK,
    )
    assert API_SECRET not in result.error_message


# -- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("md5hash", "6af838ef94998832dbfc29020b564830"),
        ("md5", "c15c21ced558c93a226c305f58f902f2"),
        ("sha1", "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"),
        ("sha256", "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24"),
        (
            "sha512",
            "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c"
            "63ed26ec9702168781b6edcf1633db8ff95af9341701004eec3fcf9550572ee8",
        ),
    ],
)
def test_compute_signature_matches_vonage_sdk_vectors(method, expected):
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage.compute_signature(params, "secret", method) == expected
    assert vonage.compute_signature({**params, "sig": expected}, "secret", method) == expected


def test_without_signature_secret_unsigned_webhooks_are_accepted(client):
    client.verify_webhook(get_request(dlr()), base.WEBHOOK_STATUS)


def test_signed_receipt_by_get_verifies(signed_client):
    signed_client.verify_webhook(get_request(signed(dlr())), base.WEBHOOK_STATUS)


def test_signed_inbound_by_post_form_verifies(signed_client):
    signed_client.verify_webhook(form_request(signed(inbound_params())), base.WEBHOOK_INBOUND)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_hmac_signed_json_webhook_verifies_even_upper_case(settings, method):
    client = vonage.VonageClient(
        {**settings, "signature_secret": SIGNATURE_SECRET, "signature_method": method}
    )
    params = signed(inbound_params(), method=method)
    params["sig"] = params["sig"].upper()
    client.verify_webhook(json_request(params), base.WEBHOOK_INBOUND)


def test_values_with_ampersand_and_equals_are_signed_with_underscores(signed_client):
    params = signed(inbound_params(text="a=b & c"))
    signed_client.verify_webhook(get_request(params), base.WEBHOOK_INBOUND)


def test_missing_sig_is_refused_when_a_secret_is_set(signed_client):
    with pytest.raises(SignatureError):
        signed_client.verify_webhook(get_request(dlr()), base.WEBHOOK_STATUS)


def test_wrong_sig_is_refused(signed_client):
    params = signed(dlr(), secret="someone-else")
    with pytest.raises(SignatureError):
        signed_client.verify_webhook(get_request(params), base.WEBHOOK_STATUS)


def test_tampered_value_is_refused(signed_client):
    params = {**signed(dlr("failed")), "status": "delivered"}
    with pytest.raises(SignatureError):
        signed_client.verify_webhook(form_request(params), base.WEBHOOK_STATUS)


def test_signature_method_setting_is_honoured(settings):
    client = vonage.VonageClient(
        {**settings, "signature_secret": SIGNATURE_SECRET, "signature_method": "sha256"}
    )
    with pytest.raises(SignatureError):  # an MD5-hash signature is not a SHA-256 HMAC one
        client.verify_webhook(get_request(signed(dlr())), base.WEBHOOK_STATUS)


def test_timestamp_age_is_not_checked_by_default(signed_client):
    signed_client.verify_webhook(get_request(signed(dlr(), timestamp="1")), "status", now=2e9)


@pytest.mark.parametrize(("age", "accepted"), [(0, True), (299, True), (-299, True), (301, False)])
def test_signature_max_age_refuses_stale_signed_requests(settings, age, accepted):
    client = vonage.VonageClient(
        {**settings, "signature_secret": SIGNATURE_SECRET, "signature_max_age": 300}
    )
    request = get_request(signed(dlr(), timestamp="1700000000"))
    if accepted:
        client.verify_webhook(request, base.WEBHOOK_STATUS, now=1700000000 + age)
    else:
        with pytest.raises(SignatureError):
            client.verify_webhook(request, base.WEBHOOK_STATUS, now=1700000000 + age)


def test_signature_max_age_requires_a_timestamp(settings):
    client = vonage.VonageClient(
        {**settings, "signature_secret": SIGNATURE_SECRET, "signature_max_age": 300}
    )
    params = dlr()
    params["sig"] = sign(params)
    with pytest.raises(SignatureError):
        client.verify_webhook(get_request(params), base.WEBHOOK_STATUS, now=1700000000)


# -- delivery receipts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dlr_status", "status"),
    [
        ("accepted", base.STATUS_SENT),
        ("buffered", base.STATUS_SENT),
        ("delivered", base.STATUS_DELIVERED),
        ("expired", base.STATUS_UNDELIVERED),
        ("failed", base.STATUS_UNDELIVERED),
        ("rejected", base.STATUS_FAILED),
    ],
)
def test_receipt_status_maps_to_normalised_status(client, dlr_status, status):
    [report] = client.parse_status(get_request(dlr(dlr_status)))
    assert (report.provider_id, report.status) == ("0B00000127FDBC63", status)


@pytest.mark.parametrize("dlr_status", ["unknown", "", "weird"])
def test_receipt_without_useful_status_is_ignored(client, dlr_status):
    assert client.parse_status(get_request(dlr(dlr_status))) == []


def test_receipt_carries_ref_recipient_time_and_no_error_when_delivered(client):
    [report] = client.parse_status(get_request(dlr()))
    assert report == base.StatusReport(
        provider_id="0B00000127FDBC63",
        status=base.STATUS_DELIVERED,
        ref="trace-42",
        to="+447547232824",
        occurred_at=datetime(2018, 10, 25, 12, 10, 29),
    )


def test_failed_receipt_carries_err_code_and_its_meaning(client):
    [report] = client.parse_status(form_request(dlr("failed", **{"err-code": "3"})))
    assert (report.status, report.error_code, report.error_message) == (
        base.STATUS_UNDELIVERED,
        "3",
        "Absent Subscriber - Permanent",
    )


def test_receipt_posted_as_json_is_parsed(client):
    [report] = client.parse_status(json_request(dlr("rejected", **{"err-code": "6"})))
    assert (report.status, report.error_code, report.ref) == (base.STATUS_FAILED, "6", "trace-42")


def test_receipt_without_message_id_is_ignored(client):
    params = {key: value for key, value in dlr().items() if key != "messageId"}
    assert client.parse_status(get_request(params)) == []


# -- inbound ----------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [get_request, form_request, json_request])
def test_inbound_message_is_parsed_whatever_the_http_method(client, build):
    [inbound] = client.parse_inbound(build(inbound_params()))
    assert inbound == base.InboundSms(
        sender="+447700900001",
        body="STOP",
        to="+447700900000",
        provider_id="0A0000000123ABCD1",
        received_at=datetime(2020, 1, 1, 12, 0, 0),
    )


def test_inbound_binary_message_is_ignored(client):
    assert client.parse_inbound(get_request(inbound_params(type="binary", text=""))) == []


def test_inbound_without_sender_is_ignored(client):
    params = {key: value for key, value in inbound_params().items() if key != "msisdn"}
    assert client.parse_inbound(get_request(params)) == []


def test_webhooks_are_answered_204(client):
    assert client.webhook_response(base.WEBHOOK_STATUS) == base.WebhookResponse(204)
    assert client.webhook_response(base.WEBHOOK_INBOUND) == base.WebhookResponse(204)
