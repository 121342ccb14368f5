"""Generic HTTP gateway against a local server playing a made-up operator's JSON API."""

import hashlib
import hmac
import json
import socket
import threading
import time

import pytest
import requests
from werkzeug import Response

from sms_marketing.core.gateways import base
from sms_marketing.core.gateways import http as http_gateway
from sms_marketing.core.gateways.base import OutboundSms, SignatureError, WebhookRequest

from .servers import HangUpServer

SECRET = "whsec_0123456789"


def sms(ref="t1", to="+8613800138000", body="Hello", sender=None):
    return OutboundSms(ref=ref, to=to, body=body, sender=sender)


@pytest.fixture
def settings(httpserver):
    return {
        "url": httpserver.url_for("/api/v1/sms"),
        "id_path": "$.id",
        "sender": "ACME",
        "headers": {"Authorization": "Bearer tok-123"},
    }


def make(settings, **overrides):
    return http_gateway.HttpClient({**settings, **overrides})


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/send"


@pytest.fixture
def hang_up_server():
    server = HangUpServer()
    yield server
    server.close()


def received(httpserver, count=1):
    assert len(httpserver.log) == count
    return [request for request, _response in httpserver.log]


def wait_until_served(httpserver, count=1):
    deadline = time.monotonic() + 5
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def webhook(payload, secret=None, header="x-signature", prefix=""):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    headers = {"content-type": "application/json"}
    if secret:
        headers[header] = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest("POST", "https://odoo.example.com/sms/hook", headers=headers, body=body)


# -- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$.a[0].b", ("a", 0, "b")),
        ("a.b", ("a", "b")),
        ("data[1]", ("data", 1)),
        ("[0].id", (0, "id")),
        ("$['message-id']", ("message-id",)),
        ('$.result["odd key"][-1]', ("result", "odd key", -1)),
        ("$.message-count", ("message-count",)),
    ],
)
def test_parse_path_accepts_the_documented_syntax(path, steps):
    assert http_gateway.parse_path(path) == steps


@pytest.mark.parametrize(
    "path", ["", "$.", "a..b", "$.a[x]", "__import__('os')", "$.a[0", "a b", "$..a", "$[*]"]
)
def test_parse_path_refuses_anything_else(path):
    with pytest.raises(ValueError):
        http_gateway.parse_path(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", {"a": [{"b": 1}, {"b": 2}]}),
        ("$.a[1].b", 2),
        ("$.a[-1].b", 2),
        ("$.a.1.b", 2),
        ("$.a[5].b", None),
        ("$.x.y", None),
        ("$.a.b", None),
        ("$.a[0].b.c", None),
    ],
)
def test_resolve_reads_values_and_gives_none_when_absent(path, expected):
    document = {"a": [{"b": 1}, {"b": 2}]}
    assert http_gateway.resolve(document, http_gateway.parse_path(path)) == expected


# -- configuration ----------------------------------------------------------------------------


def test_registered_under_http():
    assert base.get_client_class("http") is http_gateway.HttpClient


@pytest.mark.parametrize("missing", ["url", "id_path"])
def test_required_settings(settings, missing):
    del settings[missing]
    with pytest.raises(base.GatewayConfigError) as info:
        http_gateway.HttpClient(settings)
    assert info.value.field == missing


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://operator"}, "url"),
        ({"method": "DELETE"}, "method"),
        ({"headers": "{not json"}, "headers"),
        ({"headers": "[1, 2]"}, "headers"),
        ({"id_path": "$.a[?(@.x)]"}, "id_path"),
        ({"result_path": "$..results"}, "result_path"),
        ({"status_value_path": "a b"}, "status_value_path"),
        ({"message_template": '{"to": "{{phone}}"}'}, "message_template"),
        ({"message_template": '{"to": {{to}}}'}, "message_template"),
        ({"message_template": '{"to": "{{to}}"'}, "message_template"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "many"}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"batch_size": 10, "content_type": "application/x-www-form-urlencoded"}, "batch_size"),
        ({"batch_size": 10, "batch_template": '{"list": []}'}, "batch_template"),
        ({"batch_size": 10, "batch_template": '{"list": {{messages}}'}, "batch_template"),
        ({"batch_size": 10, "batch_template": '{"to": "{{to}}", "m": {{messages}}}'},
         "batch_template"),
        ({"method": "GET"}, "content_type"),
        ({"content_type": "text/plain"}, "message_template"),
        ({"status_map": '{"DELIVRD": "ok"}'}, "status_map"),
        ({"status_map": "nope"}, "status_map"),
    ],
)  # fmt: skip
def test_bad_settings_are_config_errors_naming_the_field(settings, overrides, field):
    with pytest.raises(base.GatewayConfigError) as info:
        make(settings, **overrides)
    assert info.value.field == field


def test_max_batch_is_the_largest_batch_size_accepted(settings):
    assert http_gateway.HttpClient.max_batch == 1000
    assert make(settings, batch_size="50").max_batch == 1000  # a class value, not the setting
    assert make(settings, batch_size=1000).batch_size == 1000


@pytest.mark.parametrize(
    ("batch_size", "limit"),
    [
        (None, 1),
        ("", 1),
        (1, 1),
        (50, 50),
        ("50", 50),
        (1000, 1000),
        (5000, 1000),  # refused by the client itself; never more than max_batch
        (0, 1),
        (-3, 1),
        ("many", 1),
        (2.5, 1),
    ],
)
def test_batch_limit_is_the_batch_size_setting(settings, batch_size, limit):
    if batch_size is not None:
        settings["batch_size"] = batch_size
    assert http_gateway.HttpClient.batch_limit(settings) == limit


def test_batch_limit_needs_no_client_and_no_other_setting():
    assert http_gateway.HttpClient.batch_limit({}) == 1
    assert http_gateway.HttpClient.batch_limit({"batch_size": 20}) == 20
    assert base.get_client_class("http").batch_limit({"batch_size": "7"}) == 7


def test_settings_given_as_json_text_are_accepted(settings):
    client = make(
        settings,
        headers='{"X-Api-Key": "k"}',
        status_map='{"DELIVRD": "delivered"}',
    )
    assert client.headers == {"X-Api-Key": "k"}
    assert client.status_map == {"DELIVRD": "delivered"}


# -- sending one message ----------------------------------------------------------------------


def test_default_json_template_posts_escaped_json_with_headers(httpserver, settings):
    httpserver.expect_request("/api/v1/sms", method="POST").respond_with_json({"id": "m-1"})
    body = 'He said "hi"\\n\n€ 你好 {{to}}'
    [result] = make(settings).send([sms(ref="trace-1", body=body)])
    [request] = received(httpserver)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert json.loads(request.get_data()) == {
        "to": "+8613800138000",
        "from": "ACME",
        "text": body,  # escaped once, and "{{to}}" inside the text sent literally
        "reference": "trace-1",
    }
    assert result == base.SendResult("trace-1", True, provider_id="m-1", segments=1)


def test_custom_template_fills_every_placeholder(httpserver, settings):
    template = (
        '{"msisdn": "{{to_digits}}", "e164": "{{to}}", "content": {"text": "{{body}}"},'
        ' "sender": "{{sender}}", "ext": "{{ ref }}"}'
    )
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": 7})
    make(settings, message_template=template).send([sms(ref="r9", sender="Shop")])
    assert json.loads(received(httpserver)[0].get_data()) == {
        "msisdn": "8613800138000",
        "e164": "+8613800138000",
        "content": {"text": "Hello"},
        "sender": "Shop",
        "ext": "r9",
    }


def test_literal_percent_signs_in_a_template_and_values_stay_as_written(httpserver, settings):
    template = '{"to": "{{to}}", "text": "{{body}}", "note": "100% %s %(x)s %%"}'
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "p1"})
    make(settings, message_template=template).send([sms(body="50% off %s %%")])
    assert json.loads(received(httpserver)[0].get_data()) == {
        "to": "+8613800138000",
        "text": "50% off %s %%",
        "note": "100% %s %(x)s %%",
    }


def test_form_template_url_encodes_values(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "f1"})
    make(
        settings,
        content_type="application/x-www-form-urlencoded",
        message_template="mobile={{to_digits}}&msg={{body}}&sid={{ref}}",
    ).send([sms(ref="a&b", body="50% off & more = 你好")])
    request = received(httpserver)[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "mobile": "8613800138000",
        "msg": "50% off & more = 你好",
        "sid": "a&b",
    }


def test_get_sends_the_template_as_query_string(httpserver, settings):
    httpserver.expect_request("/api/v1/sms", method="GET").respond_with_json({"id": "g1"})
    client = make(
        settings,
        url=settings["url"] + "?user=acme",
        method="GET",
        content_type="application/x-www-form-urlencoded",
        message_template="to={{to_digits}}&text={{body}}",
    )
    [result] = client.send([sms(body="hi there")])
    request = received(httpserver)[0]
    assert request.args.to_dict() == {"user": "acme", "to": "8613800138000", "text": "hi there"}
    assert result.provider_id == "g1"


def test_xml_template_escapes_entities(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "x1"})
    make(
        settings,
        content_type="text/xml",
        message_template="<sms><to>{{to}}</to><text>{{body}}</text></sms>",
    ).send([sms(body='<b>"Tom & Jerry"</b>')])
    assert received(httpserver)[0].get_data(as_text=True) == (
        "<sms><to>+8613800138000</to>"
        "<text>&lt;b&gt;&quot;Tom &amp; Jerry&quot;&lt;/b&gt;</text></sms>"
    )


def test_put_method_is_used_when_configured(httpserver, settings):
    httpserver.expect_request("/api/v1/sms", method="PUT").respond_with_json({"id": "p1"})
    [result] = make(settings, method="put").send([sms()])
    assert result.provider_id == "p1"


def test_result_path_id_and_segments_paths_read_the_answer(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json(
        {"code": 0, "data": {"messages": [{"msg-id": 123456, "parts": "3"}]}}
    )
    client = make(
        settings, result_path="$.data.messages", id_path="$['msg-id']", segments_path="parts"
    )
    [result] = client.send([sms(body="x" * 200)])
    assert (result.provider_id, result.segments) == ("123456", 3)


def test_segments_default_to_the_encoding_count(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "s1"})
    [result] = make(settings).send([sms(body="中" * 71)])
    assert result.segments == 2


def test_segments_counted_by_the_sender_are_reported_when_the_provider_is_silent(
    httpserver, settings
):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "s2", "parts": 4})
    counted = sms(body="中" * 71)._replace(segments=5)  # not what counting gives (2)
    [silent] = make(settings).send([counted])
    [said] = make(settings, segments_path="parts").send([counted])
    assert (silent.segments, said.segments) == (5, 4)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"id": "", "error": "Invalid destination"}, "Invalid destination"),
        ({"error": {"code": 40, "text": "blocked"}}, None),
    ],
)
def test_refusal_is_permanent_rejected(httpserver, settings, answer, message):
    httpserver.expect_request("/api/v1/sms").respond_with_json(answer)
    [result] = make(settings, error_path="error").send([sms(ref="r1")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r1",
        False,
        base.PERMANENT,
        base.ERR_REJECTED,
    )
    if message:
        assert result.error_message == message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"status": "ok"}, "no message id in the result"),
        ({"id": {"nested": 1}}, "no message id in the result"),
        ([], "no result for this message in the answer"),
        (None, "no result for this message in the answer"),
    ],
)
def test_success_without_message_id_is_ambiguous(httpserver, settings, answer, message):
    httpserver.expect_request("/api/v1/sms").respond_with_json(answer)
    [result] = make(settings, error_path="error").send([sms(ref="r1")])
    assert (result.ref, result.accepted, result.error_kind, result.error_code) == (
        "r1",
        False,
        base.AMBIGUOUS,
        base.ERR_UNKNOWN,
    )
    assert result.error_message == message


@pytest.mark.parametrize("empty_error", [None, "", 0, False])
def test_empty_error_value_means_accepted(httpserver, settings, empty_error):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "ok1", "error": empty_error})
    [result] = make(settings, error_path="error").send([sms()])
    assert (result.accepted, result.provider_id) == (True, "ok1")


@pytest.mark.parametrize("body", ["OK 12345", '{"id": "s1"', ""])
def test_unreadable_success_is_ambiguous_for_every_message_never_resent(httpserver, settings, body):
    httpserver.expect_request("/api/v1/sms").respond_with_data(body, status=202)
    results = make(settings, batch_size=2).send([sms(ref="a"), sms(ref="b")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("a", False, base.AMBIGUOUS, base.ERR_UNKNOWN),
        ("b", False, base.AMBIGUOUS, base.ERR_UNKNOWN),
    ]
    assert len(received(httpserver)) == 1


@pytest.mark.parametrize(
    ("http_status", "kind", "code"),
    [
        (400, base.PERMANENT, base.ERR_REJECTED),
        (401, base.RETRYABLE, base.ERR_AUTH),
        (403, base.RETRYABLE, base.ERR_AUTH),
        (408, base.RETRYABLE, base.ERR_SERVER),
        (500, base.RETRYABLE, base.ERR_SERVER),
        (502, base.RETRYABLE, base.ERR_SERVER),
    ],
)
def test_http_errors_follow_the_status(httpserver, settings, http_status, kind, code):
    httpserver.expect_request("/api/v1/sms").respond_with_json(
        {"error": "nope"}, status=http_status
    )
    [result] = make(settings).send([sms(ref="r1")])
    assert (result.ref, result.error_kind, result.error_code) == ("r1", kind, code)
    assert "nope" in result.error_message


def test_429_is_rate_limited_with_retry_after(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_data(
        "", status=429, headers={"Retry-After": "12"}
    )
    [result] = make(settings).send([sms()])
    assert (result.error_kind, result.error_code, result.retry_after) == (
        base.RETRYABLE,
        base.ERR_RATE_LIMITED,
        12.0,
    )


def test_503_retry_after_is_kept(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_data(
        "maintenance", status=503, headers={"Retry-After": "60"}
    )
    [result] = make(settings).send([sms()])
    assert (result.error_code, result.retry_after) == (base.ERR_SERVER, 60.0)


def test_read_timeout_is_ambiguous_for_every_message_of_the_request(httpserver, settings):
    release = threading.Event()

    def slow(request):
        release.wait(5)
        return Response('{"results": []}', content_type="application/json")

    httpserver.expect_request("/api/v1/sms").respond_with_handler(slow)
    client = http_gateway.HttpClient({**settings, "batch_size": 2}, timeout=0.05)
    results = client.send([sms(ref="a"), sms(ref="b")])
    release.set()
    wait_until_served(httpserver)
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("a", False, base.AMBIGUOUS, base.ERR_TIMEOUT),
        ("b", False, base.AMBIGUOUS, base.ERR_TIMEOUT),
    ]


def test_connection_closed_after_the_request_is_ambiguous_for_every_message(
    settings, hang_up_server
):
    client = http_gateway.HttpClient(
        {**settings, "url": f"{hang_up_server.url}/send", "batch_size": 2}, timeout=2
    )
    results = client.send([sms(ref="a"), sms(ref="b")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("a", False, base.AMBIGUOUS, base.ERR_NETWORK),
        ("b", False, base.AMBIGUOUS, base.ERR_NETWORK),
    ]
    [(head, body)] = hang_up_server.requests
    assert head.startswith(b"POST /send ")
    assert [m["reference"] for m in json.loads(body)["messages"]] == ["a", "b"]


def test_connection_refused_is_retryable_network_error(settings, closed_port_url):
    results = make(settings, url=closed_port_url).send([sms(ref="down")])
    assert [(r.ref, r.error_kind, r.error_code) for r in results] == [
        ("down", base.RETRYABLE, base.ERR_NETWORK)
    ]


# -- batches ----------------------------------------------------------------------------------


def test_batch_wraps_messages_in_the_default_template_and_matches_by_position(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json(
        {"results": [{"id": "b1"}, {"id": "b2"}, {"id": "b3"}]}
    )
    client = make(settings, batch_size=3, result_path="$.results", id_path="id")
    results = client.send([sms(ref="a", to="+8613800000001"), sms(ref="b"), sms(ref="c")])
    payload = json.loads(received(httpserver)[0].get_data())
    assert [m["reference"] for m in payload["messages"]] == ["a", "b", "c"]
    assert payload["messages"][0]["to"] == "+8613800000001"
    assert [(r.ref, r.provider_id) for r in results] == [("a", "b1"), ("b", "b2"), ("c", "b3")]


def test_batch_results_are_matched_by_ref_when_ref_path_is_set(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json(
        {
            "data": [
                {"ref": "c", "sid": "SC"},
                {"ref": "a", "sid": "SA"},
                {"ref": "b", "sid": "", "err": "Number blacklisted"},
            ]
        }
    )
    client = make(
        settings,
        batch_size=3,
        batch_template='{"sender": "ACME", "items": {{messages}}}',
        message_template='{"to": "{{to}}", "text": "{{body}}", "ref": "{{ref}}"}',
        result_path="data",
        id_path="sid",
        ref_path="ref",
        error_path="err",
    )
    results = client.send([sms(ref="a"), sms(ref="b"), sms(ref="c")])
    sent = json.loads(received(httpserver)[0].get_data())
    assert sent["sender"] == "ACME" and len(sent["items"]) == 3
    assert [(r.ref, r.accepted, r.provider_id, r.error_code) for r in results] == [
        ("a", True, "SA", None),
        ("b", False, None, base.ERR_REJECTED),
        ("c", True, "SC", None),
    ]


def test_batch_values_are_escaped_whichever_message_carries_what(httpserver, settings):
    # The gateway's sender is written into the batch format once; a message with its own
    # sender, or a batch with a value to escape, takes the per-value path: both give JSON.
    httpserver.expect_request("/api/v1/sms").respond_with_json(
        [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}]
    )
    odd_sender = 'A"C%sME\\'
    messages = [
        sms(ref="a", body="plain"),
        sms(ref="b", body='quote " slash \\ newline\n tab\t 100% %s'),
        sms(ref="c", body="own sender", sender="Shop"),
        sms(ref="d", body="the gateway's sender, given", sender=odd_sender),
    ]
    for batch in (messages[:2], messages[:1], [messages[0], messages[3]], messages):
        httpserver.clear_log()
        make(settings, sender=odd_sender, batch_size=4).send(batch)
        payload = json.loads(received(httpserver)[0].get_data())
        assert [(m["to"], m["text"], m["from"], m["reference"]) for m in payload["messages"]] == [
            (m.to, m.body, m.sender or odd_sender, m.ref) for m in batch
        ]


def test_close_releases_the_clients_own_session_and_leaves_a_given_one_open(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json({"id": "1"})

    def pools(session):
        return session.get_adapter(settings["url"]).poolmanager.pools

    own = make(settings)
    own.send([sms()])
    assert len(pools(own.session)) == 1  # a keep-alive connection pool
    own.close()
    assert len(pools(own.session)) == 0

    given = requests.Session()
    client = http_gateway.HttpClient(settings, session=given)
    client.send([sms()])
    client.close()
    assert len(pools(given)) == 1  # the caller's to close
    given.close()


def test_batch_message_missing_from_the_answer_is_ambiguous(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_json([{"id": "only-one"}])
    results = make(settings, batch_size=2).send([sms(ref="a"), sms(ref="b")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("a", True, None, None),
        ("b", False, base.AMBIGUOUS, base.ERR_UNKNOWN),
    ]


def test_more_messages_than_batch_size_go_in_several_requests(httpserver, settings):
    httpserver.expect_oneshot_request("/api/v1/sms").respond_with_json([{"id": "1"}, {"id": "2"}])
    httpserver.expect_oneshot_request("/api/v1/sms").respond_with_json([{"id": "3"}])
    results = make(settings, batch_size=2).send([sms(ref="a"), sms(ref="b"), sms(ref="c")])
    assert [(r.ref, r.provider_id) for r in results] == [("a", "1"), ("b", "2"), ("c", "3")]
    assert [len(json.loads(r.get_data())["messages"]) for r in received(httpserver, 2)] == [2, 1]


def test_batch_http_error_applies_to_every_message(httpserver, settings):
    httpserver.expect_request("/api/v1/sms").respond_with_data("down", status=500)
    results = make(settings, batch_size=2).send([sms(ref="a"), sms(ref="b")])
    assert [(r.ref, r.error_code) for r in results] == [
        ("a", base.ERR_SERVER),
        ("b", base.ERR_SERVER),
    ]


# -- webhooks ---------------------------------------------------------------------------------

STATUS_SETTINGS = {
    "status_items_path": "$.events",
    "status_id_path": "msgId",
    "status_value_path": "state",
    "status_ref_path": "meta.ref",
    "status_error_path": "errorCode",
    "status_map": {"DELIVRD": "delivered", "UNDELIV": "undelivered", "REJECTD": "failed",
                   "ENROUTE": "sent", "1": "delivered"},
}  # fmt: skip
INBOUND_SETTINGS = {
    "inbound_items_path": "$.messages",
    "inbound_from_path": "from",
    "inbound_text_path": "content.text",
    "inbound_to_path": "to",
    "inbound_id_path": "id",
}


def test_without_secret_webhooks_are_accepted(settings):
    make(settings).verify_webhook(webhook({"x": 1}), base.WEBHOOK_STATUS)


@pytest.mark.parametrize("prefix", ["", "sha256="])
def test_hmac_sha256_of_the_raw_body_verifies(settings, prefix):
    client = make(settings, webhook_secret=SECRET)
    client.verify_webhook(webhook({"events": []}, SECRET, prefix=prefix), base.WEBHOOK_STATUS)


def test_upper_case_hex_signature_verifies(settings):
    request = webhook({"events": []}, SECRET)
    upper = WebhookRequest(
        "POST",
        request.url,
        headers={"x-signature": request.headers["x-signature"].upper()},
        body=request.body,
    )
    make(settings, webhook_secret=SECRET).verify_webhook(upper, base.WEBHOOK_STATUS)


def test_custom_signature_header_is_used(settings):
    client = make(settings, webhook_secret=SECRET, signature_header="X-Operator-Signature")
    client.verify_webhook(webhook({}, SECRET, header="x-operator-signature"), "status")
    with pytest.raises(SignatureError):
        client.verify_webhook(webhook({}, SECRET), "status")


@pytest.mark.parametrize(
    "request_",
    [
        webhook({"events": []}),  # unsigned
        webhook({"events": []}, "another-secret"),  # forged
        webhook({"events": []}, SECRET, prefix="sha1="),  # wrong scheme
    ],
)
def test_unsigned_or_forged_webhook_is_refused(settings, request_):
    with pytest.raises(SignatureError):
        make(settings, webhook_secret=SECRET).verify_webhook(request_, base.WEBHOOK_STATUS)


def test_tampered_body_is_refused(settings):
    genuine = webhook({"events": [{"msgId": "1", "state": "UNDELIV"}]}, SECRET)
    tampered = WebhookRequest(
        "POST",
        genuine.url,
        headers=genuine.headers,
        body=genuine.body.replace(b"UNDELIV", b"DELIVRD"),
    )
    with pytest.raises(SignatureError):
        make(settings, webhook_secret=SECRET).verify_webhook(tampered, base.WEBHOOK_STATUS)


def test_status_reports_are_read_with_paths_and_map(settings):
    payload = {
        "events": [
            {"msgId": "m1", "state": "DELIVRD", "meta": {"ref": "trace-1"}},
            {"msgId": "m2", "state": "UNDELIV", "errorCode": "EXPIRED"},
            {"msgId": "m3", "state": "ACCEPTD"},  # not in the map: ignored
            {"msgId": 4, "state": 1},  # numbers compared as text
            {"state": "DELIVRD"},  # no id: ignored
        ]
    }
    reports = make(settings, **STATUS_SETTINGS).parse_status(webhook(payload))
    assert reports == [
        base.StatusReport("m1", base.STATUS_DELIVERED, ref="trace-1"),
        base.StatusReport("m2", base.STATUS_UNDELIVERED, error_code="EXPIRED"),
        base.StatusReport("4", base.STATUS_DELIVERED),
    ]


def test_single_status_object_is_one_report(settings):
    client = make(settings, **{**STATUS_SETTINGS, "status_items_path": "$"})
    [report] = client.parse_status(webhook({"msgId": "m9", "state": "REJECTD"}))
    assert (report.provider_id, report.status) == ("m9", base.STATUS_FAILED)


def test_parse_status_without_status_settings_is_a_config_error(settings):
    with pytest.raises(base.GatewayConfigError) as info:
        make(settings).parse_status(webhook({"msgId": "m1"}))
    assert info.value.field == "status_id_path"


def test_parse_status_refuses_non_json_body(settings):
    with pytest.raises(ValueError):
        make(settings, **STATUS_SETTINGS).parse_status(webhook(b"<xml/>"))


def test_inbound_messages_are_read_with_paths(settings):
    payload = {
        "messages": [
            {"from": "8613800138000", "to": "106900", "id": "mo1", "content": {"text": "TD"}},
            {"from": "+1 (415) 555-0100", "content": {"text": "Hi"}},
            {"content": {"text": "no sender"}},
        ]
    }
    messages = make(settings, **INBOUND_SETTINGS).parse_inbound(webhook(payload))
    assert messages == [
        base.InboundSms("+8613800138000", "TD", to="106900", provider_id="mo1"),
        base.InboundSms("+14155550100", "Hi"),
    ]


def test_parse_inbound_without_inbound_settings_is_a_config_error(settings):
    with pytest.raises(base.GatewayConfigError) as info:
        make(settings).parse_inbound(webhook({"from": "1"}))
    assert info.value.field == "inbound_from_path"


def test_webhooks_are_answered_200_ok(settings):
    response = make(settings).webhook_response(base.WEBHOOK_STATUS)
    assert (response.status, response.body) == (200, b"OK")
