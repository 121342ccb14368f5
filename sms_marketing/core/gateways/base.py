"""The contract every SMS gateway client fulfils, with the plain values it exchanges.

A client turns our messages into one provider's documented request, and the provider's
answers, delivery reports and inbound messages back into the normalised values below. It
knows nothing of Odoo: the dispatcher gives it plain settings and a ``requests.Session``, and
gets back results it can write in bulk.

Guarantees every client gives:

* :meth:`GatewayClient.send` never raises for what the provider or the network does: a
  timeout, a 5xx, a 429 or a refusal becomes a :class:`SendResult` with ``accepted=False``
  and an error kind and a normalised ``error_code``. The kind says what is safe:
  ``RETRYABLE`` (the provider surely did not take the message: connection refused, 5xx, 429),
  ``PERMANENT`` (it refused it for good) or ``AMBIGUOUS`` (it may have taken it: read
  timeout, connection lost after sending, unreadable success answer), which is never
  resent automatically. It raises :class:`GatewayConfigError` only when the settings
  themselves are unusable.
* Results come back in the order of the messages, one per message, each carrying the
  message's ``ref`` (our trace id) so nothing is matched by position alone.
* Webhook parsing never trusts an unverified request: :meth:`GatewayClient.verify_webhook`
  raises :class:`SignatureError`, and the caller answers 403 without parsing.

Status vocabulary (``StatusReport.status``), from least to most final: ``sent`` (accepted by
the provider or carrier, on its way), then one of the final states ``delivered``,
``undelivered`` (the carrier could not deliver: phone off, expired...) or ``failed``
(rejected). A status never moves backwards; see :data:`STATUS_RANK`.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, NamedTuple

import requests
from urllib3.exceptions import NewConnectionError

RETRYABLE = "retryable"
PERMANENT = "permanent"
#: The provider may have accepted the message (the request left, no answer came back): a
#: resend could duplicate it, so the dispatcher marks it unknown until a report settles it.
AMBIGUOUS = "ambiguous"

# Normalised error codes (the Odoo layer translates them).
ERR_TIMEOUT = "timeout"
ERR_NETWORK = "network"
ERR_SERVER = "server_error"
ERR_RATE_LIMITED = "rate_limited"
ERR_AUTH = "auth_failed"
ERR_INVALID_NUMBER = "invalid_number"
ERR_BLOCKED = "blocked"  # opted out at the provider, barred, blacklisted
ERR_UNSUPPORTED_COUNTRY = "unsupported_country"
ERR_INSUFFICIENT_FUNDS = "insufficient_funds"
ERR_REJECTED = "rejected"  # content, sender or template refused
ERR_UNKNOWN = "unknown"

STATUS_SENT = "sent"
STATUS_DELIVERED = "delivered"
STATUS_UNDELIVERED = "undelivered"
STATUS_FAILED = "failed"
#: A report may only move a message to a status of higher rank (replays and late "sent"
#: reports after "delivered" change nothing).
STATUS_RANK = {STATUS_SENT: 1, STATUS_UNDELIVERED: 2, STATUS_FAILED: 2, STATUS_DELIVERED: 3}

WEBHOOK_STATUS = "status"
WEBHOOK_INBOUND = "inbound"


class GatewayError(Exception):
    """Base class of the gateway package's exceptions."""


class GatewayConfigError(GatewayError):
    """The settings cannot work (missing credential, malformed URL...); ``field`` names the
    setting at fault when one does."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class SignatureError(GatewayError):
    """A webhook request is not provably from the provider: answer 403, change nothing."""


class OutboundSms(NamedTuple):
    """One message to send.

    ``ref`` is our identifier (the trace id as text), echoed in results and, where the
    provider allows it, sent along so reports can be matched even without the provider id.
    ``to`` is E.164 (``+8613800138000``). ``sender`` overrides the gateway's default sender.
    ``params`` are template parameters for providers that send approved templates (Alibaba
    Cloud, Tencent Cloud); the body is always given as well. ``segments``, when the sender
    already counted them (the dispatcher stores the count when it queues), is the count a
    client reports for a provider that does not say, instead of counting again.

    A named tuple, like :class:`SendResult`: the dispatcher makes one per message, by the
    hundred thousand, and tuples are several times cheaper to build than dataclasses.
    """

    ref: str
    to: str
    body: str
    sender: str | None = None
    params: Mapping[str, str] | None = None
    segments: int | None = None


class SendResult(NamedTuple):
    """What became of one :class:`OutboundSms` at send time.

    Accepted: ``provider_id`` (their message id) and, when they say, ``segments`` and
    ``cost``. Not accepted: ``error_kind`` (``RETRYABLE`` or ``PERMANENT``), ``error_code``
    (one of the ``ERR_*`` constants), ``error_message`` (the provider's words) and, for
    rate limits, ``retry_after`` seconds.
    """

    ref: str
    accepted: bool
    provider_id: str | None = None
    segments: int | None = None
    cost: float | None = None
    error_kind: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None

    @classmethod
    def ok(cls, message, provider_id, segments=None, cost=None):
        return cls(message.ref, True, provider_id=provider_id, segments=segments, cost=cost)

    @classmethod
    def error(cls, message, kind, code, text=None, retry_after=None):
        return cls(
            message.ref,
            False,
            error_kind=kind,
            error_code=code,
            error_message=text,
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class StatusReport:
    """A delivery report: the provider's message id and its normalised status.

    ``ref`` is our identifier when the provider echoes it back (Alibaba's OutId, SMPP has
    none); ``error_code``/``error_message`` are the provider's own for failures.
    """

    provider_id: str
    status: str
    ref: str | None = None
    to: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class InboundSms:
    """A message received from a phone: ``sender`` is E.164 when the provider gives enough
    to build it (a leading ``+`` is added to bare international digits)."""

    sender: str
    body: str
    to: str | None = None
    provider_id: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request as the webhook route received it, framework-free.

    ``url`` is the full URL the provider called (scheme, host, path, query), which Twilio
    signs; ``headers`` keys are lower-case; ``form`` holds parsed urlencoded fields and
    ``query`` the query string's; ``body`` the raw bytes (signed by the generic HTTP
    provider).
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")

    def params(self):
        """Query and form fields together (form wins), as providers mix both."""
        return {**self.query, **self.form}


@dataclass(frozen=True)
class WebhookResponse:
    """What to answer a provider's webhook call, in the format it expects."""

    status: int = 200
    content_type: str = "text/plain"
    body: bytes = b""


class GatewayClient:
    """Base class of the provider clients; see the module docstring for the guarantees.

    Subclasses set ``code`` (the provider key stored on the gateway record), ``max_batch``
    (messages one request may carry: the dispatcher never passes more; see
    :meth:`batch_limit` when it depends on the settings) and ``required_settings``, and
    implement :meth:`send` and, for providers with webhooks, ``parse_status``,
    ``parse_inbound`` and, where the provider signs, ``verify_webhook``.
    """

    code: ClassVar[str] = ""
    max_batch: ClassVar[int] = 1
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: False for providers that report over a connection we hold (SMPP), not by webhook.
    receives_webhooks: ClassVar[bool] = True

    def __init__(self, settings, session=None, timeout=10.0):
        """:param Mapping settings: provider settings (credentials, sender, base URL...)
        :param requests.Session session: HTTP session to reuse (connection pooling), left
            open by :meth:`close`; the client makes its own when ``None``, and closes it
        :param float timeout: seconds for connect and read of every request
        """
        self.settings = dict(settings)
        missing = [key for key in self.required_settings if not self.settings.get(key)]
        if missing:
            raise GatewayConfigError(f"missing settings: {', '.join(missing)}", field=missing[0])
        self.timeout = timeout
        self._own_session = session is None
        self.session = requests.Session() if self._own_session else session

    @classmethod
    def batch_limit(cls, settings):
        """Most messages one request may carry with these settings (default ``max_batch``)."""
        return cls.max_batch

    # -- sending ----------------------------------------------------------------------------

    def send(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        """Send up to ``max_batch`` messages; one result per message, in order."""
        raise NotImplementedError

    def receive(self, timeout=0.0):
        """Reports and inbound messages pushed over a connection we hold (SMPP), as
        ``(list of StatusReport, list of InboundSms)``; webhook providers have none."""
        return [], []

    def close(self):
        """Release connections: the client's own HTTP session (its keep-alive connections
        stay open until then: the garbage collector may take long to find them, and
        providers limit the connections a client holds), SMPP binds."""
        if self._own_session:
            self.session.close()

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest, kind: str) -> None:
        """Raise :class:`SignatureError` unless ``request`` provably comes from the provider.

        The default accepts: providers without signatures rely on the secret token in the
        webhook URL, which the Odoo route checks before calling the client.
        """

    def parse_status(self, request: WebhookRequest) -> list[StatusReport]:
        """Delivery reports carried by a verified status webhook request."""
        raise NotImplementedError

    def parse_inbound(self, request: WebhookRequest) -> list[InboundSms]:
        """Inbound messages carried by a verified inbound webhook request."""
        raise NotImplementedError

    def webhook_response(self, kind: str) -> WebhookResponse:
        """The answer the provider expects once a webhook was processed."""
        return WebhookResponse(204)


#: Provider code -> client class, filled by :func:`register`.
REGISTRY: dict[str, type[GatewayClient]] = {}


def register(cls):
    """Class decorator: make a client available under its ``code``."""
    if not cls.code or cls.code in REGISTRY:
        raise ValueError(f"gateway code {cls.code!r} is empty or taken")
    REGISTRY[cls.code] = cls
    return cls


def get_client_class(code):
    """The client class registered for ``code``; raises :class:`GatewayConfigError`."""
    try:
        return REGISTRY[code]
    except KeyError:
        raise GatewayConfigError(f"unknown gateway provider {code!r}") from None


def hmac_hex(secret, data, digest=hashlib.sha256):
    """Hex HMAC of ``data`` (bytes or str) with ``secret`` (str)."""
    if isinstance(data, str):
        data = data.encode()
    return hmac.new(secret.encode(), data, digest).hexdigest()


def constant_time_equal(a, b):
    """Compare two signatures without leaking where they differ."""
    return hmac.compare_digest((a or "").encode(), (b or "").encode())


def e164(number):
    """``+`` followed by the digits of ``number`` (providers often drop the plus)."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    return f"+{digits}" if digits else ""


def http_error_result(message, status_code, text=None, retry_after=None):
    """Normalise an HTTP status without a more precise provider error code."""
    if status_code == 429:
        return SendResult.error(message, RETRYABLE, ERR_RATE_LIMITED, text, retry_after)
    if status_code in (401, 403):
        return SendResult.error(message, RETRYABLE, ERR_AUTH, text)
    if status_code >= 500 or status_code == 408:
        return SendResult.error(message, RETRYABLE, ERR_SERVER, text, retry_after)
    return SendResult.error(message, PERMANENT, ERR_REJECTED, text)


def parse_retry_after(value):
    """Seconds from a ``Retry-After`` header (delta-seconds form; dates are ignored)."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def request_failure(exc, timeout=None):
    """``(kind, error_code, text)`` for a ``requests`` exception raised while sending.

    What matters is whether the request may have reached the provider: a refused or
    unreachable connection (or a connect timeout) surely did not, so it is ``RETRYABLE``; a
    read timeout or a connection lost while waiting for the answer may have, so it is
    ``AMBIGUOUS`` and never resent automatically.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return RETRYABLE, ERR_TIMEOUT, "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return AMBIGUOUS, ERR_TIMEOUT, f"no answer within {timeout}s" if timeout else "no answer"
    if isinstance(exc, requests.ConnectionError) and _never_connected(exc):
        return RETRYABLE, ERR_NETWORK, f"cannot connect ({type(exc).__name__})"
    return AMBIGUOUS, ERR_NETWORK, f"connection lost ({type(exc).__name__}: {exc})"[:250]


def _never_connected(exc):
    """Whether the exception chain shows the connection was never established."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        stack += [getattr(current, "reason", None), current.__cause__, current.__context__]
        stack += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    return False


def bare_sign_name(value):
    """A Chinese SMS signature without its brackets: ``【Brand】`` or ``[Brand]`` ->
    ``Brand`` (Alibaba Cloud and Tencent Cloud want the bare name)."""
    value = str(value or "").strip()
    if len(value) > 2 and (value[0], value[-1]) in (("【", "】"), ("[", "]")):
        value = value[1:-1].strip()
    return value


def json_items(payload):
    """The objects of a pushed JSON document (an array of objects, or a single object)."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict)]
    return []


def unique_number_groups(indexed, size, key=lambda message: message.to):
    """Split ``(index, message)`` pairs into groups of at most ``size`` in which no number
    (as ``key`` writes it) appears twice: batch APIs answer per number, so a repeated
    number in one request would make its results ambiguous."""
    groups = []
    pending = list(indexed)
    while pending:
        group, seen, rest = [], set(), []
        for index, message in pending:
            number = key(message)
            if number in seen or len(group) >= size:
                rest.append((index, message))
            else:
                seen.add(number)
                group.append((index, message))
        groups.append(group)
        pending = rest
    return groups
