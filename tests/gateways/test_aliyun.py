"""Alibaba Cloud SMS client against a real local HTTP server (pytest-httpserver).

The server side of these tests re-computes every request's V3 signature with its own
implementation of the documented algorithm (RFC 3986 encoding via ``quote(safe="")``,
headers taken from ``SignedHeaders``), so a client-side mistake cannot verify itself.
Response bodies follow the shapes documented for SendSms/SendBatchSms (``Code``,
``Message``, ``BizId``, ``RequestId``) and for the OpenAPI gateway errors.
"""

import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
import requests
from werkzeug.wrappers import Response

from sms_marketing.core.gateways import aliyun, base
from sms_marketing.core.gateways.base import (
    AMBIGUOUS,
    ERR_AUTH,
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
    STATUS_FAILED,
    STATUS_UNDELIVERED,
    WEBHOOK_INBOUND,
    WEBHOOK_STATUS,
    GatewayConfigError,
    OutboundSms,
    WebhookRequest,
)

from .servers import HangUpServer, free_port

KEY_ID = "LTAI5tTestKeyId"
KEY_SECRET = "TestKeySecret0123456789"
NOW = datetime(2024, 5, 1, 8, 30, 0, tzinfo=timezone.utc)
NONCE = "d410180a5abf7fe235dd9b74aca91fc0"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BIZ_ID = "900619746936498440^0"


class FixedAliyun(aliyun.AliyunClient):
    """The client with a fixed clock and nonce, so requests are reproducible."""

    def _now(self):
        return NOW

    def _nonce(self):
        return NONCE


def settings_for(server, **extra):
    settings = {
        "access_key_id": KEY_ID,
        "access_key_secret": KEY_SECRET,
        "sign_name": "阿里云短信测试",
        "template_code": "SMS_154950909",
        "base_url": server.url_for("/").rstrip("/"),
    }
    settings.update(extra)
    return settings


@pytest.fixture
def client(httpserver):
    return FixedAliyun(settings_for(httpserver), timeout=2.0)


def sms(ref, to="+8613800138000", body="春季新品上市，全场八折", **kwargs):
    return OutboundSms(ref=ref, to=to, body=body, **kwargs)


# -- an independent server-side verifier ------------------------------------------------------


def rfc3986(value):
    return quote(value, safe="")  # unreserved characters only: space %20, * %2A, ~ kept


def expected_signature(request):
    """``(credential, signed_headers, signature)`` recomputed from the received request."""
    match = re.fullmatch(
        r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})",
        request.headers["Authorization"],
    )
    assert match, request.headers["Authorization"]
    credential, signed_headers, _sent = match.groups()
    canonical_headers = "".join(
        f"{name}:{request.headers[name].strip()}\n" for name in signed_headers.split(";")
    )
    query = "&".join(
        f"{rfc3986(key)}={rfc3986(value)}" for key, value in sorted(request.args.items(multi=True))
    )
    canonical_request = "\n".join(
        [
            request.method,
            request.path,
            query,
            canonical_headers,
            signed_headers,
            hashlib.sha256(request.get_data()).hexdigest(),
        ]
    )
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    signature = hmac.new(KEY_SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return credential, signed_headers, signature, query


class Provider:
    """Serves a queue of (status, body, headers) answers and records what it received."""

    def __init__(self, httpserver, *answers, delay=0.0):
        self.answers = list(answers)
        self.received = []
        self.delay = delay
        httpserver.expect_request("/", method="POST").respond_with_handler(self.handle)

    def handle(self, request):
        credential, signed_headers, signature, canonical_query = expected_signature(request)
        self.received.append(
            {
                "method": request.method,
                "path": request.path,
                "query_string": request.query_string.decode(),
                "canonical_query": canonical_query,
                "args": dict(request.args.items()),
                "headers": {key.lower(): value for key, value in request.headers.items()},
                "body": request.get_data(),
                "credential": credential,
                "signed_headers": signed_headers,
                "signature_ok": request.headers["Authorization"].endswith(f"Signature={signature}"),
            }
        )
        if self.delay:
            time.sleep(self.delay)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            answer = answer(request)
        status, body, headers = (*answer, {})[:3]
        if isinstance(body, (dict, list)):
            return Response(json.dumps(body), status, headers, content_type="application/json")
        return Response(body, status, headers, content_type="text/html")


def ok_body(biz_id=BIZ_ID):
    return {
        "Message": "OK",
        "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
        "Code": "OK",
        "BizId": biz_id,
    }


def error_body(code, message="error"):
    return {"Message": message, "RequestId": "A90E4451-FED7-49D2-87C8-00700A8C4D0D", "Code": code}


# -- the V3 signature -------------------------------------------------------------------------


def test_signature_reproduces_the_documented_example():
    """The fixed-value example of "V3 request body & signature mechanism" (Alibaba Cloud SDK
    docs): RunInstances on ecs.cn-shanghai with nonce 3156853299f313e23d1673dc12e1703d at
    2023-10-26T10:22:32Z signs to 06563a9e..."""
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    query = {
        "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        "RegionId": "cn-shanghai",
    }
    authorization, canonical_request = aliyun.acs3_authorization(
        "POST", "/", query, headers, b"", "YourAccessKeyId", "YourAccessKeySecret"
    )
    assert canonical_request == (
        "POST\n/\n"
        "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
        "host:ecs.cn-shanghai.aliyuncs.com\n"
        "x-acs-action:RunInstances\n"
        f"x-acs-content-sha256:{EMPTY_SHA256}\n"
        "x-acs-date:2023-10-26T10:22:32Z\n"
        "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
        "x-acs-version:2014-05-26\n"
        "\n"
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
        f"{EMPTY_SHA256}"
    )
    assert (
        hashlib.sha256(canonical_request.encode()).hexdigest()
        == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert authorization == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;"
        "x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("a*b", "a%2Ab"),
        ("a~b-c_d.e", "a~b-c_d.e"),
        ("a+b/c=d&e", "a%2Bb%2Fc%3Dd%26e"),
        ('{"k":"v"}', "%7B%22k%22%3A%22v%22%7D"),
        ("短信", "%E7%9F%AD%E4%BF%A1"),
    ],
)
def test_percent_encoding_follows_rfc3986(raw, encoded):
    assert aliyun.percent_encode(raw) == encoded


def test_canonical_query_is_sorted_by_name():
    assert aliyun.canonical_query_string({"b": "2", "A": "1", "a": "x y"}) == "A=1&a=x%20y&b=2"


# -- sending ----------------------------------------------------------------------------------


def test_single_message_uses_sendsms_with_outid(client, httpserver):
    provider = Provider(httpserver, (200, ok_body()))
    [result] = client.send([sms("trace-1")])

    [sent] = provider.received
    assert sent["method"] == "POST"
    assert sent["path"] == "/"
    assert sent["body"] == b""
    assert sent["args"] == {
        "OutId": "trace-1",
        "PhoneNumbers": "13800138000",
        "SignName": "阿里云短信测试",
        "TemplateCode": "SMS_154950909",
        "TemplateParam": '{"content":"春季新品上市，全场八折"}',
    }
    # the query string goes out exactly in canonical form
    assert sent["query_string"] == sent["canonical_query"]
    headers = sent["headers"]
    assert headers["x-acs-action"] == "SendSms"
    assert headers["x-acs-version"] == "2017-05-25"
    assert headers["x-acs-date"] == "2024-05-01T08:30:00Z"
    assert headers["x-acs-signature-nonce"] == NONCE
    assert headers["x-acs-content-sha256"] == EMPTY_SHA256
    assert headers["host"] == httpserver.url_for("/").split("/")[2]
    assert sent["credential"] == KEY_ID
    assert sent["signed_headers"] == (
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    )
    assert sent["signature_ok"]

    assert result.ref == "trace-1"
    assert result.accepted
    assert result.provider_id == f"{BIZ_ID}:13800138000"


def test_batch_uses_sendbatchsms_with_json_arrays(client, httpserver):
    provider = Provider(httpserver, (200, ok_body()))
    messages = [
        sms("r1", "+8613800138000"),
        sms("r2", "+85291234567", params={"name": "陈", "code": "A1"}),
        sms("r3", "+447911123456", body="Spring sale", sender="【Other Sign】"),
    ]
    results = client.send(messages)

    [sent] = provider.received
    assert sent["headers"]["x-acs-action"] == "SendBatchSms"
    assert sent["signature_ok"]
    args = sent["args"]
    assert set(args) == {"PhoneNumberJson", "SignNameJson", "TemplateCode", "TemplateParamJson"}
    assert json.loads(args["PhoneNumberJson"]) == ["13800138000", "85291234567", "447911123456"]
    assert json.loads(args["SignNameJson"]) == ["阿里云短信测试", "阿里云短信测试", "Other Sign"]
    assert json.loads(args["TemplateParamJson"]) == [
        {"content": "春季新品上市，全场八折"},
        {"name": "陈", "code": "A1"},
        {"content": "Spring sale"},
    ]
    assert args["TemplateCode"] == "SMS_154950909"
    assert [r.ref for r in results] == ["r1", "r2", "r3"]
    assert all(r.accepted for r in results)
    assert [r.provider_id for r in results] == [
        f"{BIZ_ID}:13800138000",
        f"{BIZ_ID}:85291234567",
        f"{BIZ_ID}:447911123456",
    ]


def test_template_param_name_setting_and_security_token(httpserver):
    provider = Provider(httpserver, (200, ok_body()))
    client = FixedAliyun(
        settings_for(httpserver, template_param_name="msg", security_token="sts-token"),
        timeout=2.0,
    )
    client.send([sms("r1", body="hello")])
    [sent] = provider.received
    assert sent["args"]["TemplateParam"] == '{"msg":"hello"}'
    assert sent["headers"]["x-acs-security-token"] == "sts-token"
    assert "x-acs-security-token" in sent["signed_headers"].split(";")
    assert sent["signature_ok"]


def test_repeated_number_goes_to_separate_requests(client, httpserver):
    provider = Provider(httpserver, (200, ok_body("B1")), (200, ok_body("B2")))
    results = client.send(
        [sms("r1", "+8613800138000"), sms("r2", "+8613900139000"), sms("r3", "+8613800138000")]
    )
    assert [s["headers"]["x-acs-action"] for s in provider.received] == [
        "SendBatchSms",
        "SendSms",
    ]
    assert [r.provider_id for r in results] == [
        "B1:13800138000",
        "B1:13900139000",
        "B2:13800138000",
    ]
    assert len({r.provider_id for r in results}) == 3


def test_numbers_that_are_not_e164_are_refused_without_a_request(client, httpserver):
    provider = Provider(httpserver, (200, ok_body()))
    results = client.send([sms("bad", "13800138000"), sms("good"), sms("short", "+12")])
    assert [r.ref for r in results] == ["bad", "good", "short"]
    assert results[0].error_kind == PERMANENT
    assert results[0].error_code == ERR_INVALID_NUMBER
    assert results[1].accepted
    assert results[2].error_code == ERR_INVALID_NUMBER
    assert len(provider.received) == 1
    assert provider.received[0]["headers"]["x-acs-action"] == "SendSms"


def test_every_request_passes_the_timeout(httpserver):
    class RecordingSession(requests.Session):
        def __init__(self):
            super().__init__()
            self.timeouts = []

        def request(self, method, url, **kwargs):
            self.timeouts.append(kwargs.get("timeout"))
            return super().request(method, url, **kwargs)

    Provider(httpserver, (200, ok_body()))
    session = RecordingSession()
    client = FixedAliyun(settings_for(httpserver), session=session, timeout=3.5)
    client.send([sms("r1"), sms("r2", "+8613900139000")])
    client.send([sms("r3")])
    assert session.timeouts == [3.5, 3.5]


# -- provider errors ----------------------------------------------------------------------------

ERROR_CASES = [
    # (HTTP status, documented code, expected kind, expected normalised code)
    (200, "isv.MOBILE_NUMBER_ILLEGAL", PERMANENT, ERR_INVALID_NUMBER),
    (200, "isv.BUSINESS_LIMIT_CONTROL", RETRYABLE, ERR_RATE_LIMITED),
    (200, "isv.DAY_LIMIT_CONTROL", RETRYABLE, ERR_RATE_LIMITED),
    (400, "Throttling.User", RETRYABLE, ERR_RATE_LIMITED),
    (200, "isv.AMOUNT_NOT_ENOUGH", PERMANENT, ERR_INSUFFICIENT_FUNDS),
    (200, "isv.OUT_OF_SERVICE", PERMANENT, ERR_INSUFFICIENT_FUNDS),
    (200, "isv.SMS_SIGNATURE_ILLEGAL", PERMANENT, ERR_REJECTED),
    (200, "isv.SMS_TEMPLATE_ILLEGAL", PERMANENT, ERR_REJECTED),
    (200, "isv.TEMPLATE_MISSING_PARAMETERS", PERMANENT, ERR_REJECTED),
    (200, "isv.BLACK_KEY_CONTROL_LIMIT", PERMANENT, ERR_REJECTED),
    (200, "isv.SMS_CONTENT_ILLEGAL", PERMANENT, ERR_REJECTED),
    (404, "InvalidAccessKeyId.NotFound", RETRYABLE, ERR_AUTH),
    (400, "SignatureDoesNotMatch", RETRYABLE, ERR_AUTH),
    (200, "isp.RAM_PERMISSION_DENY", RETRYABLE, ERR_AUTH),
    (200, "isv.DOMESTIC_NUMBER_NOT_SUPPORTED", PERMANENT, ERR_UNSUPPORTED_COUNTRY),
    (200, "isp.SYSTEM_ERROR", RETRYABLE, ERR_SERVER),
    (503, "ServiceUnavailable", RETRYABLE, ERR_SERVER),
    (200, "isv.SOMETHING_NEW", PERMANENT, ERR_REJECTED),
    (400, "SomethingElse", PERMANENT, ERR_UNKNOWN),
]


@pytest.mark.parametrize(("status", "code", "kind", "error"), ERROR_CASES)
def test_documented_error_codes_are_normalised(client, httpserver, status, code, kind, error):
    body = error_body(code, "provider words")
    if code in ("SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "Throttling.User"):
        body = {**body, "HostId": "dysmsapi.aliyuncs.com", "Recommend": "https://api.aliyun.com"}
    Provider(httpserver, (status, body))
    [result] = client.send([sms("trace-9")])
    assert result.ref == "trace-9"
    assert not result.accepted
    assert (result.error_kind, result.error_code) == (kind, error)
    assert code in result.error_message


def test_batch_refused_for_one_number_is_resent_one_by_one(client, httpserver):
    def answer(request):
        if request.headers["x-acs-action"] == "SendBatchSms":
            return 200, error_body("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if request.args["PhoneNumbers"] == "13800138000":
            return 200, ok_body("SINGLE")
        return 200, error_body("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")

    provider = Provider(httpserver, answer)
    results = client.send([sms("r1", "+8613800138000"), sms("r2", "+8612345678901")])
    assert [s["headers"]["x-acs-action"] for s in provider.received] == [
        "SendBatchSms",
        "SendSms",
        "SendSms",
    ]
    assert all(s["signature_ok"] for s in provider.received)
    assert results[0].accepted
    assert results[0].provider_id == "SINGLE:13800138000"
    assert (results[1].error_kind, results[1].error_code) == (PERMANENT, ERR_INVALID_NUMBER)


def test_batch_wide_error_fails_every_message_once(client, httpserver):
    provider = Provider(httpserver, (200, error_body("isv.AMOUNT_NOT_ENOUGH", "余额不足")))
    results = client.send([sms("r1"), sms("r2", "+8613900139000")])
    assert len(provider.received) == 1
    assert [r.ref for r in results] == ["r1", "r2"]
    assert all(r.error_code == ERR_INSUFFICIENT_FUNDS for r in results)


def test_read_timeout_is_ambiguous_and_never_resent(httpserver):
    provider = Provider(httpserver, (200, ok_body()), delay=0.6)
    client = FixedAliyun(settings_for(httpserver), timeout=0.2)
    results = client.send([sms("r1"), sms("r2", "+8613900139000")])
    assert [r.ref for r in results] == ["r1", "r2"]
    assert all(not r.accepted for r in results)
    assert all((r.error_kind, r.error_code) == (AMBIGUOUS, ERR_TIMEOUT) for r in results)
    assert [s["headers"]["x-acs-action"] for s in provider.received] == ["SendBatchSms"]


@pytest.fixture
def hang_up_server():
    server = HangUpServer()
    yield server
    server.close()


def test_connection_closed_after_the_request_is_ambiguous(hang_up_server):
    settings = {
        "access_key_id": KEY_ID,
        "access_key_secret": KEY_SECRET,
        "sign_name": "s",
        "template_code": "SMS_1",
        "base_url": hang_up_server.url,
    }
    results = FixedAliyun(settings, timeout=2.0).send([sms("r1"), sms("r2", "+8613900139000")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("r1", False, AMBIGUOUS, ERR_NETWORK),
        ("r2", False, AMBIGUOUS, ERR_NETWORK),
    ]
    [(head, _body)] = hang_up_server.requests  # the batch is not re-sent one by one
    assert head.startswith(b"POST /?")
    assert b"x-acs-action: sendbatchsms" in head.lower()
    assert KEY_SECRET not in results[0].error_message


def test_connection_refused_is_a_retryable_network_error():
    settings = {
        "access_key_id": KEY_ID,
        "access_key_secret": KEY_SECRET,
        "sign_name": "s",
        "template_code": "SMS_1",
        "base_url": f"http://127.0.0.1:{free_port()}",
    }
    [result] = FixedAliyun(settings, timeout=2.0).send([sms("r1")])
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_NETWORK)
    assert result.ref == "r1"


def test_http_429_without_json_is_rate_limited_with_retry_after(client, httpserver):
    Provider(httpserver, (429, "Too Many Requests", {"Retry-After": "7"}))
    [result] = client.send([sms("r1")])
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_RATE_LIMITED)
    assert result.retry_after == 7.0


def test_gateway_html_error_is_a_retryable_server_error(client, httpserver):
    Provider(httpserver, (502, "<html><body>Bad Gateway</body></html>"))
    [result] = client.send([sms("r1")])
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_SERVER)
    assert "Bad Gateway" in result.error_message


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        '{"Code": "OK", "BizId": ',
        {"Message": "OK", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"},
        ["OK"],
        "",
    ],
)
def test_unreadable_success_answer_is_ambiguous_never_resent(client, httpserver, body):
    provider = Provider(httpserver, (200, body))
    results = client.send([sms("r1"), sms("r2", "+8613900139000")])
    assert [(r.ref, r.accepted, r.error_kind, r.error_code) for r in results] == [
        ("r1", False, AMBIGUOUS, ERR_UNKNOWN),
        ("r2", False, AMBIGUOUS, ERR_UNKNOWN),
    ]
    assert len(provider.received) == 1


# -- configuration ------------------------------------------------------------------------------


def test_registered_under_its_code():
    assert base.REGISTRY["aliyun"] is aliyun.AliyunClient
    assert aliyun.AliyunClient.max_batch == 100


@pytest.mark.parametrize(
    "missing", ["access_key_id", "access_key_secret", "sign_name", "template_code"]
)
def test_required_settings(missing):
    settings = {
        "access_key_id": "i",
        "access_key_secret": "s",
        "sign_name": "n",
        "template_code": "t",
    }
    del settings[missing]
    with pytest.raises(GatewayConfigError) as info:
        aliyun.AliyunClient(settings)
    assert info.value.field == missing


def test_endpoint_defaults_to_the_global_one_and_follows_the_region():
    settings = {
        "access_key_id": "i",
        "access_key_secret": "s",
        "sign_name": "n",
        "template_code": "t",
    }
    assert aliyun.AliyunClient(settings).base_url == "https://dysmsapi.aliyuncs.com"
    singapore = aliyun.AliyunClient({**settings, "region": "ap-southeast-1"})
    assert singapore.base_url == "https://dysmsapi.ap-southeast-1.aliyuncs.com"
    with pytest.raises(GatewayConfigError) as info:
        aliyun.AliyunClient({**settings, "base_url": "dysmsapi.aliyuncs.com"})
    assert info.value.field == "base_url"


# -- HTTP batch push: SmsReport and SmsUp ------------------------------------------------------


def push(payload):
    return WebhookRequest(
        method="POST",
        url="https://odoo.example.com/sms/webhook/aliyun/secret-token/status",
        headers={"content-type": "application/json"},
        body=json.dumps(payload, ensure_ascii=False).encode(),
    )


# The documented SmsReport example, with the masked digits filled in.
SMS_REPORT = [
    {
        "phone_number": "13811110000",
        "send_time": "2017-01-01 00:00:00",
        "report_time": "2017-01-01 00:00:00",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": "12345",
        "out_id": "67890",
    }
]


def test_sms_report_documented_example(client):
    client.verify_webhook(push(SMS_REPORT), WEBHOOK_STATUS)  # no signature: accepted
    [report] = client.parse_status(push(SMS_REPORT))
    assert report.provider_id == "12345:13811110000"
    assert report.status == STATUS_DELIVERED
    assert report.ref == "67890"
    assert report.to == "+8613811110000"
    assert report.error_code is None
    assert report.occurred_at == datetime(2016, 12, 31, 16, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("success", "err_code", "status"),
    [
        (False, "MOBILE_NOT_ON_SERVICE", STATUS_UNDELIVERED),
        (False, "MOBILE_TERMINAL_ERROR", STATUS_UNDELIVERED),
        ("false", "EXPIRED", STATUS_UNDELIVERED),
        (False, "CONTENT_KEYWORD", STATUS_FAILED),
        (False, "USER_REJECT", STATUS_FAILED),
        (False, "isv.SMS_CONTENT_ILLEGAL", STATUS_FAILED),
        ("true", "DELIVERED", STATUS_DELIVERED),
    ],
)
def test_sms_report_failures(client, success, err_code, status):
    item = {**SMS_REPORT[0], "success": success, "err_code": err_code, "err_msg": "说明"}
    [report] = client.parse_status(push([item]))
    assert report.status == status
    if status != STATUS_DELIVERED:
        assert (report.error_code, report.error_message) == (err_code, "说明")


def test_report_matches_the_provider_id_given_at_send_time(client, httpserver):
    Provider(httpserver, (200, ok_body("777^0")))
    results = client.send([sms("r1", "+8613800138000"), sms("r2", "+85291234567")])
    reports = client.parse_status(
        push(
            [
                {**SMS_REPORT[0], "biz_id": "777^0", "phone_number": "13800138000", "out_id": ""},
                {**SMS_REPORT[0], "biz_id": "777^0", "phone_number": "85291234567", "out_id": ""},
            ]
        )
    )
    assert [r.provider_id for r in reports] == [r.provider_id for r in results]
    assert [r.to for r in reports] == ["+8613800138000", "+85291234567"]
    assert all(r.ref is None for r in reports)


def test_report_push_with_garbage_items_keeps_the_valid_ones(client):
    payload = [{"phone_number": "13800138000"}, "junk", {**SMS_REPORT[0]}]
    assert [r.provider_id for r in client.parse_status(push(payload))] == ["12345:13811110000"]
    assert client.parse_status(push({"unexpected": True})) == []


def test_sms_up_documented_example(client):
    payload = [
        {
            "phone_number": "13811110000",
            "send_time": "2017-09-01 00:00:00",
            "content": "内容",
            "sign_name": "签名",
            "dest_code": "1234",
            "sequence_id": 1234567890,
        },
        {
            "phone_number": "85291234567",
            "content": "TD",
            "send_time": "2017-09-01 00:00:00",
            "dest_code": "1234",
            "sequence_id": "1234567891",
        },
    ]
    first, second = client.parse_inbound(push(payload))
    assert first.sender == "+8613811110000"
    assert first.body == "内容"
    assert first.to == "签名"
    assert first.provider_id == "1234567890"
    assert first.received_at == datetime(2017, 8, 31, 16, 0, tzinfo=timezone.utc)
    assert second.sender == "+85291234567"
    assert second.to == "1234"
    assert second.provider_id == "1234567891"


def test_webhook_response_is_the_documented_json(client):
    for kind in (WEBHOOK_STATUS, WEBHOOK_INBOUND):
        response = client.webhook_response(kind)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert json.loads(response.body) == {"code": 0, "msg": "接收成功"}
