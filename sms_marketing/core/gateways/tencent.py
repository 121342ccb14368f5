"""Tencent Cloud SMS (API 3.0, ``SendSms`` version ``2021-01-11``), without the vendor SDK.

Documentation followed:

* Signature v3 ``TC3-HMAC-SHA256`` ("签名方法 v3", the same page in every product's API
  centre, listed for SMS under 调用方式 https://cloud.tencent.com/document/api/382/52069;
  read at https://cloud.tencent.com/document/api/362/4208). Canonical request = ``POST``,
  ``/``, empty query string, canonical headers (key and value lower-cased and trimmed,
  sorted: ``content-type``, ``host`` and, as the current example does, ``x-tc-action``),
  signed header names, hex SHA-256 of the payload; credential scope
  ``<UTC date>/<service>/tc3_request``; string to sign = ``TC3-HMAC-SHA256``, timestamp,
  scope, hex SHA-256 of the canonical request; signing key derived by HMAC-SHA256 chaining
  ``"TC3" + SecretKey`` -> date -> service -> ``tc3_request``; header ``Authorization:
  TC3-HMAC-SHA256 Credential=<SecretId>/<scope>, SignedHeaders=<names>, Signature=<hex>``
  with ``X-TC-Action``, ``X-TC-Version``, ``X-TC-Timestamp``, ``X-TC-Region`` and
  ``Content-Type: application/json; charset=utf-8``. :func:`tc3_sign` takes any service and
  action and reproduces the document's CVM ``DescribeInstances`` worked example.
* SendSms: https://cloud.tencent.com/document/api/382/55981 (``PhoneNumberSet`` of up to
  200 E.164 numbers, all Chinese mainland or all international, sharing one
  ``TemplateParamSet``; ``SessionContext`` echoed back; the answer's ``SendStatusSet`` has
  ``SerialNo``, ``PhoneNumber``, ``Fee`` (billed segments), ``Code`` (``Ok`` when accepted)
  and ``Message`` per number, not necessarily in request order).
* Errors: common codes https://cloud.tencent.com/document/api/382/52075 (``Response.Error``:
  ``AuthFailure.*``, ``RequestLimitExceeded.*``, ``InternalError``...) and SMS codes
  https://cloud.tencent.com/document/api/382/59177.
* Callbacks: delivery status (短信下发状态通知) https://cloud.tencent.com/document/api/382/5807
  (https://www.tencentcloud.com/document/api/382/43547) — a JSON array of
  ``{user_receive_time, nationcode, mobile, report_status (SUCCESS|FAIL), errmsg,
  description, sid}`` where ``sid`` is the ``SerialNo``; replies
  (短信回复) https://cloud.tencent.com/document/api/382/59179 — ``{extend, mobile,
  nationcode, sign, text, time}``. Both expect ``{"result": 0, "errmsg": "OK"}``. Tencent
  does not sign callbacks: the webhook URL's secret token (checked by the Odoo route) is
  the authentication, so :meth:`verify_webhook` keeps the default.

Batches: one request carries one template parameter list for all its numbers, so
:meth:`TencentClient.send` groups the messages it is given by (sign name, template
parameters, mainland or not) and sends one request per group (a number appears at most
once per request), returning the results in the order of the messages. The dispatcher may
therefore pass mixed batches; same-body batches (a campaign without personalisation) go out
in a single request.

Settings: ``secret_id``, ``secret_key``, ``sdk_app_id``, ``sign_name``, ``template_id``
(required); ``region`` (default ``ap-guangzhou``); ``base_url`` (default
``https://sms.tencentcloudapi.com``); ``template_param_names`` (optional list, or
comma-separated text: the order in which a message's ``params`` fill the template; without
it the ``params`` values are used in their own order, and a message without ``params``
sends its body as the single template parameter); ``sender_id`` (optional, international
Sender ID). A message's ``sender`` (the gateway's sender field, e.g. ``【Brand】``) overrides
the sign name; the 【】 brackets are dropped, as the API wants the bare name.
"""

import hashlib
import hmac
import json
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests

from .base import (
    AMBIGUOUS,
    ERR_AUTH,
    ERR_BLOCKED,
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
    STATUS_UNDELIVERED,
    GatewayClient,
    GatewayConfigError,
    InboundSms,
    SendResult,
    StatusReport,
    WebhookResponse,
    bare_sign_name,
    e164,
    http_error_result,
    json_items,
    parse_retry_after,
    register,
    request_failure,
    unique_number_groups,
)

API_VERSION = "2021-01-11"
SERVICE = "sms"
ACTION = "SendSms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_BASE_URL = "https://sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
#: Time zone of the callback timestamps given as text (Beijing time).
CHINA_TZ = timezone(timedelta(hours=8))

#: Provider error code -> (kind, normalised code, retry_after seconds or None).
ERROR_CODES = {
    # recipient
    "InvalidParameterValue.IncorrectPhoneNumber": (PERMANENT, ERR_INVALID_NUMBER, None),
    "FailedOperation.PhoneNumberInBlacklist": (PERMANENT, ERR_BLOCKED, None),
    "FailedOperation.PhoneNumberOnBlacklist": (PERMANENT, ERR_BLOCKED, None),
    "UnsupportedOperation.UnsupportedRegion": (PERMANENT, ERR_UNSUPPORTED_COUNTRY, None),
    "UnsupportedOperation.UnsuportedRegion": (PERMANENT, ERR_UNSUPPORTED_COUNTRY, None),
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (
        PERMANENT,
        ERR_REJECTED,
        None,
    ),
    # frequency limits (console thresholds: the same message may go out later)
    "LimitExceeded.PhoneNumberThirtySecondLimit": (RETRYABLE, ERR_RATE_LIMITED, 30.0),
    "LimitExceeded.PhoneNumberOneHourLimit": (RETRYABLE, ERR_RATE_LIMITED, 3600.0),
    "LimitExceeded.PhoneNumberDailyLimit": (RETRYABLE, ERR_RATE_LIMITED, None),
    "LimitExceeded.AppDailyLimit": (RETRYABLE, ERR_RATE_LIMITED, None),
    "LimitExceeded.DailyLimit": (RETRYABLE, ERR_RATE_LIMITED, None),
    "LimitExceeded.DeliveryFrequencyLimit": (RETRYABLE, ERR_RATE_LIMITED, None),
    # the phone already got this very content as often as allowed: sending it again is moot
    "LimitExceeded.PhoneNumberSameContentDailyLimit": (PERMANENT, ERR_REJECTED, None),
    "LimitExceeded.PhoneNumberCountLimit": (PERMANENT, ERR_REJECTED, None),
    # marketing messages only go out between 8:00 and 22:00
    "FailedOperation.MarketingSendTimeConstraint": (RETRYABLE, ERR_REJECTED, None),
    # money
    "FailedOperation.InsufficientBalanceInSmsPackage": (PERMANENT, ERR_INSUFFICIENT_FUNDS, None),
    "UnauthorizedOperation.SerivceSuspendDueToArrears": (
        PERMANENT,
        ERR_INSUFFICIENT_FUNDS,
        None,
    ),
    # sign name, template, content
    "FailedOperation.SignatureIncorrectOrUnapproved": (PERMANENT, ERR_REJECTED, None),
    "FailedOperation.TemplateIncorrectOrUnapproved": (PERMANENT, ERR_REJECTED, None),
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": (PERMANENT, ERR_REJECTED, None),
    "FailedOperation.ContainSensitiveWord": (PERMANENT, ERR_REJECTED, None),
    "InvalidParameterValue.ContentLengthLimit": (PERMANENT, ERR_REJECTED, None),
    "InvalidParameterValue.TemplateParameterFormatError": (PERMANENT, ERR_REJECTED, None),
    "InvalidParameterValue.TemplateParameterLengthLimit": (PERMANENT, ERR_REJECTED, None),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": (PERMANENT, ERR_REJECTED, None),
    # account and application set-up: fixable by the operator, so retried after the fix
    "InvalidParameterValue.SdkAppIdNotExist": (RETRYABLE, ERR_AUTH, None),
    "UnauthorizedOperation.SdkAppIdIsDisabled": (RETRYABLE, ERR_AUTH, None),
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": (RETRYABLE, ERR_AUTH, None),
    "UnauthorizedOperation.RequestIpNotInWhitelist": (RETRYABLE, ERR_AUTH, None),
    "UnauthorizedOperation.RequestPermissionDeny": (RETRYABLE, ERR_AUTH, None),
    "UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny": (RETRYABLE, ERR_AUTH, None),
}
#: Prefix -> (kind, normalised code) when the full code is not listed above.
ERROR_PREFIXES = (
    ("AuthFailure", RETRYABLE, ERR_AUTH),
    ("UnauthorizedOperation", RETRYABLE, ERR_AUTH),
    ("RequestLimitExceeded", RETRYABLE, ERR_RATE_LIMITED),
    ("LimitExceeded", RETRYABLE, ERR_RATE_LIMITED),
    ("InternalError", RETRYABLE, ERR_SERVER),
    ("ResourceUnavailable", RETRYABLE, ERR_SERVER),
    ("InvalidParameter", PERMANENT, ERR_REJECTED),
    ("MissingParameter", PERMANENT, ERR_REJECTED),
    ("FailedOperation", PERMANENT, ERR_REJECTED),
    ("UnsupportedOperation", PERMANENT, ERR_REJECTED),
)

Tc3Signature = namedtuple(
    "Tc3Signature",
    "authorization canonical_request string_to_sign signature signed_headers credential_scope",
)


def tc3_signing_key(secret_key, date, service):
    """The derived key: HMAC-SHA256 chained over ``"TC3" + key``, date, service, tc3_request."""
    key = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    return hmac.new(key, b"tc3_request", hashlib.sha256).digest()


def tc3_sign(
    secret_id,
    secret_key,
    service,
    host,
    action,
    payload,
    timestamp,
    content_type=CONTENT_TYPE,
    sign_action=True,
):
    """Sign a TencentCloud API 3.0 ``POST`` of ``payload`` (bytes) for any service.

    ``sign_action`` adds ``x-tc-action`` to the signed headers, as the current edition of
    the document does; without it only ``content-type`` and ``host`` are signed (the
    earlier edition). Returns a :data:`Tc3Signature`.
    """
    date = datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d")
    headers = [("content-type", content_type), ("host", host)]
    if sign_action:
        headers.append(("x-tc-action", action))
    headers = sorted((name, str(value).strip().lower()) for name, value in headers)
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in headers)
    signed_headers = ";".join(name for name, _value in headers)
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            canonical_headers,
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    credential_scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            str(int(timestamp)),
            credential_scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signature = hmac.new(
        tc3_signing_key(secret_key, date, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Tc3Signature(
        authorization,
        canonical_request,
        string_to_sign,
        signature,
        signed_headers,
        credential_scope,
    )


def classify_error(code):
    """``(kind, normalised code, retry_after)`` for a Tencent Cloud error code."""
    code = str(code or "")
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    for prefix, kind, error in ERROR_PREFIXES:
        if code == prefix or code.startswith(prefix + "."):
            return kind, error, None
    return PERMANENT, ERR_UNKNOWN, None


def parse_china_time(value):
    """``2015-10-17 08:03:04`` (Beijing time) as an aware UTC datetime, or ``None``."""
    try:
        local = datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    return local.replace(tzinfo=CHINA_TZ).astimezone(timezone.utc)


def parse_unix_time(value):
    try:
        return datetime.fromtimestamp(int(value), timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register
class TencentClient(GatewayClient):
    """Tencent Cloud SMS client; see the module docstring for settings and behaviour."""

    code = "tencent"
    max_batch = 200
    required_settings = ("secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id")

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        base_url = self.settings.get("base_url") or DEFAULT_BASE_URL
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise GatewayConfigError(f"invalid base URL {base_url!r}", field="base_url")
        self.url = f"{parts.scheme}://{parts.netloc}/"
        self.host = parts.netloc
        self.region = self.settings.get("region") or DEFAULT_REGION
        names = self.settings.get("template_param_names") or ()
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        self.template_param_names = [str(name) for name in names if str(name).strip()]

    # -- injectable clock (tests override it) -------------------------------------------------

    def _now(self):
        """The request time, an aware UTC datetime (sent as ``X-TC-Timestamp``)."""
        return datetime.now(timezone.utc)

    # -- request building ---------------------------------------------------------------------

    def template_params(self, message):
        """The ``TemplateParamSet`` of ``message``; raises ``KeyError`` for a parameter
        named in ``template_param_names`` that the message lacks."""
        if not message.params:
            return [message.body]
        if self.template_param_names:
            return [str(message.params[name]) for name in self.template_param_names]
        return [str(value) for value in message.params.values()]

    def sign_name(self, message):
        """The signature to send under: the message's sender, else the setting, without
        the 【】 brackets phones display around it (the API wants the bare name)."""
        return bare_sign_name(message.sender) or bare_sign_name(self.settings["sign_name"])

    def build_request(self, payload):
        """Headers of a signed ``SendSms`` request whose body is ``payload`` (bytes)."""
        timestamp = int(self._now().timestamp())
        signature = tc3_sign(
            self.settings["secret_id"],
            self.settings["secret_key"],
            SERVICE,
            self.host,
            ACTION,
            payload,
            timestamp,
        )
        return {
            "Authorization": signature.authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": ACTION,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }

    def request_body(self, group, sign_name, params, domestic):
        body = {
            "PhoneNumberSet": [message.to for _index, message in group],
            "SmsSdkAppId": str(self.settings["sdk_app_id"]),
            "TemplateId": str(self.settings["template_id"]),
            "SignName": sign_name,
            "TemplateParamSet": list(params),
        }
        if len(group) == 1:
            body["SessionContext"] = group[0][1].ref
        if self.settings.get("sender_id") and not domestic:
            body["SenderId"] = self.settings["sender_id"]
        return body

    # -- sending ------------------------------------------------------------------------------

    def send(self, messages):
        results = {}
        groups = {}
        for index, message in enumerate(messages):
            digits = message.to[1:] if message.to.startswith("+") else ""
            if not (digits.isdigit() and 7 <= len(digits) <= 15):
                results[index] = SendResult.error(
                    message, PERMANENT, ERR_INVALID_NUMBER, "not an E.164 number"
                )
                continue
            try:
                params = tuple(self.template_params(message))
            except KeyError as exc:
                results[index] = SendResult.error(
                    message, PERMANENT, ERR_REJECTED, f"missing template parameter {exc}"
                )
                continue
            key = (self.sign_name(message), params, digits.startswith("86"))
            groups.setdefault(key, []).append((index, message))
        for (sign_name, params, domestic), members in groups.items():
            for group in unique_number_groups(members, self.max_batch):
                body = self.request_body(group, sign_name, params, domestic)
                results.update(self._send_group(group, body))
        return [results[index] for index in range(len(messages))]

    def _send_group(self, group, body):
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self.build_request(payload)
        try:
            response = self.session.post(
                self.url, data=payload, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            return _all_failed(group, *request_failure(exc, self.timeout))
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            answer = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            answer = None
        if not isinstance(answer, dict):
            text = (response.text or "")[:500] or f"HTTP {response.status_code}"
            if response.status_code >= 400:
                return _all_http_failed(group, response.status_code, text, retry_after)
            if 200 <= response.status_code < 300:
                # A success status with an answer we cannot read: Tencent may have taken the
                # messages, so never resend them blindly.
                return _all_failed(group, AMBIGUOUS, ERR_UNKNOWN, text)
            return _all_failed(group, RETRYABLE, ERR_SERVER, text)
        error = answer.get("Error")
        if isinstance(error, dict) and error.get("Code"):
            kind, code, after = classify_error(error["Code"])
            text = f"{error['Code']}: {error.get('Message') or ''}".strip()
            return _all_failed(group, kind, code, text, after or retry_after)
        if response.status_code >= 400:  # an error status without a Response.Error
            text = (response.text or "")[:500] or f"HTTP {response.status_code}"
            return _all_http_failed(group, response.status_code, text, retry_after)
        statuses = answer.get("SendStatusSet")
        return self._match_statuses(group, statuses if isinstance(statuses, list) else [])

    def _match_statuses(self, group, statuses):
        """Results for ``group`` from ``SendStatusSet``, matched by phone number (Tencent
        does not keep the request order); statuses whose number does not match are given
        to the remaining messages in order."""
        by_number = {}
        for status in statuses:
            if isinstance(status, dict):
                by_number.setdefault(e164(status.get("PhoneNumber")), []).append(status)
        leftovers = []
        matched = {}
        for index, message in group:
            candidates = by_number.get(e164(message.to))
            if candidates:
                matched[index] = candidates.pop(0)
            else:
                leftovers.append((index, message))
        spare = [status for candidates in by_number.values() for status in candidates]
        for (index, _message), status in zip(leftovers, spare, strict=False):
            matched[index] = status
        results = {}
        for index, message in group:
            status = matched.get(index)
            if status is None or not status.get("Code"):
                # A success answer that does not say: Tencent may have taken the message.
                results[index] = SendResult.error(
                    message, AMBIGUOUS, ERR_UNKNOWN, "no status returned for this number"
                )
            elif str(status.get("Code")) == "Ok":
                results[index] = SendResult.ok(
                    message,
                    provider_id=str(status.get("SerialNo") or "") or None,
                    segments=_int_or_none(status.get("Fee")),
                )
            else:
                kind, code, after = classify_error(status.get("Code"))
                text = f"{status.get('Code')}: {status.get('Message') or ''}".strip()
                results[index] = SendResult.error(message, kind, code, text, retry_after=after)
        return results

    # -- callbacks ----------------------------------------------------------------------------

    def parse_status(self, request):
        reports = []
        for item in json_items(request.json()):
            sid = str(item.get("sid") or "")
            if not sid:
                continue
            success = str(item.get("report_status") or "").upper() == "SUCCESS"
            number = e164(f"{item.get('nationcode') or ''}{item.get('mobile') or ''}")
            reports.append(
                StatusReport(
                    provider_id=sid,
                    status=STATUS_DELIVERED if success else STATUS_UNDELIVERED,
                    to=number or None,
                    error_code=None if success else (item.get("errmsg") or None),
                    error_message=None if success else (item.get("description") or None),
                    occurred_at=parse_china_time(item.get("user_receive_time")),
                )
            )
        return reports

    def parse_inbound(self, request):
        messages = []
        for item in json_items(request.json()):
            sender = e164(f"{item.get('nationcode') or ''}{item.get('mobile') or ''}")
            if not sender:
                continue
            text = str(item.get("text") or "")
            # Tencent gives no message id: a stable one lets the caller drop re-deliveries.
            digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
            messages.append(
                InboundSms(
                    sender=sender,
                    body=text,
                    to=item.get("sign") or None,
                    provider_id=f"{sender}:{item.get('time')}:{digest}",
                    received_at=parse_unix_time(item.get("time")),
                )
            )
        return messages

    def webhook_response(self, kind):
        return WebhookResponse(200, "application/json", b'{"result":0,"errmsg":"OK"}')


def _all_failed(group, kind, code, text, retry_after=None):
    return {
        index: SendResult.error(message, kind, code, text, retry_after=retry_after)
        for index, message in group
    }


def _all_http_failed(group, status_code, text, retry_after=None):
    return {
        index: http_error_result(message, status_code, text, retry_after)
        for index, message in group
    }


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
