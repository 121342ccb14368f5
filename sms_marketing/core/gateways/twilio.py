"""Twilio Programmable Messaging.

Documentation followed (Twilio Docs):

* "Messages resource", *Create a Message*
  (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource):
  ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``,
  ``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``; HTTP Basic auth with the
  Account SID and Auth Token. The ``201`` answer is the Message resource: ``sid``, ``status``,
  ``num_segments`` (a string, ``"0"`` while a Messaging Service has not picked a sender yet),
  ``price`` (``null`` at creation, negative when set).
* "Twilio API responses" (https://www.twilio.com/docs/usage/twilios-response): errors are
  JSON ``{"code", "message", "more_info", "status"}``; 429 answers carry ``Retry-After``.
* Error dictionary (https://www.twilio.com/docs/api/errors): 21211 invalid 'To', 21612 'To'
  not reachable, 21614 'To' not a mobile number, 21610 recipient unsubscribed (STOP),
  21408 permission for the region not enabled, 21611 'From' has too many queued messages,
  20003 authentication failed, 20429 too many requests.
* "Outbound Message Status in Status Callbacks"
  (https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks)
  and the Message status values of the Messages resource: ``queued``, ``accepted``,
  ``scheduled``, ``sending``, ``sent``, ``delivered``, ``read``, ``undelivered``, ``failed``,
  ``canceled`` (``receiving``/``received`` are inbound). Callback fields ``MessageSid``,
  ``MessageStatus`` (legacy ``SmsSid``/``SmsStatus``), ``ErrorCode``, ``To``, ``From``.
* "Messaging webhook request" (https://www.twilio.com/docs/messaging/guides/webhook-request):
  inbound fields ``MessageSid``, ``From``, ``To``, ``Body``; the answer is TwiML, and an empty
  ``<Response/>`` means "no reply" (we reply through the API, after consent handling).
* "Secure webhooks" (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
  ``X-Twilio-Signature`` = Base64(HMAC-SHA1(Auth Token, full URL + each POST parameter name
  and value, sorted by name, with no delimiters)). Like Twilio's helper libraries
  (``twilio.request_validator.RequestValidator``), the URL is also tried without its port and
  with the scheme's default port, and JSON bodies signed through a ``bodySHA256`` query
  parameter are checked against the SHA-256 of the raw body.

Our ``ref`` travels to Twilio as a ``sms_ref`` query parameter of the status callback URL
(Twilio calls the URL as given and signs it whole), so delivery reports carry it back.
"""

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from .. import encoding
from .base import (
    AMBIGUOUS,
    ERR_AUTH,
    ERR_BLOCKED,
    ERR_INVALID_NUMBER,
    ERR_RATE_LIMITED,
    ERR_UNKNOWN,
    ERR_UNSUPPORTED_COUNTRY,
    PERMANENT,
    RETRYABLE,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_SENT,
    STATUS_UNDELIVERED,
    WEBHOOK_INBOUND,
    GatewayClient,
    GatewayConfigError,
    InboundSms,
    SendResult,
    SignatureError,
    StatusReport,
    WebhookResponse,
    constant_time_equal,
    e164,
    http_error_result,
    parse_retry_after,
    register,
    request_failure,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
#: Query parameter added to the status callback URL to carry our ref.
REF_PARAM = "sms_ref"

#: Twilio error code -> (kind, normalised code); other codes fall back on the HTTP status.
ERROR_CODES = {
    21211: (PERMANENT, ERR_INVALID_NUMBER),  # invalid 'To' phone number
    21612: (PERMANENT, ERR_INVALID_NUMBER),  # 'To' phone number not currently reachable
    21614: (PERMANENT, ERR_INVALID_NUMBER),  # 'To' number is not a valid mobile number
    21610: (PERMANENT, ERR_BLOCKED),  # recipient unsubscribed (replied STOP)
    21408: (PERMANENT, ERR_UNSUPPORTED_COUNTRY),  # region permission not enabled
    20003: (RETRYABLE, ERR_AUTH),  # authentication failed
    20429: (RETRYABLE, ERR_RATE_LIMITED),  # too many requests
    21611: (RETRYABLE, ERR_RATE_LIMITED),  # 'From' number has too many queued messages
}

#: Twilio message status -> our status; others (scheduled, receiving...) are ignored.
STATUS_MAP = {
    "queued": STATUS_SENT,
    "accepted": STATUS_SENT,
    "sending": STATUS_SENT,
    "sent": STATUS_SENT,
    "delivered": STATUS_DELIVERED,
    "read": STATUS_DELIVERED,
    "undelivered": STATUS_UNDELIVERED,
    "failed": STATUS_FAILED,
    "canceled": STATUS_FAILED,
}

_PHONE = re.compile(r"\+?[\d\s().-]+")

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def compute_signature(auth_token, url, params):
    """Twilio's request signature: Base64(HMAC-SHA1(auth_token, url + sorted name+value))."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url):
    """``url`` as given, without its port and with the scheme's default port, as Twilio's
    validators try them (a proxy may add or drop the port Twilio signed)."""
    variants = [url]
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return variants
    if port is not None:
        netloc = parts.netloc[: -len(f":{port}")]
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    elif parts.scheme in ("http", "https") and parts.netloc:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    return variants


def _with_query(url, **params):
    """``url`` with ``params`` appended to its query string, the rest kept byte for byte."""
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _phone_or_raw(value):
    """E.164 for a phone number, the value unchanged for an address such as
    ``whatsapp:+1555...`` or an alphanumeric sender."""
    return e164(value) if _PHONE.fullmatch(value) else value


def _check_base_url(value, field):
    if not str(value).startswith(("https://", "http://")):
        raise GatewayConfigError(f"{field} must be an http(s) URL", field=field)
    return str(value).rstrip("/")


@register
class TwilioClient(GatewayClient):
    """Twilio Programmable Messaging (one message per request).

    Settings: ``account_sid``, ``auth_token`` (required); ``sender`` (a Twilio number,
    short code or alphanumeric id) and/or ``messaging_service_sid`` (takes precedence);
    ``status_callback`` (URL of our status webhook); ``base_url`` (default
    ``https://api.twilio.com``).
    """

    code = "twilio"
    max_batch = 1
    required_settings = ("account_sid", "auth_token")

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        self.account_sid = self.settings["account_sid"]
        self.auth_token = self.settings["auth_token"]
        self.sender = self.settings.get("sender") or None
        self.messaging_service_sid = self.settings.get("messaging_service_sid") or None
        if not (self.sender or self.messaging_service_sid):
            raise GatewayConfigError(
                "Twilio needs a sender number or a messaging service SID", field="sender"
            )
        self.status_callback = self.settings.get("status_callback") or None
        if self.status_callback:
            _check_base_url(self.status_callback, "status_callback")
        base_url = _check_base_url(self.settings.get("base_url") or DEFAULT_BASE_URL, "base_url")
        self.messages_url = f"{base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    # -- sending ----------------------------------------------------------------------------

    def send(self, messages):
        return [self._send_one(message) for message in messages]

    def _form(self, message):
        form = {"To": message.to, "Body": message.body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
            if message.sender:  # must belong to the service's sender pool
                form["From"] = message.sender
        else:
            form["From"] = message.sender or self.sender
        if self.status_callback:
            form["StatusCallback"] = _with_query(self.status_callback, **{REF_PARAM: message.ref})
        return form

    def _send_one(self, message):
        try:
            response = self.session.post(
                self.messages_url,
                data=self._form(message),
                auth=(self.account_sid, self.auth_token),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return SendResult.error(message, *request_failure(exc, self.timeout))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        if 200 <= response.status_code < 300:
            return self._accepted(message, payload)
        return self._refused(message, response, payload)

    def _accepted(self, message, payload):
        sid = payload.get("sid")
        if not sid:
            # A 2xx we cannot read (or without a sid): Twilio may well have created the
            # message, so it is ambiguous, never resent blindly.
            return SendResult.error(
                message, AMBIGUOUS, ERR_UNKNOWN, "success answer without a message sid"
            )
        try:
            segments = int(payload.get("num_segments") or 0)
        except (TypeError, ValueError):
            segments = 0
        if segments <= 0:  # "0" until a Messaging Service has picked the sender
            segments = encoding.analyze(message.body).segments
        try:
            cost = abs(float(payload["price"])) if payload.get("price") else None
        except (TypeError, ValueError):
            cost = None
        return SendResult.ok(message, provider_id=sid, segments=segments, cost=cost)

    def _refused(self, message, response, payload):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        code = payload.get("code")
        text = payload.get("message") or response.text[:500] or response.reason
        if code:
            text = f"{code}: {text}"
        try:
            known = ERROR_CODES.get(int(code))
        except (TypeError, ValueError):
            known = None
        if known:
            kind, error_code = known
            return SendResult.error(
                message,
                kind,
                error_code,
                text,
                retry_after=retry_after if error_code == ERR_RATE_LIMITED else None,
            )
        return http_error_result(message, response.status_code, text, retry_after)

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, request, kind):
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureError("missing X-Twilio-Signature header")
        query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        if "bodySHA256" in query:
            # JSON webhooks: the URL (with the body hash) is signed, the body checked by hash.
            params = {}
            body_hash = hashlib.sha256(request.body).hexdigest()
            if not constant_time_equal(body_hash, query["bodySHA256"]):
                raise SignatureError("request body does not match bodySHA256")
        else:
            params = dict(request.form)
        if not any(
            constant_time_equal(compute_signature(self.auth_token, url, params), signature)
            for url in _url_variants(request.url)
        ):
            raise SignatureError("X-Twilio-Signature does not match")

    def parse_status(self, request):
        params = request.params()
        provider_id = params.get("MessageSid") or params.get("SmsSid")
        status = STATUS_MAP.get(params.get("MessageStatus") or params.get("SmsStatus") or "")
        if not (provider_id and status):
            return []
        error_code = params.get("ErrorCode") or None
        return [
            StatusReport(
                provider_id=provider_id,
                status=status,
                ref=request.query.get(REF_PARAM) or None,
                to=params.get("To") or None,
                error_code=error_code if error_code not in (None, "0") else None,
                error_message=params.get("ErrorMessage") or None,
            )
        ]

    def parse_inbound(self, request):
        params = request.params()
        sender = params.get("From") or ""
        if not sender:
            return []
        return [
            InboundSms(
                sender=_phone_or_raw(sender),
                body=params.get("Body", ""),
                to=params.get("To") or None,
                provider_id=params.get("MessageSid") or params.get("SmsSid") or None,
            )
        ]

    def webhook_response(self, kind):
        if kind == WEBHOOK_INBOUND:
            return WebhookResponse(200, "text/xml", EMPTY_TWIML)
        return WebhookResponse(204)
