"""Alibaba Cloud Short Message Service (Dysmsapi ``2017-05-25``), without the vendor SDK.

Documentation followed (read 2025-2026, Chinese and English editions agree):

* Request signing, V3 ``ACS3-HMAC-SHA256`` ("V3 request body & signature mechanism" /
  "V3版本请求体&签名机制"):
  https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature
  (https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature).
  Canonical request = method, canonical URI (``/`` for RPC APIs), canonical query string
  (parameters sorted by name, RFC 3986 encoded: space ``%20``, ``*`` ``%2A``, ``~`` kept),
  canonical headers (``host``, ``content-type`` and every ``x-acs-*`` header, lower-case,
  sorted, ``name:trimmed value\\n``), signed header names, and the hex SHA-256 of the body;
  string to sign = ``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request;
  signature = hex HMAC-SHA256 keyed with the AccessKey secret; header
  ``Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>``.
  :func:`acs3_authorization` reproduces the document's fixed-value worked example
  (``RunInstances``, nonce ``3156853299f313e23d1673dc12e1703d``, signature ``06563a9e...``).
* SendSms: https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendsms
  and SendBatchSms (at most 100 numbers, JSON arrays ``PhoneNumberJson``, ``SignNameJson``,
  ``TemplateParamJson`` matched one to one):
  https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendbatchsms.
  Both are RPC operations whose parameters are ``"in": "query"``: they travel in the query
  string of a ``POST`` with an empty body (hash of the empty string). Number format per the
  docs: Chinese mainland numbers with no prefix (``+``/``86``/``0086`` also accepted),
  international numbers as country code + number without ``+``.
* Endpoints per region: https://help.aliyun.com/document_detail/68360.html (the global
  ``dysmsapi.aliyuncs.com`` serves the Chinese regions; Singapore, Jakarta and Frankfurt
  have their own host).
* API error codes: https://help.aliyun.com/zh/sms/developer-reference/api-error-codes
  (``isv.*``/``isp.*``) and the OpenAPI gateway's own (``SignatureDoesNotMatch``,
  ``InvalidAccessKeyId.NotFound``, ``Throttling.User``...).
* Delivery reports, HTTP batch push ``SmsReport``:
  https://help.aliyun.com/zh/sms/developer-reference/smsreport-2 and replies ``SmsUp``:
  https://help.aliyun.com/zh/sms/developer-reference/smsup-http. Both push a JSON array and
  expect HTTP 200 with ``{"code": 0, "msg": "接收成功"}`` (only ``code`` being a number is
  checked). Alibaba does not sign these pushes: the webhook URL's secret token (checked by
  the Odoo route) is the authentication, so :meth:`verify_webhook` keeps the default.

Provider ids: Alibaba returns one ``BizId`` per request, shared by every number of a
``SendBatchSms`` call, and its delivery reports carry ``biz_id`` and ``phone_number``. The
id stored per message is therefore ``"<BizId>:<number as sent>"`` (mainland numbers without
country code, others with it, never a ``+``), and :meth:`AliyunClient.parse_status` builds
the same key from a report, so reports are matched by BizId + phone. A request never holds
the same number twice (duplicates go to separate requests) so the key stays unique.

Settings: ``access_key_id``, ``access_key_secret``, ``sign_name``, ``template_code``
(required); ``template_param_name`` (default ``content``: the body is sent as TemplateParam
``{"content": body}`` unless the message has ``params``, which are sent as they are);
``region`` (default ``cn-hangzhou``, picks the endpoint); ``base_url`` (default from the
region, ``https://dysmsapi.aliyuncs.com``); ``security_token`` (optional, STS credentials).
A message's ``sender`` (the gateway's sender field, e.g. ``【Brand】``) overrides the sign
name; the 【】 brackets are dropped, as the API wants the bare name.
"""

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

import requests

from .base import (
    AMBIGUOUS,
    ERR_AUTH,
    ERR_INSUFFICIENT_FUNDS,
    ERR_INVALID_NUMBER,
    ERR_RATE_LIMITED,
    ERR_REJECTED,
    ERR_SERVER,
    ERR_UNKNOWN,
    ERR_UNSUPPORTED_COUNTRY,
    PERMANENT,
    RETRYABLE,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_UNDELIVERED,
    GatewayClient,
    GatewayConfigError,
    InboundSms,
    OutboundSms,
    SendResult,
    StatusReport,
    WebhookResponse,
    bare_sign_name,
    http_error_result,
    json_items,
    parse_retry_after,
    register,
    request_failure,
    unique_number_groups,
)

API_VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_BASE_URL = "https://dysmsapi.aliyuncs.com"
#: Regions with their own public endpoint; every other region uses the global one.
REGION_ENDPOINTS = {
    "ap-southeast-1": "https://dysmsapi.ap-southeast-1.aliyuncs.com",
    "ap-southeast-5": "https://dysmsapi.ap-southeast-5.aliyuncs.com",
    "eu-central-1": "https://dysmsapi.eu-central-1.aliyuncs.com",
}
SEND_SMS = "SendSms"
SEND_BATCH_SMS = "SendBatchSms"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Time zone of the timestamps in Alibaba's pushes (Beijing time).
CHINA_TZ = timezone(timedelta(hours=8))

#: Provider error code -> (kind, normalised code).
ERROR_CODES = {
    # recipient
    "isv.MOBILE_NUMBER_ILLEGAL": (PERMANENT, ERR_INVALID_NUMBER),
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": (PERMANENT, ERR_UNSUPPORTED_COUNTRY),
    "isv.MOBILE_COUNT_OVER_LIMIT": (PERMANENT, ERR_REJECTED),
    # throttling and quotas (the console thresholds reset; retry later)
    "isv.BUSINESS_LIMIT_CONTROL": (RETRYABLE, ERR_RATE_LIMITED),
    "isv.DAY_LIMIT_CONTROL": (RETRYABLE, ERR_RATE_LIMITED),
    "isv.MONTH_LIMIT_CONTROL": (RETRYABLE, ERR_RATE_LIMITED),
    "Throttling": (RETRYABLE, ERR_RATE_LIMITED),
    "Throttling.User": (RETRYABLE, ERR_RATE_LIMITED),
    "Throttling.Api": (RETRYABLE, ERR_RATE_LIMITED),
    # money
    "isv.AMOUNT_NOT_ENOUGH": (PERMANENT, ERR_INSUFFICIENT_FUNDS),
    "isv.OUT_OF_SERVICE": (PERMANENT, ERR_INSUFFICIENT_FUNDS),
    # sign name, template, content
    "isv.SMS_SIGNATURE_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SMS_SIGN_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SMS_SIGN_NAME_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SIGN_STATE_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SMS_TEMPLATE_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.TEMPLATE_MISSING_PARAMETERS": (PERMANENT, ERR_REJECTED),
    "isv.TEMPLATE_PARAMS_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.SMS_CONTENT_ILLEGAL": (PERMANENT, ERR_REJECTED),
    "isv.BLACK_KEY_CONTROL_LIMIT": (PERMANENT, ERR_REJECTED),
    "isv.PARAM_LENGTH_LIMIT": (PERMANENT, ERR_REJECTED),
    "isv.PARAM_NOT_SUPPORT_URL": (PERMANENT, ERR_REJECTED),
    "isv.INVALID_PARAMETERS": (PERMANENT, ERR_REJECTED),
    "isv.INVALID_JSON_PARAM": (PERMANENT, ERR_REJECTED),
    "isv.EXTEND_CODE_ERROR": (PERMANENT, ERR_REJECTED),
    # credentials and account set-up: fixable by the operator, so retried after the fix
    "InvalidAccessKeyId.NotFound": (RETRYABLE, ERR_AUTH),
    "InvalidAccessKeyId.Inactive": (RETRYABLE, ERR_AUTH),
    "SignatureDoesNotMatch": (RETRYABLE, ERR_AUTH),
    "IncompleteSignature": (RETRYABLE, ERR_AUTH),
    "InvalidTimeStamp.Expired": (RETRYABLE, ERR_AUTH),
    "SignatureNonceUsed": (RETRYABLE, ERR_AUTH),
    "InvalidSecurityToken.Expired": (RETRYABLE, ERR_AUTH),
    "isp.RAM_PERMISSION_DENY": (RETRYABLE, ERR_AUTH),
    "isv.ACCOUNT_NOT_EXISTS": (RETRYABLE, ERR_AUTH),
    "isv.ACCOUNT_ABNORMAL": (RETRYABLE, ERR_AUTH),
    "isv.PRODUCT_UN_SUBSCRIPT": (RETRYABLE, ERR_AUTH),
    "isv.PRODUCT_UNSUBSCRIBE": (RETRYABLE, ERR_AUTH),
    "isv.DENY_IP_RANGE": (RETRYABLE, ERR_AUTH),
    # provider trouble
    "isp.SYSTEM_ERROR": (RETRYABLE, ERR_SERVER),
    "InternalError": (RETRYABLE, ERR_SERVER),
    "ServiceUnavailable": (RETRYABLE, ERR_SERVER),
}
#: Batch-level codes that concern one unknown number of the batch: the batch is re-sent
#: one message at a time so only the culprit fails.
NUMBER_SPECIFIC_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
    }
)
#: Report codes meaning the message was refused (rather than not deliverable to the phone).
REJECTED_REPORT_CODES = frozenset(
    {
        "CONTENT_KEYWORD",
        "CONTENT_ERROR",
        "MOBILE_IN_BLACK",
        "USER_REJECT",
        "SP_NOT_BY_INTER_SMS",
        "NO_ROUTE",
    }
)


def percent_encode(value):
    """RFC 3986 encoding as the V3 document prescribes (``%20``, ``%2A``, ``~`` kept)."""
    return quote(str(value), safe="-_.~")


def canonical_query_string(params):
    """Parameters sorted by name, ``name=value`` pairs encoded and joined with ``&``."""
    return "&".join(
        f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(params.items())
    )


def acs3_authorization(
    method,
    canonical_uri,
    query,
    headers,
    payload,
    access_key_id,
    access_key_secret,
):
    """The ``Authorization`` header of a V3-signed request, and the canonical request.

    :param str method: HTTP method
    :param str canonical_uri: the path (``/`` for RPC APIs)
    :param dict query: query parameters (unencoded)
    :param dict headers: request headers; ``host``, ``content-type`` and ``x-acs-*`` are
        signed (the caller includes ``x-acs-content-sha256``)
    :param bytes payload: the request body (``b""`` when there is none)
    :return: ``(authorization, canonical_request)``
    """
    signed = sorted(
        (name.lower(), str(value).strip())
        for name, value in headers.items()
        if name.lower().startswith("x-acs-") or name.lower() in ("host", "content-type")
    )
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in signed)
    signed_headers = ";".join(name for name, _value in signed)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri,
            canonical_query_string(query),
            canonical_headers,
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(
        access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )
    return authorization, canonical_request


def provider_number(number):
    """A number as Alibaba wants it and reports it: digits only, Chinese mainland mobile
    numbers (``+86 1xx xxxx xxxx``) without the 86, other numbers with their country code."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return digits


def e164_from_provider(number):
    """E.164 of a number from a push: an 11-digit number starting with 1 is a mainland
    mobile number (Alibaba drops the 86), anything else already has its country code."""
    digits = provider_number(number)
    if not digits:
        return ""
    if len(digits) == 11 and digits.startswith("1"):
        return f"+86{digits}"
    return f"+{digits}"


def parse_china_time(value):
    """``2017-01-01 00:00:00`` (Beijing time) as an aware UTC datetime, or ``None``."""
    try:
        local = datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    return local.replace(tzinfo=CHINA_TZ).astimezone(timezone.utc)


def classify_error(code, http_status=None):
    """``(kind, normalised code)`` for an Alibaba error code."""
    code = str(code or "")
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    if code.startswith("Throttling"):
        return RETRYABLE, ERR_RATE_LIMITED
    if code.startswith(("InvalidAccessKeyId", "Forbidden", "InvalidSecurityToken")):
        return RETRYABLE, ERR_AUTH
    if code.startswith("isp.") or (http_status or 0) >= 500:
        return RETRYABLE, ERR_SERVER
    if code.startswith("isv."):
        return PERMANENT, ERR_REJECTED
    return PERMANENT, ERR_UNKNOWN


@register
class AliyunClient(GatewayClient):
    """Alibaba Cloud SMS client; see the module docstring for settings and behaviour."""

    code = "aliyun"
    max_batch = 100
    required_settings = ("access_key_id", "access_key_secret", "sign_name", "template_code")

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        self.region = self.settings.get("region") or DEFAULT_REGION
        base_url = self.settings.get("base_url") or REGION_ENDPOINTS.get(
            self.region, DEFAULT_BASE_URL
        )
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise GatewayConfigError(f"invalid base URL {base_url!r}", field="base_url")
        self.base_url = base_url.rstrip("/")
        self.host = parts.netloc
        self.canonical_uri = parts.path.rstrip("/") + "/"
        self.template_param_name = self.settings.get("template_param_name") or "content"

    # -- injectable clock and nonce (tests override them) ------------------------------------

    def _now(self):
        """The request time, an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def _nonce(self):
        """A fresh ``x-acs-signature-nonce``."""
        return uuid.uuid4().hex

    # -- request building ---------------------------------------------------------------------

    def template_param(self, message):
        """The TemplateParam object of ``message``: its ``params``, else the body under the
        configured variable name."""
        if message.params:
            return {str(key): str(value) for key, value in message.params.items()}
        return {self.template_param_name: message.body}

    def sign_name(self, message):
        """The signature to send under: the message's sender, else the setting, without
        the 【】 brackets phones display around it (the API wants the bare name)."""
        return bare_sign_name(message.sender) or bare_sign_name(self.settings["sign_name"])

    def build_request(self, action, params):
        """``(url, headers)`` of a signed ``POST`` carrying ``params`` in the query string."""
        headers = {
            "host": self.host,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": self._now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": EMPTY_BODY_SHA256,
        }
        if self.settings.get("security_token"):
            headers["x-acs-security-token"] = self.settings["security_token"]
        headers["Authorization"], _canonical = acs3_authorization(
            "POST",
            self.canonical_uri,
            params,
            headers,
            b"",
            self.settings["access_key_id"],
            self.settings["access_key_secret"],
        )
        url = f"{self.base_url}/?{canonical_query_string(params)}"
        return url, headers

    def single_params(self, message):
        return {
            "PhoneNumbers": provider_number(message.to),
            "SignName": self.sign_name(message),
            "TemplateCode": self.settings["template_code"],
            "TemplateParam": _json(self.template_param(message)),
            "OutId": message.ref,
        }

    def batch_params(self, messages):
        return {
            "PhoneNumberJson": _json([provider_number(m.to) for m in messages]),
            "SignNameJson": _json([self.sign_name(m) for m in messages]),
            "TemplateCode": self.settings["template_code"],
            "TemplateParamJson": _json([self.template_param(m) for m in messages]),
        }

    # -- sending ------------------------------------------------------------------------------

    def send(self, messages):
        results = {}
        sendable = []
        for index, message in enumerate(messages):
            digits = message.to[1:] if message.to.startswith("+") else ""
            if not (digits.isdigit() and 7 <= len(digits) <= 15):
                results[index] = SendResult.error(
                    message, PERMANENT, ERR_INVALID_NUMBER, "not an E.164 number"
                )
            else:
                sendable.append((index, message))
        for group in unique_number_groups(
            sendable, self.max_batch, key=lambda message: provider_number(message.to)
        ):
            results.update(self._send_group(group))
        return [results[index] for index in range(len(messages))]

    def _send_group(self, group):
        """Results by index for ``group`` (messages with distinct numbers)."""
        if len(group) == 1:
            action, params = SEND_SMS, self.single_params(group[0][1])
        else:
            action, params = SEND_BATCH_SMS, self.batch_params([m for _i, m in group])
        outcome = self._call(action, params)
        if outcome["ok"]:
            biz_id = str(outcome["payload"].get("BizId") or "")
            return {
                index: SendResult.ok(
                    message,
                    provider_id=f"{biz_id}:{provider_number(message.to)}" if biz_id else None,
                )
                for index, message in group
            }
        if outcome.get("code") in NUMBER_SPECIFIC_CODES and len(group) > 1:
            # The batch was refused for one of its numbers, which Alibaba does not name:
            # send each on its own so only the culprit fails.
            results = {}
            for item in group:
                results.update(self._send_group([item]))
            return results
        return {
            index: SendResult.error(
                message,
                outcome["kind"],
                outcome["error"],
                outcome.get("text"),
                retry_after=outcome.get("retry_after"),
            )
            for index, message in group
        }

    def _call(self, action, params):
        """POST one signed request; a dict with ``ok`` and either the ``payload`` or the
        failure (``kind``, ``error``, ``code``, ``text``, ``retry_after``)."""
        url, headers = self.build_request(action, params)
        try:
            response = self.session.post(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            kind, error, text = request_failure(exc, self.timeout)
            return {"ok": False, "kind": kind, "error": error, "text": text}
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not payload.get("Code"):
            text = (response.text or "")[:500] or f"HTTP {response.status_code}"
            if response.status_code >= 400:
                result = http_error_result(_NO_MESSAGE, response.status_code, text, retry_after)
                return {
                    "ok": False,
                    "kind": result.error_kind,
                    "error": result.error_code,
                    "text": text,
                    "retry_after": result.retry_after,
                }
            if 200 <= response.status_code < 300:
                # A success status with an answer we cannot read: Alibaba may have taken the
                # messages, so never resend them blindly.
                return {"ok": False, "kind": AMBIGUOUS, "error": ERR_UNKNOWN, "text": text}
            return {"ok": False, "kind": RETRYABLE, "error": ERR_SERVER, "text": text}
        code = str(payload["Code"])
        if code == "OK" and response.status_code < 400:
            return {"ok": True, "payload": payload}
        if response.status_code == 429 and code not in ERROR_CODES:
            kind, error = RETRYABLE, ERR_RATE_LIMITED
        else:
            kind, error = classify_error(code, response.status_code)
        return {
            "ok": False,
            "kind": kind,
            "error": error,
            "code": code,
            "text": f"{code}: {payload.get('Message') or ''}".strip(),
            "retry_after": retry_after if error in (ERR_RATE_LIMITED, ERR_SERVER) else None,
        }

    # -- webhooks (HTTP batch push) -------------------------------------------------------------

    def parse_status(self, request):
        reports = []
        for item in json_items(request.json()):
            biz_id = str(item.get("biz_id") or "")
            number = provider_number(item.get("phone_number"))
            if not biz_id or not number:
                continue
            success = item.get("success")
            if isinstance(success, str):
                success = success.strip().lower() == "true"
            err_code = str(item.get("err_code") or "") or None
            if success:
                status = STATUS_DELIVERED
            elif err_code and (
                err_code.startswith(("isv.", "isp.")) or err_code in REJECTED_REPORT_CODES
            ):
                status = STATUS_FAILED
            else:
                status = STATUS_UNDELIVERED
            reports.append(
                StatusReport(
                    provider_id=f"{biz_id}:{number}",
                    status=status,
                    ref=str(item.get("out_id") or "") or None,
                    to=e164_from_provider(number),
                    error_code=None if success else err_code,
                    error_message=None if success else (item.get("err_msg") or None),
                    occurred_at=parse_china_time(item.get("report_time")),
                )
            )
        return reports

    def parse_inbound(self, request):
        messages = []
        for item in json_items(request.json()):
            sender = e164_from_provider(item.get("phone_number"))
            if not sender:
                continue
            sequence = item.get("sequence_id")
            messages.append(
                InboundSms(
                    sender=sender,
                    body=str(item.get("content") or ""),
                    to=item.get("sign_name") or item.get("dest_code") or None,
                    provider_id=str(sequence) if sequence not in (None, "") else None,
                    received_at=parse_china_time(item.get("send_time")),
                )
            )
        return messages

    def webhook_response(self, kind):
        body = {"code": 0, "msg": "接收成功"}
        return WebhookResponse(200, "application/json", _json(body).encode())


#: Stand-in message for :func:`http_error_result` (only the kind and code are kept).
_NO_MESSAGE = OutboundSms(ref="", to="", body="")


def _json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
