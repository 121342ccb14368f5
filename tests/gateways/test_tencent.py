"""Tencent Cloud SMS client against a real local HTTP server (pytest-httpserver).

The server side re-computes each request's TC3-HMAC-SHA256 signature with its own
implementation of the documented algorithm (derived key chain, canonical request built from
the headers named in ``SignedHeaders``). Response bodies are the documented SendSms
examples and the documented ``Response.Error`` shape.
"""

import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timezone

import pytest
import requests
from werkzeug.wrappers import Response

from sms_marketing.core.gateways import base, tencent
from sms_marketing.core.gateways.base import (
    AMBIGUOUS,
    ERR_AUTH,
    ERR_BLOCKED,
    ERR_INSUFFICIENT_FUNDS,
    ERR_INVALID_NUMBER,
    ERR_NETWORK,
    ERR_RATE_LIMITED,
    ERR_REJECTED,
    ERR_SERVER,
    ERR_TIMEOUT,
    ERR_UNKNOWN,
    ERR_UNSUPPORTED_COUNTRY,
    PERMANENT,
    RETRYABLE,
    STATUS_DELIVERED,
    STATUS_UNDELIVERED,
    WEBHOOK_INBOUND,
    WEBHOOK_STATUS,
    GatewayConfigError,
    OutboundSms,
    WebhookRequest,
)

from .servers import HangUpServer, free_port

SECRET_ID = "AKIDTestSecretId0123456789"
SECRET_KEY = "TestSecretKey0123456789abcdef"
NOW = datetime(2024, 5, 1, 8, 30, 0, tzinfo=timezone.utc)
NOW_TS = 1714552200
#: The payload of the documentation's CVM DescribeInstances example ("未命名" JSON-escaped).
DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


class FixedTencent(tencent.TencentClient):
    """The client with a fixed clock, so requests are reproducible."""

    def _now(self):
        return NOW


def settings_for(server, **extra):
    settings = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": "1400006666",
        "sign_name": "腾讯云",
        "template_id": "1110",
        "base_url": server.url_for("/").rstrip("/"),
    }
    settings.update(extra)
    return settings


@pytest.fixture
def client(httpserver):
    return FixedTencent(settings_for(httpserver), timeout=2.0)


def sms(ref, to="+8618501234444", body="春季新品上市，全场八折", **kwargs):
    return OutboundSms(ref=ref, to=to, body=body, **kwargs)


# -- an independent server-side verifier ------------------------------------------------------


def hmac_sha256(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def verify_tc3(request):
    """Recompute the signature of a received request; returns the parsed Authorization."""
    match = re.fullmatch(
        r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
        r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})",
        request.headers["Authorization"],
    )
    assert match, request.headers["Authorization"]
    secret_id, date, service, signed_headers, signature = match.groups()
    timestamp = request.headers["X-TC-Timestamp"]
    canonical_headers = "".join(
        f"{name}:{request.headers[name].strip().lower()}\n" for name in signed_headers.split(";")
    )
    canonical_request = (
        f"{request.method}\n/\n\n{canonical_headers}\n{signed_headers}\n"
        + hashlib.sha256(request.get_data()).hexdigest()
    )
    string_to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n"
        + hashlib.sha256(canonical_request.encode()).hexdigest()
    )
    key = hmac_sha256(f"TC3{SECRET_KEY}".encode(), date)
    key = hmac_sha256(hmac_sha256(key, service), "tc3_request")
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    utc_date = datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d")
    return {
        "secret_id": secret_id,
        "date_ok": date == utc_date,
        "service": service,
        "signed_headers": signed_headers,
        "signature_ok": hmac.compare_digest(expected, signature),
    }


class Provider:
    """Answers SendSms requests and records what it received.

    An answer is a ``(status, body[, headers])`` tuple, or a callable taking the decoded
    request JSON and returning one; the last answer is reused once the queue is down to it.
    """

    def __init__(self, httpserver, *answers, delay=0.0):
        self.answers = list(answers)
        self.received = []
        self.delay = delay
        httpserver.expect_request("/", method="POST").respond_with_handler(self.handle)

    def handle(self, request):
        body = request.get_data()
        self.received.append(
            {
                "method": request.method,
                "path": request.path,
                "query_string": request.query_string,
                "headers": {key.lower(): value for key, value in request.headers.items()},
                "raw": body,
                "json": json.loads(body),
                **verify_tc3(request),
            }
        )
        if self.delay:
            time.sleep(self.delay)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            answer = answer(json.loads(body))
        status, payload, headers = (*answer, {})[:3]
        if isinstance(payload, dict):
            return Response(json.dumps(payload), status, headers, content_type="application/json")
        return Response(payload, status, headers, content_type="text/html")


def status_ok(phone, serial, fee=1, context=""):
    return {
        "SerialNo": serial,
        "PhoneNumber": phone,
        "Fee": fee,
        "SessionContext": context,
        "Code": "Ok",
        "Message": "send success",
        "IsoCode": "CN",
    }


def status_failed(phone, code, message="failed"):
    return {
        "SerialNo": "",
        "PhoneNumber": phone,
        "Fee": 0,
        "SessionContext": "",
        "Code": code,
        "Message": message,
        "IsoCode": "",
    }


def send_status(*statuses):
    return {
        "Response": {
            "SendStatusSet": list(statuses),
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
        }
    }


def request_error(code, message="error"):
    return {
        "Response": {
            "Error": {"Code": code, "Message": message},
            "RequestId": "ed93f3cb-f35e-473f-b9f3-0d451b8b79c6",
        }
    }


def echo_ok(request_json):
    """Accept every number of the request (serial numbers derived from the number)."""
    return 200, send_status(
        *(
            status_ok(number, f"5000:{number[1:]}", context=request_json.get("SessionContext", ""))
            for number in reversed(request_json["PhoneNumberSet"])
        )
    )


# -- TC3-HMAC-SHA256 --------------------------------------------------------------------------


def test_signature_reproduces_the_documented_example():
    """The worked example of "签名方法 v3" (current edition): SecretId/SecretKey are the
    document's masked placeholders (``AKID`` + 32 ``*`` and 32 ``*``), timestamp 1551113065,
    CVM DescribeInstances with the payload above, signed headers content-type;host;x-tc-action.
    The document publishes the canonical request, its hash, the three derived keys and the
    final Authorization; all are reproduced."""
    signature = tencent.tc3_sign(
        "AKID" + "*" * 32,
        "*" * 32,
        "cvm",
        "cvm.tencentcloudapi.com",
        "DescribeInstances",
        DOC_PAYLOAD,
        1551113065,
    )
    assert hashlib.sha256(DOC_PAYLOAD).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert signature.canonical_request == (
        "POST\n/\n\n"
        "content-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n"
        "x-tc-action:describeinstances\n"
        "\n"
        "content-type;host;x-tc-action\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert signature.string_to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )
    assert signature.authorization == (
        "TC3-HMAC-SHA256 Credential=AKID********************************/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host;x-tc-action, "
        "Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
    )


def test_derived_keys_match_the_documented_values():
    secret_date = hmac_sha256(("TC3" + "*" * 32).encode(), "2019-02-25")
    secret_service = hmac_sha256(secret_date, "cvm")
    assert secret_date.hex() == "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
    assert secret_service.hex() == (
        "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
    )
    assert tencent.tc3_signing_key("*" * 32, "2019-02-25", "cvm").hex() == (
        "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
    )


def test_signature_reproduces_the_earlier_documented_example():
    """The earlier edition of the same example signed only content-type;host with SecretKey
    ``Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`` and published Signature 72e494ea..."""
    signature = tencent.tc3_sign(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        "cvm",
        "cvm.tencentcloudapi.com",
        "DescribeInstances",
        DOC_PAYLOAD,
        1551113065,
        sign_action=False,
    )
    assert signature.string_to_sign.endswith(
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert signature.signature == (
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_credential_date_is_the_utc_date():
    # 1551113065 is 2019-02-26 00:44:25 in Beijing but 2019-02-25 in UTC
    signature = tencent.tc3_sign("id", "key", "sms", "h", "SendSms", b"{}", 1551113065)
    assert signature.credential_scope == "2019-02-25/sms/tc3_request"


# -- sending ----------------------------------------------------------------------------------


def test_single_message_request(client, httpserver):
    provider = Provider(httpserver, echo_ok)
    [result] = client.send([sms("trace-1")])

    [sent] = provider.received
    assert (sent["method"], sent["path"], sent["query_string"]) == ("POST", "/", b"")
    headers = sent["headers"]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["host"] == httpserver.url_for("/").split("/")[2]
    assert headers["x-tc-action"] == "SendSms"
    assert headers["x-tc-version"] == "2021-01-11"
    assert headers["x-tc-timestamp"] == str(NOW_TS)
    assert headers["x-tc-region"] == "ap-guangzhou"
    assert sent["secret_id"] == SECRET_ID
    assert sent["service"] == "sms"
    assert sent["signed_headers"] == "content-type;host;x-tc-action"
    assert sent["date_ok"]
    assert sent["signature_ok"]
    assert sent["json"] == {
        "PhoneNumberSet": ["+8618501234444"],
        "SmsSdkAppId": "1400006666",
        "TemplateId": "1110",
        "SignName": "腾讯云",
        "TemplateParamSet": ["春季新品上市，全场八折"],
        "SessionContext": "trace-1",
    }
    assert "春季".encode() in sent["raw"]  # UTF-8, not \\u escapes

    assert result.ref == "trace-1"
    assert result.accepted
    assert result.provider_id == "5000:8618501234444"
    assert result.segments == 1


def test_same_body_batch_is_one_request_matched_by_number(client, httpserver):
    """Documented answer: the statuses come back in another order than the numbers."""
    provider = Provider(
        httpserver,
        (
            200,
            send_status(
                status_ok("+8618501234445", "5000:1045710669157053657849499718", fee=2),
                status_ok("+8618501234444", "5000:1045710669157053657849499619"),
            ),
        ),
    )
    results = client.send([sms("r1", "+8618501234444"), sms("r2", "+8618501234445")])
    [sent] = provider.received
    assert sent["json"]["PhoneNumberSet"] == ["+8618501234444", "+8618501234445"]
    assert "SessionContext" not in sent["json"]
    assert [r.ref for r in results] == ["r1", "r2"]
    assert [r.provider_id for r in results] == [
        "5000:1045710669157053657849499619",
        "5000:1045710669157053657849499718",
    ]
    assert [r.segments for r in results] == [1, 2]


def test_different_bodies_go_to_separate_requests_results_in_order(client, httpserver):
    provider = Provider(httpserver, echo_ok)
    messages = [
        sms("r1", "+8613800000001", body="A"),
        sms("r2", "+8613800000002", body="B"),
        sms("r3", "+8613800000003", body="A"),
    ]
    results = client.send(messages)
    bodies = [
        (s["json"]["TemplateParamSet"], s["json"]["PhoneNumberSet"]) for s in provider.received
    ]
    assert bodies == [
        (["A"], ["+8613800000001", "+8613800000003"]),
        (["B"], ["+8613800000002"]),
    ]
    assert provider.received[1]["json"]["SessionContext"] == "r2"
    assert all(s["signature_ok"] for s in provider.received)
    assert [r.ref for r in results] == ["r1", "r2", "r3"]
    assert [r.provider_id for r in results] == [
        "5000:8613800000001",
        "5000:8613800000002",
        "5000:8613800000003",
    ]


def test_mainland_and_international_numbers_are_split(httpserver):
    provider = Provider(httpserver, echo_ok)
    client = FixedTencent(settings_for(httpserver, sender_id="Qsms"), timeout=2.0)
    results = client.send([sms("r1", "+8613800000001"), sms("r2", "+60198890000")])
    sets = [s["json"]["PhoneNumberSet"] for s in provider.received]
    assert sets == [["+8613800000001"], ["+60198890000"]]
    assert "SenderId" not in provider.received[0]["json"]
    assert provider.received[1]["json"]["SenderId"] == "Qsms"
    assert all(r.accepted for r in results)


def test_repeated_number_goes_to_separate_requests(client, httpserver):
    provider = Provider(httpserver, echo_ok)
    results = client.send([sms("r1"), sms("r2"), sms("r3", "+8618501234445")])
    sets = [s["json"]["PhoneNumberSet"] for s in provider.received]
    assert sets == [["+8618501234444", "+8618501234445"], ["+8618501234444"]]
    assert [r.ref for r in results] == ["r1", "r2", "r3"]
    assert all(r.accepted for r in results)


@pytest.mark.parametrize(
    ("names", "params", "expected"),
    [
        (None, None, ["春季新品上市，全场八折"]),
        (None, {"name": "陈", "code": "8888"}, ["陈", "8888"]),
        (["code", "name"], {"name": "陈", "code": "8888"}, ["8888", "陈"]),
        ("code, name", {"name": "陈", "code": "8888"}, ["8888", "陈"]),
    ],
)
def test_template_parameters(httpserver, names, params, expected):
    provider = Provider(httpserver, echo_ok)
    client = FixedTencent(settings_for(httpserver, template_param_names=names), timeout=2.0)
    [result] = client.send([sms("r1", params=params, sender="【另一个签名】")])
    assert result.accepted
    assert provider.received[0]["json"]["TemplateParamSet"] == expected
    assert provider.received[0]["json"]["SignName"] == "另一个签名"


def test_missing_named_parameter_and_bad_number_are_refused_locally(httpserver):
    provider = Provider(httpserver, echo_ok)
    client = FixedTencent(settings_for(httpserver, template_param_names=["code"]), timeout=2.0)
    results = client.send(
        [
            sms("r1", params={"name": "陈"}),
            sms("r2", "18501234444"),
            sms("r3", params={"code": "1"}),
        ]
    )
    assert (results[0].error_kind, results[0].error_code) == (PERMANENT, ERR_REJECTED)
    assert (results[1].error_kind, results[1].error_code) == (PERMANENT, ERR_INVALID_NUMBER)
    assert results[2].accepted
    assert len(provider.received) == 1


def test_documented_failed_status_example(client, httpserver):
    Provider(
        httpserver,
        (
            200,
            send_status(
                status_failed(
                    "+8618501234444",
                    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                    "request content does not match the template content",
                ),
                status_failed(
                    "+8618501234445",
                    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                    "request content does not match the template content",
                ),
            ),
        ),
    )
    results = client.send([sms("r1"), sms("r2", "+8618501234445")])
    for result in results:
        assert (result.error_kind, result.error_code) == (PERMANENT, ERR_REJECTED)
        assert "does not match the template" in result.error_message


PER_NUMBER_CASES = [
    ("LimitExceeded.PhoneNumberThirtySecondLimit", RETRYABLE, ERR_RATE_LIMITED, 30.0),
    ("LimitExceeded.PhoneNumberOneHourLimit", RETRYABLE, ERR_RATE_LIMITED, 3600.0),
    ("LimitExceeded.PhoneNumberDailyLimit", RETRYABLE, ERR_RATE_LIMITED, None),
    ("LimitExceeded.PhoneNumberSameContentDailyLimit", PERMANENT, ERR_REJECTED, None),
    ("InvalidParameterValue.IncorrectPhoneNumber", PERMANENT, ERR_INVALID_NUMBER, None),
    ("FailedOperation.PhoneNumberInBlacklist", PERMANENT, ERR_BLOCKED, None),
    ("FailedOperation.ContainSensitiveWord", PERMANENT, ERR_REJECTED, None),
]


@pytest.mark.parametrize(("code", "kind", "error", "retry_after"), PER_NUMBER_CASES)
def test_per_number_failures(client, httpserver, code, kind, error, retry_after):
    Provider(
        httpserver,
        (
            200,
            send_status(
                status_ok("+8618501234444", "5000:1"), status_failed("+8618501234445", code)
            ),
        ),
    )
    ok, failed = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert ok.accepted
    assert failed.ref == "r2"
    assert (failed.error_kind, failed.error_code, failed.retry_after) == (kind, error, retry_after)


def test_a_number_without_status_is_ambiguous_not_accepted(client, httpserver):
    Provider(httpserver, (200, send_status(status_ok("+8618501234444", "5000:1"))))
    ok, missing = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert ok.accepted
    assert (missing.ref, missing.accepted) == ("r2", False)
    assert (missing.error_kind, missing.error_code) == (AMBIGUOUS, ERR_UNKNOWN)


def test_a_status_without_code_is_ambiguous(client, httpserver):
    unreadable = {**status_ok("+8618501234445", "5000:2"), "Code": None}
    Provider(httpserver, (200, send_status(status_ok("+8618501234444", "5000:1"), unreadable)))
    ok, unclear = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert ok.accepted
    assert (unclear.accepted, unclear.error_kind, unclear.error_code) == (
        False,
        AMBIGUOUS,
        ERR_UNKNOWN,
    )


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        '{"Response": {"SendStatusSet": [',
        {"RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"},
        {"Response": {"RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}},
        {"Response": {"SendStatusSet": "Ok"}},
        "",
    ],
)
def test_unreadable_success_answer_is_ambiguous_never_resent(client, httpserver, body):
    provider = Provider(httpserver, (200, body))
    results = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("r1", False, AMBIGUOUS, ERR_UNKNOWN),
        ("r2", False, AMBIGUOUS, ERR_UNKNOWN),
    ]
    assert len(provider.received) == 1


def test_error_status_without_response_error_follows_the_http_status(client, httpserver):
    Provider(httpserver, (503, {"Response": {"RequestId": "x"}}, {"Retry-After": "5"}))
    [result] = client.send([sms("r1")])
    assert (result.error_kind, result.error_code, result.retry_after) == (
        RETRYABLE,
        ERR_SERVER,
        5.0,
    )


REQUEST_ERROR_CASES = [
    ("AuthFailure.SignatureFailure", RETRYABLE, ERR_AUTH),
    ("AuthFailure.SecretIdNotFound", RETRYABLE, ERR_AUTH),
    ("AuthFailure.SignatureExpire", RETRYABLE, ERR_AUTH),
    ("RequestLimitExceeded", RETRYABLE, ERR_RATE_LIMITED),
    ("RequestLimitExceeded.UinLimitExceeded", RETRYABLE, ERR_RATE_LIMITED),
    ("LimitExceeded.AppDailyLimit", RETRYABLE, ERR_RATE_LIMITED),
    ("LimitExceeded.DeliveryFrequencyLimit", RETRYABLE, ERR_RATE_LIMITED),
    ("FailedOperation.InsufficientBalanceInSmsPackage", PERMANENT, ERR_INSUFFICIENT_FUNDS),
    ("UnauthorizedOperation.SerivceSuspendDueToArrears", PERMANENT, ERR_INSUFFICIENT_FUNDS),
    ("InvalidParameterValue.IncorrectPhoneNumber", PERMANENT, ERR_INVALID_NUMBER),
    ("UnsupportedOperation.UnsuportedRegion", PERMANENT, ERR_UNSUPPORTED_COUNTRY),
    ("UnsupportedOperation.UnsupportedRegion", PERMANENT, ERR_UNSUPPORTED_COUNTRY),
    ("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", PERMANENT, ERR_REJECTED),
    ("FailedOperation.SignatureIncorrectOrUnapproved", PERMANENT, ERR_REJECTED),
    ("FailedOperation.TemplateIncorrectOrUnapproved", PERMANENT, ERR_REJECTED),
    ("InvalidParameterValue.SdkAppIdNotExist", RETRYABLE, ERR_AUTH),
    ("InternalError.Timeout", RETRYABLE, ERR_SERVER),
    ("InternalError", RETRYABLE, ERR_SERVER),
    ("MissingParameter.EmptyPhoneNumberSet", PERMANENT, ERR_REJECTED),
    ("SomethingUnheardOf", PERMANENT, ERR_UNKNOWN),
]


@pytest.mark.parametrize(("code", "kind", "error"), REQUEST_ERROR_CASES)
def test_request_level_errors(client, httpserver, code, kind, error):
    Provider(httpserver, (200, request_error(code, "provider words")))
    results = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert [r.ref for r in results] == ["r1", "r2"]
    for result in results:
        assert not result.accepted
        assert (result.error_kind, result.error_code) == (kind, error)
        assert result.error_message == f"{code}: provider words"


def test_read_timeout_is_ambiguous_and_never_resent(httpserver):
    provider = Provider(httpserver, echo_ok, delay=0.6)
    client = FixedTencent(settings_for(httpserver), timeout=0.2)
    results = client.send([sms("r1"), sms("r2", "+8618501234445")])
    assert [r.ref for r in results] == ["r1", "r2"]
    assert all(not r.accepted for r in results)
    assert all((r.error_kind, r.error_code) == (AMBIGUOUS, ERR_TIMEOUT) for r in results)
    assert len(provider.received) == 1


@pytest.fixture
def hang_up_server():
    server = HangUpServer()
    yield server
    server.close()


def test_connection_closed_after_the_request_is_ambiguous(hang_up_server):
    settings = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": "1",
        "sign_name": "s",
        "template_id": "t",
        "base_url": hang_up_server.url,
    }
    results = FixedTencent(settings, timeout=2.0).send([sms("r1"), sms("r2", "+8618501234445")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("r1", False, AMBIGUOUS, ERR_NETWORK),
        ("r2", False, AMBIGUOUS, ERR_NETWORK),
    ]
    [(head, body)] = hang_up_server.requests
    assert head.startswith(b"POST / ")
    assert json.loads(body)["PhoneNumberSet"] == ["+8618501234444", "+8618501234445"]
    assert SECRET_KEY not in results[0].error_message


def test_connection_refused_is_a_retryable_network_error():
    settings = {
        "secret_id": "i",
        "secret_key": "k",
        "sdk_app_id": "1",
        "sign_name": "s",
        "template_id": "t",
        "base_url": f"http://127.0.0.1:{free_port()}",
    }
    [result] = FixedTencent(settings, timeout=2.0).send([sms("r1")])
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_NETWORK)


def test_http_429_is_rate_limited_with_retry_after(client, httpserver):
    Provider(httpserver, (429, "slow down", {"Retry-After": "12"}))
    [result] = client.send([sms("r1")])
    assert (result.error_kind, result.error_code, result.retry_after) == (
        RETRYABLE,
        ERR_RATE_LIMITED,
        12.0,
    )


def test_gateway_html_error_is_a_retryable_server_error(client, httpserver):
    Provider(httpserver, (504, "<html>Gateway Timeout</html>"))
    [result] = client.send([sms("r1")])
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_SERVER)


def test_every_request_passes_the_timeout(httpserver):
    class RecordingSession(requests.Session):
        def __init__(self):
            super().__init__()
            self.timeouts = []

        def request(self, method, url, **kwargs):
            self.timeouts.append(kwargs.get("timeout"))
            return super().request(method, url, **kwargs)

    Provider(httpserver, echo_ok)
    session = RecordingSession()
    client = FixedTencent(settings_for(httpserver), session=session, timeout=4.0)
    client.send([sms("r1", body="A"), sms("r2", "+8618501234445", body="B")])
    assert session.timeouts == [4.0, 4.0]


# -- configuration ------------------------------------------------------------------------------


def test_registered_under_its_code():
    assert base.REGISTRY["tencent"] is tencent.TencentClient
    assert tencent.TencentClient.max_batch == 200


@pytest.mark.parametrize(
    "missing", ["secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id"]
)
def test_required_settings(missing):
    settings = {
        "secret_id": "i",
        "secret_key": "k",
        "sdk_app_id": "1",
        "sign_name": "s",
        "template_id": "t",
    }
    del settings[missing]
    with pytest.raises(GatewayConfigError) as info:
        tencent.TencentClient(settings)
    assert info.value.field == missing


def test_defaults_and_bad_base_url():
    settings = {
        "secret_id": "i",
        "secret_key": "k",
        "sdk_app_id": "1",
        "sign_name": "s",
        "template_id": "t",
    }
    client = tencent.TencentClient(settings)
    assert client.url == "https://sms.tencentcloudapi.com/"
    assert client.host == "sms.tencentcloudapi.com"
    assert client.region == "ap-guangzhou"
    with pytest.raises(GatewayConfigError):
        tencent.TencentClient({**settings, "base_url": "sms.tencentcloudapi.com"})


# -- callbacks ----------------------------------------------------------------------------------


def callback(payload):
    return WebhookRequest(
        method="POST",
        url="https://odoo.example.com/sms/webhook/tencent/secret-token/status",
        headers={"content-type": "application/json"},
        body=json.dumps(payload, ensure_ascii=False).encode(),
    )


#: The documented status callback example (masked number and sid filled in).
STATUS_CALLBACK = [
    {
        "user_receive_time": "2015-10-17 08:03:04",
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "5000:1045710669157053657849499619",
    }
]


def test_status_callback_documented_example(client):
    client.verify_webhook(callback(STATUS_CALLBACK), WEBHOOK_STATUS)  # unsigned: accepted
    [report] = client.parse_status(callback(STATUS_CALLBACK))
    assert report.provider_id == "5000:1045710669157053657849499619"
    assert report.status == STATUS_DELIVERED
    assert report.to == "+8613800138000"
    assert report.error_code is None
    assert report.occurred_at == datetime(2015, 10, 17, 0, 3, 4, tzinfo=timezone.utc)


def test_status_callback_failure_and_several_results(client):
    failed = {
        **STATUS_CALLBACK[0],
        "report_status": "FAIL",
        "errmsg": "MN:0001",
        "description": "空号",
        "sid": "5000:2",
        "nationcode": "852",
        "mobile": "91234567",
    }
    reports = client.parse_status(callback([STATUS_CALLBACK[0], failed, {"no": "sid"}]))
    assert [r.provider_id for r in reports] == ["5000:1045710669157053657849499619", "5000:2"]
    assert reports[1].status == STATUS_UNDELIVERED
    assert (reports[1].error_code, reports[1].error_message) == ("MN:0001", "空号")
    assert reports[1].to == "+85291234567"


def test_provider_id_round_trip(client, httpserver):
    Provider(httpserver, echo_ok)
    [result] = client.send([sms("r1", "+8613800138000")])
    [report] = client.parse_status(callback([{**STATUS_CALLBACK[0], "sid": result.provider_id}]))
    assert report.provider_id == result.provider_id


#: The documented reply callback example.
REPLY_CALLBACK = {
    "extend": "",
    "mobile": "13800138000",
    "nationcode": "86",
    "sign": "腾讯云",
    "text": "TD",
    "time": 1457336869,
}


@pytest.mark.parametrize("payload", [REPLY_CALLBACK, [REPLY_CALLBACK]])
def test_reply_callback_documented_example(client, payload):
    [inbound] = client.parse_inbound(callback(payload))
    assert inbound.sender == "+8613800138000"
    assert inbound.body == "TD"
    assert inbound.to == "腾讯云"
    assert inbound.received_at == datetime(2016, 3, 7, 7, 47, 49, tzinfo=timezone.utc)
    assert inbound.provider_id  # stable, so a re-delivered callback can be recognised
    assert client.parse_inbound(callback(payload))[0].provider_id == inbound.provider_id


def test_reply_callback_without_number_is_ignored(client):
    assert client.parse_inbound(callback({"text": "hi"})) == []


def test_webhook_response_is_the_documented_json(client):
    for kind in (WEBHOOK_STATUS, WEBHOOK_INBOUND):
        response = client.webhook_response(kind)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert json.loads(response.body) == {"result": 0, "errmsg": "OK"}
