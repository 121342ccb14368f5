"""Vonage (formerly Nexmo) SMS API.

Documentation followed (Vonage API Developer, https://developer.vonage.com):

* SMS API reference, *Send an SMS* (https://developer.vonage.com/en/api/sms):
  ``POST https://rest.nexmo.com/sms/json``, form fields ``api_key``, ``api_secret``,
  ``from``, ``to`` (international format without ``+``), ``text``, ``type=unicode`` for
  text outside GSM-7, ``status-report-req``, ``callback`` (delivery receipt URL overriding the
  dashboard's) and ``client-ref`` (our reference, echoed in delivery receipts). The answer is
  ``{"message-count": "N", "messages": [{"status", "message-id", "message-price",
  "error-text", ...}]}``, one entry per part of a concatenated message, HTTP 200 even for
  refusals.
* "Troubleshooting SMS", *SMS API error codes*
  (https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms and
  https://developer.vonage.com/en/api-errors/sms): 1 Throttled, 2 Missing Parameters,
  3 Invalid Parameters, 4 Invalid Credentials, 5 Internal Error, 6 Invalid Message,
  7 Number Barred, 8 Partner Account Barred, 9 Partner Quota Violation, 10 Too Many Existing
  Binds, 11 Account Not Enabled For HTTP, 12 Message Too Long, 14 Invalid Signature,
  15 Invalid Sender Address, 22 Invalid Network Code, 23 Invalid Callback URL,
  29 Non-Whitelisted Destination, 32 Signature And API Secret Disallowed, 33 Number
  De-activated. :data:`ERROR_CODES` maps each.
* "Delivery receipts" (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts):
  fields ``messageId``, ``status``, ``err-code``, ``msisdn`` (the recipient), ``to`` (our
  sender), ``client-ref``, ``message-timestamp`` (UTC ``YYYY-MM-DD HH:MM:SS``); status values
  ``accepted`` and ``buffered`` (on their way), ``delivered``, ``expired`` (carrier retries ran
  out), ``failed`` (not delivered), ``rejected`` (carrier refuses to deliver), ``unknown`` (no
  useful information: ignored). The receipt comes as GET query, POST form or POST JSON.
  A concatenated message gets one receipt per part, each with its own ``messageId`` and the
  same ``client-ref``.
* "Inbound SMS" (https://developer.vonage.com/en/messaging/sms/guides/inbound-sms): fields
  ``msisdn`` (the sender), ``to`` (our virtual number), ``messageId``, ``text``, ``type``,
  ``message-timestamp``; answer 200 or 204, or Vonage resends for 24 hours.
* "Signing messages" (https://developer.vonage.com/en/getting-started/concepts/signing-messages),
  *Manually generate a signature*: remove ``sig``, sort the remaining parameters by name,
  replace ``&`` and ``=`` in each value by ``_``, build ``&name=value&name=value`` (leading
  ``&``), then either the MD5 hash of that string followed by the signature secret ("MD5
  hash", the default) or an HMAC keyed by the secret (MD5, SHA-1, SHA-256, SHA-512), in hex.
  The request's own ``timestamp`` (UNIX seconds) is part of the signed parameters. The
  document sets no freshness window, so the age check is opt-in (``signature_max_age``).
"""

import hashlib
import hmac
import time
from datetime import datetime

import requests

from .. import encoding
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
    STATUS_FAILED,
    STATUS_SENT,
    STATUS_UNDELIVERED,
    GatewayClient,
    GatewayConfigError,
    InboundSms,
    SendResult,
    SignatureError,
    StatusReport,
    constant_time_equal,
    e164,
    http_error_result,
    parse_retry_after,
    register,
    request_failure,
)

DEFAULT_BASE_URL = "https://rest.nexmo.com"

#: SMS API ``status`` -> (kind, normalised code). Account-wide problems an administrator
#: can fix (credentials, suspension, provisioning) are retryable ``auth_failed`` so a
#: campaign waits instead of failing every recipient.
ERROR_CODES = {
    "1": (RETRYABLE, ERR_RATE_LIMITED),  # Throttled
    "2": (PERMANENT, ERR_REJECTED),  # Missing Parameters
    "3": (PERMANENT, ERR_REJECTED),  # Invalid Parameters
    "4": (RETRYABLE, ERR_AUTH),  # Invalid Credentials
    "5": (RETRYABLE, ERR_SERVER),  # Internal Error
    "6": (PERMANENT, ERR_REJECTED),  # Invalid Message (e.g. unrecognised number prefix)
    "7": (PERMANENT, ERR_BLOCKED),  # Number Barred (blacklisted)
    "8": (RETRYABLE, ERR_AUTH),  # Partner Account Barred (account suspended)
    "9": (PERMANENT, ERR_INSUFFICIENT_FUNDS),  # Partner Quota Violation (no credit)
    "10": (RETRYABLE, ERR_RATE_LIMITED),  # Too Many Existing Binds ("back-off and retry")
    "11": (RETRYABLE, ERR_AUTH),  # Account Not Enabled For HTTP
    "12": (PERMANENT, ERR_REJECTED),  # Message Too Long
    "14": (RETRYABLE, ERR_AUTH),  # Invalid Signature
    "15": (PERMANENT, ERR_REJECTED),  # Invalid Sender Address
    "22": (PERMANENT, ERR_UNSUPPORTED_COUNTRY),  # Invalid Network Code (unroutable)
    "23": (PERMANENT, ERR_REJECTED),  # Invalid Callback URL
    "29": (PERMANENT, ERR_BLOCKED),  # Non-Whitelisted Destination (demo account)
    "32": (RETRYABLE, ERR_AUTH),  # Signature And API Secret Disallowed
    "33": (PERMANENT, ERR_INVALID_NUMBER),  # Number De-activated
}

#: Delivery receipt ``status`` -> our status; ``unknown`` and anything else is ignored.
STATUS_MAP = {
    "accepted": STATUS_SENT,
    "buffered": STATUS_SENT,
    "delivered": STATUS_DELIVERED,
    "expired": STATUS_UNDELIVERED,
    "failed": STATUS_UNDELIVERED,
    "rejected": STATUS_FAILED,
}

#: Delivery receipt ``err-code`` meanings, from the same document.
DLR_ERRORS = {
    "1": "Unknown",
    "2": "Absent Subscriber - Temporary",
    "3": "Absent Subscriber - Permanent",
    "4": "Call Barred by User",
    "5": "Portability Error",
    "6": "Anti-Spam Rejection",
    "7": "Handset Busy",
    "8": "Network Error",
    "9": "Illegal Number",
    "10": "Illegal Message",
    "11": "Unroutable",
    "12": "Destination Unreachable",
    "13": "Subscriber Age Restriction",
    "14": "Number Blocked by Carrier",
    "15": "Prepaid Insufficient Funds",
    "99": "General Error",
}

SIGNATURE_METHODS = {
    "md5hash": None,
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def compute_signature(params, secret, method="md5hash"):
    """Vonage's ``sig`` over ``params`` (``sig`` itself left out), lower-case hex."""
    data = "".join(
        "&{}={}".format(name, str(params[name]).replace("&", "_").replace("=", "_"))
        for name in sorted(params)
        if name != "sig"
    )
    digest = SIGNATURE_METHODS[method]
    if digest is None:
        return hashlib.md5((data + secret).encode("utf-8")).hexdigest()
    return hmac.new(secret.encode(), data.encode("utf-8"), digest).hexdigest()


def _parse_timestamp(value):
    """Naive UTC datetime from Vonage's ``YYYY-MM-DD HH:MM:SS`` (UTC), or ``None``."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None


def _number(value):
    """E.164 for Vonage's bare international digits; other values (sender names) as given."""
    if not value:
        return None
    return e164(value) if str(value).lstrip("+").isdigit() else str(value)


def _webhook_params(request):
    """The fields of a Vonage webhook, whichever way it came (query, form or JSON body)."""
    params = dict(request.params())
    content_type = request.header("Content-Type", "") or ""
    if request.body and ("json" in content_type or not request.form):
        try:
            payload = request.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            params.update(
                {
                    key: value if isinstance(value, str) else str(value)
                    for key, value in payload.items()
                    if value is not None and not isinstance(value, (dict, list))
                }
            )
    return params


@register
class VonageClient(GatewayClient):
    """Vonage SMS API (one message per request; long texts are split by Vonage).

    Settings: ``api_key``, ``api_secret`` (required); ``sender`` (number or alphanumeric
    id); ``status_callback`` (delivery receipt URL); ``signature_secret`` and
    ``signature_method`` (``md5hash`` default, ``md5``, ``sha1``, ``sha256``, ``sha512``) to
    require signed webhooks; ``signature_max_age`` (seconds, 0 = not checked) to refuse
    signed requests whose ``timestamp`` is older; ``base_url`` (default
    ``https://rest.nexmo.com``).
    """

    code = "vonage"
    max_batch = 1
    required_settings = ("api_key", "api_secret")

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        self.sender = self.settings.get("sender") or None
        if not self.sender:
            raise GatewayConfigError("Vonage needs a sender (from)", field="sender")
        base_url = str(self.settings.get("base_url") or DEFAULT_BASE_URL)
        if not base_url.startswith(("https://", "http://")):
            raise GatewayConfigError("base_url must be an http(s) URL", field="base_url")
        self.send_url = base_url.rstrip("/") + "/sms/json"
        self.status_callback = self.settings.get("status_callback") or None
        self.signature_secret = self.settings.get("signature_secret") or None
        self.signature_method = (self.settings.get("signature_method") or "md5hash").lower()
        if self.signature_method not in SIGNATURE_METHODS:
            raise GatewayConfigError(
                f"signature_method must be one of {', '.join(SIGNATURE_METHODS)}",
                field="signature_method",
            )
        try:
            self.signature_max_age = float(self.settings.get("signature_max_age") or 0)
        except (TypeError, ValueError):
            raise GatewayConfigError(
                "signature_max_age must be a number of seconds", field="signature_max_age"
            ) from None

    # -- sending ----------------------------------------------------------------------------

    def send(self, messages):
        return [self._send_one(message) for message in messages]

    def _form(self, message):
        sender = message.sender or self.sender
        if sender.startswith("+") and sender[1:].isdigit():
            sender = sender[1:]  # numbers go without the plus, like ``to``
        form = {
            "api_key": self.settings["api_key"],
            "api_secret": self.settings["api_secret"],
            "from": sender,
            "to": "".join(ch for ch in message.to if ch.isdigit()),
            "text": message.body,
            "client-ref": message.ref,
        }
        if encoding.analyze(message.body).encoding == encoding.UCS2:
            form["type"] = "unicode"
        if self.status_callback:
            form["status-report-req"] = "1"
            form["callback"] = self.status_callback
        return form

    def _send_one(self, message):
        try:
            response = self.session.post(
                self.send_url,
                data=self._form(message),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return SendResult.error(message, *request_failure(exc, self.timeout))
        if not 200 <= response.status_code < 300:
            return http_error_result(
                message,
                response.status_code,
                response.text[:500] or response.reason,
                parse_retry_after(response.headers.get("Retry-After")),
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        parts = payload.get("messages") if isinstance(payload, dict) else None
        if not parts or not all(isinstance(part, dict) for part in parts):
            # A 2xx we cannot read: Vonage may have taken the message, never resend blindly.
            return SendResult.error(
                message, AMBIGUOUS, ERR_UNKNOWN, "success answer without a messages list"
            )
        for part in parts:
            status = "" if part.get("status") is None else str(part["status"]).strip()
            if not status:
                return SendResult.error(
                    message, AMBIGUOUS, ERR_UNKNOWN, "success answer part without a status"
                )
            if status != "0":
                kind, code = ERROR_CODES.get(status, (PERMANENT, ERR_UNKNOWN))
                text = f"{status}: {part.get('error-text') or 'refused'}"
                return SendResult.error(message, kind, code, text)
        provider_id = parts[0].get("message-id")
        if not provider_id:
            return SendResult.error(
                message, AMBIGUOUS, ERR_UNKNOWN, "accepted without a message-id"
            )
        try:
            segments = int(payload.get("message-count") or len(parts))
        except (TypeError, ValueError):
            segments = len(parts)
        prices = [part["message-price"] for part in parts if part.get("message-price")]
        try:
            cost = sum(float(price) for price in prices) if prices else None
        except (TypeError, ValueError):
            cost = None
        return SendResult.ok(message, provider_id=provider_id, segments=segments, cost=cost)

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, request, kind, now=None):
        """Check ``sig`` when a signature secret is set; ``now`` (UNIX seconds) is for tests.

        Without a secret every request is accepted: the Odoo route's secret token in the
        webhook URL is the protection then.
        """
        if not self.signature_secret:
            return
        params = _webhook_params(request)
        signature = params.get("sig")
        if not signature:
            raise SignatureError("missing sig parameter")
        expected = compute_signature(params, self.signature_secret, self.signature_method)
        if not constant_time_equal(expected, str(signature).lower()):
            raise SignatureError("sig does not match")
        if self.signature_max_age:
            try:
                timestamp = float(params["timestamp"])
            except (KeyError, TypeError, ValueError):
                raise SignatureError("signed request without a valid timestamp") from None
            current = time.time() if now is None else now
            if abs(current - timestamp) > self.signature_max_age:
                raise SignatureError("signed request timestamp is too old")

    def parse_status(self, request):
        params = _webhook_params(request)
        provider_id = params.get("messageId")
        status = STATUS_MAP.get(str(params.get("status", "")).lower())
        if not (provider_id and status):
            return []
        error_code = params.get("err-code")
        if error_code in (None, "", "0"):
            error_code = None
        return [
            StatusReport(
                provider_id=provider_id,
                status=status,
                ref=params.get("client-ref") or None,
                to=_number(params.get("msisdn")),
                error_code=error_code,
                error_message=DLR_ERRORS.get(error_code) if error_code else None,
                occurred_at=_parse_timestamp(params.get("message-timestamp")),
            )
        ]

    def parse_inbound(self, request):
        params = _webhook_params(request)
        sender = params.get("msisdn")
        if not sender or params.get("type") == "binary":
            return []
        return [
            InboundSms(
                sender=e164(sender),
                body=params.get("text", ""),
                to=_number(params.get("to")),
                provider_id=params.get("messageId") or None,
                received_at=_parse_timestamp(params.get("message-timestamp")),
            )
        ]
