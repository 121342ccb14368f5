"""Twilio client against a local server speaking Twilio's wire format.

Response bodies follow the "Messages resource" reference and "Twilio API responses"; the
signature vectors come from Twilio: the "Secure webhooks" page example (auth token
``12345``, ``https://mycompany.com/myapp.php?foo=1&bar=2``) and the test suite of Twilio's
own Python helper library (``tests/unit/test_request_validator.py`` in twilio/twilio-python).
"""

import base64
import hashlib
import hmac
import socket
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from werkzeug import Response

from sms_marketing.core.gateways import base, twilio
from sms_marketing.core.gateways.base import (
    OutboundSms,
    SignatureError,
    WebhookRequest,
)

from .servers import HangUpServer

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLBACK = "https://odoo.example.com/sms/webhook/twilio/status/tok3n"


def created(sid="SM00000000000000000000000000000001", **fields):
    """A 201 Message resource as the Create a Message reference shows it."""
    resource = {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": "Hello",
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+15557122661",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"{MESSAGES_PATH[:-5]}/{sid}/Media.json"},
        "to": "+15558675310",
        "uri": f"{MESSAGES_PATH[:-5]}/{sid}.json",
    }
    resource.update(fields)
    return resource


def twilio_error(code, message, status):
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def sms(ref="t1", to="+15558675310", body="Hello", sender=None):
    return OutboundSms(ref=ref, to=to, body=body, sender=sender)


@pytest.fixture
def settings(httpserver):
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "sender": "+15557122661",
        "base_url": httpserver.url_for("/").rstrip("/"),
    }


@pytest.fixture
def client(settings):
    return twilio.TwilioClient(settings)


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
    """Let the (single-threaded) server finish a request the client gave up on, so it does
    not land in the next test's log."""
    deadline = time.monotonic() + 5
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def sign(url, params, token=AUTH_TOKEN):
    """Twilio's documented algorithm, written out independently of the client."""
    data = url
    for name in sorted(params):
        data += name + params[name]
    mac = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def twilio_post(url, form, signature=None, token=AUTH_TOKEN):
    """A webhook request as Twilio sends it: form POST to ``url``, signed."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not False:
        headers["x-twilio-signature"] = signature or sign(url, form, token)
    return WebhookRequest(
        method="POST",
        url=url,
        headers=headers,
        query=dict(parse_qsl(urlsplit(url).query)),
        form=form,
        body=urlencode(form).encode(),
    )


def status_form(status="delivered", **extra):
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": "+15557122661",
        "MessageSid": "SM00000000000000000000000000000001",
        "MessageStatus": status,
        "SmsSid": "SM00000000000000000000000000000001",
        "SmsStatus": status,
        "To": "+15558675310",
    }
    form.update(extra)
    return form


INBOUND_FORM = {
    "ToCountry": "US",
    "ToState": "CA",
    "SmsMessageSid": "SM00000000000000000000000000000009",
    "NumMedia": "0",
    "ToCity": "",
    "FromZip": "",
    "SmsSid": "SM00000000000000000000000000000009",
    "FromState": "",
    "SmsStatus": "received",
    "FromCity": "",
    "Body": "STOP",
    "FromCountry": "GB",
    "To": "+15557122661",
    "ToZip": "",
    "NumSegments": "1",
    "MessageSid": "SM00000000000000000000000000000009",
    "AccountSid": ACCOUNT_SID,
    "From": "+447700900123",
    "ApiVersion": "2010-04-01",
}


# -- configuration ----------------------------------------------------------------------------


def test_registered_under_twilio_with_one_message_per_request():
    assert base.get_client_class("twilio") is twilio.TwilioClient
    assert twilio.TwilioClient.max_batch == 1


@pytest.mark.parametrize("missing", ["account_sid", "auth_token"])
def test_missing_credential_is_a_config_error_naming_it(settings, missing):
    del settings[missing]
    with pytest.raises(base.GatewayConfigError) as info:
        twilio.TwilioClient(settings)
    assert info.value.field == missing


def test_neither_sender_nor_messaging_service_is_a_config_error(settings):
    del settings["sender"]
    with pytest.raises(base.GatewayConfigError) as info:
        twilio.TwilioClient(settings)
    assert info.value.field == "sender"


def test_base_url_must_be_http(settings):
    settings["base_url"] = "ftp://api.twilio.com"
    with pytest.raises(base.GatewayConfigError) as info:
        twilio.TwilioClient(settings)
    assert info.value.field == "base_url"


def test_default_base_url_is_twilio_api():
    client = twilio.TwilioClient(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "sender": "+15557122661"}
    )
    assert client.messages_url == f"https://api.twilio.com{MESSAGES_PATH}"


# -- sending ----------------------------------------------------------------------------------


def test_send_posts_create_message_form_with_basic_auth(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_json(created(), status=201)
    client.send([sms(body="Hello 世界")])
    request = received(httpserver)
    assert request.content_type == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.form.to_dict() == {
        "To": "+15558675310",
        "From": "+15557122661",
        "Body": "Hello 世界",
    }


def test_send_returns_sid_segments_and_ref(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        created(sid="SMabc", num_segments="2"), status=201
    )
    [result] = client.send([sms(ref="trace-42")])
    assert result == base.SendResult("trace-42", True, provider_id="SMabc", segments=2)


def test_send_several_messages_answers_in_order(httpserver, client):
    for sid in ("SM1", "SM2", "SM3"):
        httpserver.expect_oneshot_request(MESSAGES_PATH).respond_with_json(
            created(sid=sid), status=201
        )
    results = client.send([sms(ref="a"), sms(ref="b"), sms(ref="c")])
    assert [(r.ref, r.provider_id) for r in results] == [("a", "SM1"), ("b", "SM2"), ("c", "SM3")]


def test_messaging_service_sid_takes_precedence_over_sender(httpserver, settings):
    settings["messaging_service_sid"] = "MG00000000000000000000000000000001"
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        created(status="accepted", num_segments="0"), status=201
    )
    twilio.TwilioClient(settings).send([sms()])
    form = received(httpserver).form
    assert form["MessagingServiceSid"] == "MG00000000000000000000000000000001"
    assert "From" not in form


def test_message_sender_overrides_default_sender(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(created(), status=201)
    client.send([sms(sender="MyShop")])
    assert received(httpserver).form["From"] == "MyShop"


def test_status_callback_carries_ref_as_query_parameter(httpserver, settings):
    settings["status_callback"] = CALLBACK
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(created(), status=201)
    twilio.TwilioClient(settings).send([sms(ref="trace 7")])
    assert received(httpserver).form["StatusCallback"] == f"{CALLBACK}?sms_ref=trace+7"


def test_status_callback_existing_query_is_kept_verbatim(httpserver, settings):
    settings["status_callback"] = "https://odoo.example.com/hook?token=a%2Fb"
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(created(), status=201)
    twilio.TwilioClient(settings).send([sms(ref="r1")])
    assert (
        received(httpserver).form["StatusCallback"]
        == "https://odoo.example.com/hook?token=a%2Fb&sms_ref=r1"
    )


def test_no_status_callback_setting_sends_none(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(created(), status=201)
    client.send([sms()])
    assert "StatusCallback" not in received(httpserver).form


def test_zero_segments_from_messaging_service_falls_back_on_encoding(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        created(num_segments="0", status="accepted"), status=201
    )
    [result] = client.send([sms(body="中" * 71)])  # UCS-2 beyond 70 units: 2 parts
    assert result.accepted and result.segments == 2


def test_price_when_present_becomes_positive_cost(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        created(price="-0.00790"), status=201
    )
    [result] = client.send([sms()])
    assert result.cost == pytest.approx(0.0079)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>ok</html>", "text/html"),
        ('{"sid": "SM0000', "application/json"),
        ('{"status": "queued", "sid": null}', "application/json"),
        ("[]", "application/json"),
        ("", "text/plain"),
    ],
)
def test_unreadable_or_sidless_success_is_ambiguous_never_resent(
    httpserver, client, body, content_type
):
    httpserver.expect_request(MESSAGES_PATH).respond_with_data(
        body, status=201, content_type=content_type
    )
    [result] = client.send([sms(ref="r9")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r9",
        False,
        base.AMBIGUOUS,
        base.ERR_UNKNOWN,
    )


@pytest.mark.parametrize(
    ("http_status", "code", "text", "kind", "error_code"),
    [
        (400, 21211, "The 'To' number 5551234567 is not a valid phone number.",
         base.PERMANENT, base.ERR_INVALID_NUMBER),
        (400, 21612, "The 'To' phone number is not currently reachable",
         base.PERMANENT, base.ERR_INVALID_NUMBER),
        (400, 21614, "'To' number is not a valid mobile number",
         base.PERMANENT, base.ERR_INVALID_NUMBER),
        (400, 21610, "Attempt to send to unsubscribed recipient",
         base.PERMANENT, base.ERR_BLOCKED),
        (400, 21408, "Permission to send an SMS has not been enabled for the region",
         base.PERMANENT, base.ERR_UNSUPPORTED_COUNTRY),
        (401, 20003, "Authenticate", base.RETRYABLE, base.ERR_AUTH),
        (400, 21611, "This 'From' number has exceeded the maximum number of queued messages",
         base.RETRYABLE, base.ERR_RATE_LIMITED),
        (400, 21606, "The 'From' phone number provided is not a valid message-capable number",
         base.PERMANENT, base.ERR_REJECTED),
        (404, 20404, "The requested resource was not found", base.PERMANENT, base.ERR_REJECTED),
        (403, 20005, "Account not active", base.RETRYABLE, base.ERR_AUTH),
    ],
)  # fmt: skip
def test_twilio_error_codes_map_to_normalised_errors(
    httpserver, client, http_status, code, text, kind, error_code
):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        twilio_error(code, text, http_status), status=http_status
    )
    [result] = client.send([sms(ref="r1")])
    assert (result.ref, result.accepted) == ("r1", False)
    assert (result.error_kind, result.error_code) == (kind, error_code)
    assert result.error_message == f"{code}: {text}"


def test_429_too_many_requests_is_retryable_with_retry_after(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(
        twilio_error(20429, "Too Many Requests", 429), status=429, headers={"Retry-After": "7"}
    )
    [result] = client.send([sms()])
    assert (result.error_kind, result.error_code, result.retry_after) == (
        base.RETRYABLE,
        base.ERR_RATE_LIMITED,
        7.0,
    )


def test_429_without_twilio_body_still_rate_limited(httpserver, client):
    httpserver.expect_request(MESSAGES_PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "2"}
    )
    [result] = client.send([sms()])
    assert (result.error_code, result.retry_after) == (base.ERR_RATE_LIMITED, 2.0)


@pytest.mark.parametrize("http_status", [500, 502, 503, 408])
def test_server_errors_are_retryable(httpserver, client, http_status):
    httpserver.expect_request(MESSAGES_PATH).respond_with_data(
        "<html>Service Unavailable</html>", status=http_status
    )
    [result] = client.send([sms()])
    assert (result.error_kind, result.error_code) == (base.RETRYABLE, base.ERR_SERVER)


def test_read_timeout_is_ambiguous_timeout(httpserver, settings):
    release = threading.Event()

    def slow(request):
        release.wait(5)
        return Response("{}", status=201)

    httpserver.expect_request(MESSAGES_PATH).respond_with_handler(slow)
    [result] = twilio.TwilioClient(settings, timeout=0.05).send([sms(ref="slow")])
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
    [result] = twilio.TwilioClient(settings, timeout=2).send([sms(ref="lost")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "lost",
        False,
        base.AMBIGUOUS,
        base.ERR_NETWORK,
    )
    [(head, body)] = hang_up_server.requests
    assert head.startswith(f"POST {MESSAGES_PATH} ".encode())
    assert b"To=%2B15558675310" in body
    assert AUTH_TOKEN not in result.error_message


def test_connection_refused_is_retryable_network_error(settings, closed_port_url):
    settings["base_url"] = closed_port_url
    [result] = twilio.TwilioClient(settings, timeout=1).send([sms(ref="down")])
    assert (result.ref, result.error_kind, result.error_code) == (
        "down",
        base.RETRYABLE,
        base.ERR_NETWORK,
    )
    assert AUTH_TOKEN not in result.error_message


# -- signature --------------------------------------------------------------------------------

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
SDK_PARAMS = {**DOC_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),  # "Secure webhooks" page example
        (SDK_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # twilio-python validator test
    ],
)
def test_compute_signature_matches_twilio_published_vectors(params, expected):
    assert twilio.compute_signature("12345", DOC_URL, params) == expected


def test_documented_example_request_verifies():
    doc_client = twilio.TwilioClient(
        {"account_sid": ACCOUNT_SID, "auth_token": "12345", "sender": "+15557122661"}
    )
    request = twilio_post(DOC_URL, DOC_PARAMS, signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    doc_client.verify_webhook(request, base.WEBHOOK_STATUS)


def test_signature_with_default_port_verifies_like_twilio_sdk():
    # twilio-python: "kvajT1Ptam85bY51eRf/AJRuM3w=" is the hash of the URI with :443.
    doc_client = twilio.TwilioClient(
        {"account_sid": ACCOUNT_SID, "auth_token": "12345", "sender": "+15557122661"}
    )
    request = twilio_post(DOC_URL, SDK_PARAMS, signature="kvajT1Ptam85bY51eRf/AJRuM3w=")
    doc_client.verify_webhook(request, base.WEBHOOK_STATUS)


def test_signature_of_url_without_port_verifies_when_proxy_adds_it(client):
    signed_url = "https://odoo.example.com/sms/hook?x=1"
    request = twilio_post("https://odoo.example.com:8443/sms/hook?x=1", status_form())
    request = WebhookRequest(
        method=request.method,
        url=request.url,
        headers={"x-twilio-signature": sign(signed_url, status_form())},
        query=request.query,
        form=request.form,
    )
    client.verify_webhook(request, base.WEBHOOK_STATUS)


def test_genuine_status_callback_verifies(client):
    client.verify_webhook(twilio_post(CALLBACK, status_form()), base.WEBHOOK_STATUS)


def test_genuine_inbound_message_verifies(client):
    client.verify_webhook(twilio_post(CALLBACK, INBOUND_FORM), base.WEBHOOK_INBOUND)


def test_unsigned_request_is_refused(client):
    with pytest.raises(SignatureError):
        client.verify_webhook(twilio_post(CALLBACK, status_form(), signature=False), "status")


def test_signature_with_another_auth_token_is_refused(client):
    forged = twilio_post(CALLBACK, status_form(), token="not-the-auth-token")
    with pytest.raises(SignatureError):
        client.verify_webhook(forged, base.WEBHOOK_STATUS)


def test_tampered_parameter_is_refused(client):
    genuine = twilio_post(CALLBACK, status_form("failed"))
    tampered = WebhookRequest(
        method="POST",
        url=CALLBACK,
        headers=genuine.headers,
        form=status_form("delivered"),
    )
    with pytest.raises(SignatureError):
        client.verify_webhook(tampered, base.WEBHOOK_STATUS)


def test_added_parameter_is_refused(client):
    genuine = twilio_post(CALLBACK, status_form())
    extended = WebhookRequest(
        method="POST",
        url=CALLBACK,
        headers=genuine.headers,
        form={**status_form(), "ErrorCode": "30003"},
    )
    with pytest.raises(SignatureError):
        client.verify_webhook(extended, base.WEBHOOK_STATUS)


def test_signature_for_another_url_is_refused(client):
    genuine = twilio_post(CALLBACK, status_form())
    replayed = WebhookRequest(
        method="POST",
        url=CALLBACK.replace("tok3n", "other"),
        headers=genuine.headers,
        form=genuine.form,
    )
    with pytest.raises(SignatureError):
        client.verify_webhook(replayed, base.WEBHOOK_STATUS)


def test_json_webhook_signed_with_body_hash_verifies_and_body_is_checked(client):
    body = b'{"MessageSid": "SM1", "MessageStatus": "delivered"}'
    url = f"{CALLBACK}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {"x-twilio-signature": sign(url, {}), "content-type": "application/json"}
    query = dict(parse_qsl(urlsplit(url).query))
    client.verify_webhook(WebhookRequest("POST", url, headers, query, {}, body), "status")
    with pytest.raises(SignatureError):
        client.verify_webhook(
            WebhookRequest("POST", url, headers, query, {}, body.replace(b"delivered", b"failed")),
            "status",
        )


# -- status callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twilio_status", "status"),
    [
        ("queued", base.STATUS_SENT),
        ("accepted", base.STATUS_SENT),
        ("sending", base.STATUS_SENT),
        ("sent", base.STATUS_SENT),
        ("delivered", base.STATUS_DELIVERED),
        ("read", base.STATUS_DELIVERED),
        ("undelivered", base.STATUS_UNDELIVERED),
        ("failed", base.STATUS_FAILED),
        ("canceled", base.STATUS_FAILED),
    ],
)
def test_message_status_maps_to_normalised_status(client, twilio_status, status):
    [report] = client.parse_status(twilio_post(CALLBACK, status_form(twilio_status)))
    assert (report.provider_id, report.status) == ("SM00000000000000000000000000000001", status)


@pytest.mark.parametrize("twilio_status", ["scheduled", "receiving", "received", "bogus", ""])
def test_other_message_statuses_are_ignored(client, twilio_status):
    assert client.parse_status(twilio_post(CALLBACK, status_form(twilio_status))) == []


def test_undelivered_report_carries_error_code_recipient_and_ref(client):
    url = f"{CALLBACK}?sms_ref=trace-42"
    [report] = client.parse_status(twilio_post(url, status_form("undelivered", ErrorCode="30003")))
    assert report == base.StatusReport(
        provider_id="SM00000000000000000000000000000001",
        status=base.STATUS_UNDELIVERED,
        ref="trace-42",
        to="+15558675310",
        error_code="30003",
    )


def test_ref_sent_with_the_message_comes_back_in_the_signed_report(httpserver, settings):
    settings["status_callback"] = CALLBACK
    httpserver.expect_request(MESSAGES_PATH).respond_with_json(created(), status=201)
    client = twilio.TwilioClient(settings)
    client.send([sms(ref="trace-9")])
    callback_url = received(httpserver).form["StatusCallback"]
    request = twilio_post(callback_url, status_form("delivered"))  # what Twilio then calls
    client.verify_webhook(request, base.WEBHOOK_STATUS)
    assert client.parse_status(request)[0].ref == "trace-9"


def test_legacy_sms_status_fields_are_understood(client):
    form = {"SmsSid": "SMold", "SmsStatus": "delivered", "To": "+15558675310"}
    [report] = client.parse_status(twilio_post(CALLBACK, form))
    assert (report.provider_id, report.status) == ("SMold", base.STATUS_DELIVERED)


def test_status_without_message_sid_is_ignored(client):
    form = {"MessageStatus": "delivered"}
    assert client.parse_status(twilio_post(CALLBACK, form)) == []


# -- inbound ----------------------------------------------------------------------------------


def test_inbound_message_is_parsed(client):
    [inbound] = client.parse_inbound(twilio_post(CALLBACK, INBOUND_FORM))
    assert inbound == base.InboundSms(
        sender="+447700900123",
        body="STOP",
        to="+15557122661",
        provider_id="SM00000000000000000000000000000009",
    )


def test_inbound_channel_address_is_kept(client):
    form = {**INBOUND_FORM, "From": "whatsapp:+447700900123"}
    [inbound] = client.parse_inbound(twilio_post(CALLBACK, form))
    assert inbound.sender == "whatsapp:+447700900123"


def test_inbound_without_sender_is_ignored(client):
    form = {key: value for key, value in INBOUND_FORM.items() if key != "From"}
    assert client.parse_inbound(twilio_post(CALLBACK, form)) == []


def test_inbound_is_answered_with_empty_twiml(client):
    response = client.webhook_response(base.WEBHOOK_INBOUND)
    assert (response.status, response.content_type) == (200, "text/xml")
    assert response.body == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def test_status_callback_is_answered_204(client):
    assert client.webhook_response(base.WEBHOOK_STATUS) == base.WebhookResponse(204)
