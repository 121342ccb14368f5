"""The embedded simulator: a gateway that needs no account anywhere.

It accepts every message to a plausible E.164 number (refusing others as a real provider
would), returns message ids and segment counts, and plans what would happen next: a
delivery report after ``report_delay`` seconds and, for some messages, a reply after
``reply_delay``. Outcomes follow a configurable mix (weights) and are deterministic for a
given ``seed`` and message ``ref``, so demos and tests are reproducible:

* ``delivered``, ``undelivered``, ``failed``: the report's status;
* ``reply_stop``: delivered, then the recipient answers the stop keyword of their country
  (``TD`` for Chinese numbers, ``STOP`` elsewhere);
* ``reply_text``: delivered, then a free-text answer.

The Odoo layer stores the planned events and replays them when due through the same code
as real webhooks. The simulator also accepts JSON webhooks (``{"id", "status"}`` reports and
``{"from", "text"}`` messages), so benchmarks can drive it over HTTP like any provider.
"""

import hashlib
from dataclasses import dataclass

from .. import encoding
from .base import (
    ERR_INVALID_NUMBER,
    PERMANENT,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_RANK,
    STATUS_UNDELIVERED,
    GatewayClient,
    InboundSms,
    SendResult,
    StatusReport,
    WebhookResponse,
    e164,
    register,
)

OUTCOMES = ("delivered", "undelivered", "failed", "reply_stop", "reply_text")
DEFAULT_MIX = {
    "delivered": 85,
    "undelivered": 4,
    "failed": 2,
    "reply_stop": 3,
    "reply_text": 6,
}
_STATUS_OF = {
    "delivered": STATUS_DELIVERED,
    "undelivered": STATUS_UNDELIVERED,
    "failed": STATUS_FAILED,
    "reply_stop": STATUS_DELIVERED,
    "reply_text": STATUS_DELIVERED,
}
_REPLIES = {
    "zh": ("好的，谢谢", "请问门店几点关门？", "收到"),
    "en": ("Thanks!", "What time do you close today?", "Got it, see you Saturday"),
}


@dataclass(frozen=True)
class PlannedEvent:
    """Something the simulator will report ``delay`` seconds after sending."""

    delay: float
    report: StatusReport | None = None
    inbound: InboundSms | None = None


@register
class SimulatorClient(GatewayClient):
    """Simulated provider; settings: ``mix`` (outcome -> weight), ``report_delay``,
    ``reply_delay`` (seconds), ``seed`` (text), ``sender`` (number replies are sent to)."""

    code = "simulator"
    max_batch = 1000

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        mix = {key: float(value) for key, value in (settings.get("mix") or DEFAULT_MIX).items()}
        if set(mix) - set(OUTCOMES) or sum(mix.values()) <= 0:
            raise ValueError(f"simulator mix must weigh some of {OUTCOMES}")
        total = sum(mix.values())
        self._cumulative = []
        running = 0.0
        for outcome in OUTCOMES:
            running += mix.get(outcome, 0.0) / total
            self._cumulative.append((running, outcome))
        self.report_delay = float(settings.get("report_delay", 5))
        self.reply_delay = float(settings.get("reply_delay", 30))
        self.seed = str(settings.get("seed", "sms_marketing"))

    def _hash(self, ref):
        return hashlib.blake2b(f"{self.seed}:{ref}".encode(), digest_size=8).hexdigest()

    def outcome(self, ref):
        """The deterministic outcome of message ``ref`` (one of :data:`OUTCOMES`)."""
        draw = int(self._hash(ref), 16) / 2**64
        return next(outcome for bound, outcome in self._cumulative if draw < bound)

    def send(self, messages):
        results = []
        for message in messages:
            digits = message.to[1:]
            if not (message.to.startswith("+") and digits.isdigit() and 8 <= len(digits) <= 15):
                results.append(
                    SendResult.error(message, PERMANENT, ERR_INVALID_NUMBER, "not an E.164 number")
                )
                continue
            results.append(
                SendResult.ok(
                    message,
                    provider_id=f"SIM{self._hash(message.ref)}",
                    segments=encoding.analyze(message.body).segments,
                )
            )
        return results

    def plan(self, message, result):
        """Events that follow the sending of ``message`` (accepted per ``result``)."""
        if not result.accepted:
            return []
        outcome = self.outcome(message.ref)
        events = [
            PlannedEvent(
                self.report_delay,
                report=StatusReport(
                    provider_id=result.provider_id,
                    status=_STATUS_OF[outcome],
                    ref=message.ref,
                    to=message.to,
                    error_code=None
                    if _STATUS_OF[outcome] == STATUS_DELIVERED
                    else "SIM-" + outcome,
                ),
            )
        ]
        if outcome in ("reply_stop", "reply_text"):
            chinese = message.to.startswith("+86")
            if outcome == "reply_stop":
                text = "TD" if chinese else "STOP"
            else:
                choices = _REPLIES["zh" if chinese else "en"]
                text = choices[int(self._hash(message.ref + ":reply"), 16) % len(choices)]
            events.append(
                PlannedEvent(
                    self.reply_delay,
                    inbound=InboundSms(
                        sender=message.to,
                        body=text,
                        to=message.sender or self.settings.get("sender"),
                        provider_id=f"SIMMO{self._hash(message.ref + ':mo')}",
                    ),
                )
            )
        return events

    # -- JSON webhooks (benchmarks, manual tests) -------------------------------------------

    def parse_status(self, request):
        payload = request.json()
        items = payload if isinstance(payload, list) else [payload]
        return [
            StatusReport(
                provider_id=str(item["id"]),
                status=item["status"],
                ref=item.get("ref"),
                error_code=item.get("error"),
            )
            for item in items
            if item.get("status") in STATUS_RANK and item.get("id")
        ]

    def parse_inbound(self, request):
        payload = request.json()
        items = payload if isinstance(payload, list) else [payload]
        return [
            InboundSms(
                sender=e164(item["from"]),
                body=str(item.get("text", "")),
                to=item.get("to"),
                provider_id=item.get("id"),
            )
            for item in items
            if item.get("from")
        ]

    def webhook_response(self, kind):
        return WebhookResponse(200, "application/json", b'{"ok":true}')


class SimulatedReader:
    """How the simulator's recipients click: each number has a hidden preferred hour of
    the day (derived from the number and ``seed``, between ``first_hour`` and
    ``last_hour``) at which an SMS is most likely to be clicked, less so an hour away,
    rarely otherwise. Benchmarks draw clicks from it to test send-time choices; nothing
    in the addon reads these hours (the estimator learns from the clicks only)."""

    def __init__(self, seed="reader", base=0.04, near=0.14, peak=0.30, first_hour=9, last_hour=20):
        self.seed = str(seed)
        self.base, self.near, self.peak = base, near, peak
        self.first_hour, self.last_hour = first_hour, last_hour

    def _draw(self, text):
        digest = hashlib.blake2b(f"{self.seed}:{text}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def preferred_hour(self, number):
        """The hidden hour of ``number`` (local time of the recipient)."""
        span = self.last_hour - self.first_hour + 1
        return self.first_hour + int(self._draw(f"hour:{number}") * span)

    def click_probability(self, number, local_hour):
        """The chance that ``number`` clicks an SMS received at ``local_hour``."""
        distance = abs(local_hour - self.preferred_hour(number))
        if distance == 0:
            return self.peak
        if distance == 1:
            return self.near
        return self.base

    def clicks(self, number, local_hour, ref):
        """Whether the SMS ``ref`` received by ``number`` at ``local_hour`` is clicked
        (deterministic for a given seed and ``ref``)."""
        return self._draw(f"click:{ref}") < self.click_probability(number, local_hour)
