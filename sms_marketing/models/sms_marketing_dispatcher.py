import dataclasses
import json
import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import requests

from odoo import api, fields, models
from odoo.tools import SQL

from ..core import encoding, gateways, keywords
from ..core import phone as core_phone
from ..core.gateways import base as gw
from .sms_marketing_trace import state_rank_sql

_logger = logging.getLogger(__name__)

CLAIM_SIZE = 5000
#: Retry back-off: base * 2 ** (attempt - 1), capped, with +-20% jitter.
RETRY_BASE = 30
RETRY_CAP = 3600
#: Without any gateway, a message waits this many back-off rounds (about half an hour) for an
#: administrator to add or re-enable one, then fails.
NO_GATEWAY_ATTEMPTS = 6


class RateLimiter:
    """Token bucket shared by the threads sending through one gateway (per process)."""

    def __init__(self, rate):
        self.rate = rate
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def wait(self, count):
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + count / self.rate
        if start > now:
            time.sleep(start - now)


@dataclasses.dataclass
class _Claimed:
    """A claimed trace, as the dispatcher needs it (no ORM records on the hot path)."""

    id: int
    company_id: int
    gateway_id: int | None
    message_class: str
    country_code: str | None
    number: str
    body: str
    attempts: int
    sms_uuid: str | None


class SmsMarketingDispatcher(models.AbstractModel):
    """Sends the trace queue through the gateways and applies what the gateways report.

    Entry points: the crons :meth:`_cron_dispatch` (send due traces), :meth:`_cron_events`
    (apply simulated and deferred events) and :meth:`_cron_receive` (poll SMPP binds), and
    :meth:`_apply_status_reports` / :meth:`_apply_inbound`, called by the webhook routes.

    Exactly-once sending rests on one statement: due traces are claimed with
    ``FOR UPDATE SKIP LOCKED`` and marked ``sending`` in a transaction committed before any
    network call, so two dispatchers never claim the same trace and a crash leaves the trace
    ``sending``, which :meth:`_expire_leases` turns into ``unknown``, never back to
    ``queued``. Results are written in bulk, only onto traces still ``sending``.
    """

    _name = "sms.marketing.dispatcher"
    _description = "SMS Dispatcher"

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    @api.model
    def _lease(self):
        # sudo: a technical setting read by the cron user.
        minutes = (
            self.env["ir.config_parameter"].sudo().get_param("sms_marketing.lease_minutes", 10)
        )
        return timedelta(minutes=float(minutes))

    @api.model
    def _cron_dispatch(self, time_budget=50.0, claim_size=CLAIM_SIZE):
        """Send due traces for up to ``time_budget`` seconds, batch after batch.

        Reports progress to the cron framework, which calls again while traces remain.
        :return: number of traces processed
        """
        self._expire_leases()
        deadline = time.monotonic() + time_budget
        done = 0
        clients = {}
        try:
            while time.monotonic() < deadline:
                claimed = self._claim(claim_size)
                if not claimed:
                    break
                done += self._send_claimed(claimed, clients)
        finally:
            self._close_clients(clients)
        remaining = self._count_due()
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _close_clients(self, clients):
        """Collect what arrived over held connections (SMPP receipts), then close them."""
        Gateway = self.env["sms.marketing.gateway"].with_context(active_test=False)
        for gateway_id, client in clients.items():
            try:
                reports, inbound = client.receive(0)
            except Exception:
                _logger.exception("reading pending messages from gateway %s failed", gateway_id)
                reports, inbound = [], []
            finally:
                try:
                    client.close()
                except Exception:
                    _logger.exception("closing gateway %s client failed", gateway_id)
            if reports or inbound:
                # its own transaction: the cron's began before these messages were sent
                with self.env.registry.cursor() as cr:
                    dispatcher = self.with_env(self.env(cr=cr))
                    gateway = Gateway.with_env(dispatcher.env).browse(gateway_id)
                    dispatcher._apply_status_reports(gateway, reports)
                    dispatcher._apply_inbound(gateway, inbound)

    @api.model
    def _count_due(self):
        # A fresh cursor: the cron's own transaction began before this run's claims.
        with self.env.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM sms_marketing_trace"
                " WHERE state = 'queued' AND scheduled_at <= now() at time zone 'utc'"
            )
            return cr.fetchone()[0]

    @api.model
    def _expire_leases(self):
        """Traces claimed longer than the lease ago were interrupted (process killed): they
        may or may not have left, so they become ``unknown``, never queued again.

        In its own short transaction, so concurrent dispatchers do not wait on each other.
        """
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_trace
                       SET state = 'unknown', error_code = 'lease_expired', claimed_at = NULL,
                           write_date = now() at time zone 'utc'
                     WHERE id IN (SELECT id FROM sms_marketing_trace
                                   WHERE state = 'sending' AND claimed_at < %s
                                     FOR UPDATE SKIP LOCKED)
                    """,
                    fields.Datetime.now() - self._lease(),
                )
            )
            if cr.rowcount:
                _logger.warning(
                    "%d SMS traces interrupted while sending are now unknown", cr.rowcount
                )

    @api.model
    def _claim(self, limit):
        """Claim up to ``limit`` due traces, route them, and commit before returning.

        A separate cursor makes the claim durable on its own: whatever happens next (network,
        crash), these traces are ``sending`` and no other dispatcher will take them.
        """
        now = fields.Datetime.now()
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    WITH due AS (
                        SELECT id FROM sms_marketing_trace
                         WHERE state = 'queued' AND scheduled_at <= %(now)s
                      ORDER BY scheduled_at, id
                         LIMIT %(limit)s
                           FOR UPDATE SKIP LOCKED
                    )
                    UPDATE sms_marketing_trace t
                       SET state = 'sending', claimed_at = %(now)s,
                           attempts = COALESCE(t.attempts, 0) + 1
                      FROM due
                     WHERE t.id = due.id
                 RETURNING t.id, t.company_id, t.gateway_id, t.message_class, t.country_code,
                           t.number, t.body, t.attempts, t.sms_uuid
                    """,
                    now=now,
                    limit=limit,
                )
            )
            claimed = [_Claimed(*row) for row in cr.fetchall()]
            unrouted = [item for item in claimed if not item.gateway_id]
            if unrouted:
                env = self.env(cr=cr)
                routes = {}
                for item in unrouted:
                    key = (item.company_id, item.message_class, item.country_code)
                    if key not in routes:
                        routes[key] = (
                            env["sms.marketing.gateway"]
                            ._route(
                                env["res.company"].browse(item.company_id),
                                item.message_class,
                                item.country_code,
                            )
                            .id
                        )
                    item.gateway_id = routes[key] or None
                by_gateway = defaultdict(list)
                for item in unrouted:
                    if item.gateway_id:
                        by_gateway[item.gateway_id].append(item.id)
                for gateway_id, ids in by_gateway.items():
                    cr.execute(
                        SQL(
                            "UPDATE sms_marketing_trace SET gateway_id = %s WHERE id = ANY(%s)",
                            gateway_id,
                            ids,
                        )
                    )
        return claimed

    @api.model
    def _send_claimed(self, claimed, clients):
        """Send claimed traces gateway by gateway and write every outcome."""
        Gateway = self.env["sms.marketing.gateway"].with_context(active_test=False)
        outcomes = []  # (item, SendResult or None, gateway)
        by_gateway = defaultdict(list)
        for item in claimed:
            by_gateway[item.gateway_id].append(item)
        for gateway_id, items in by_gateway.items():
            gateway = Gateway.browse(gateway_id) if gateway_id else Gateway
            if not gateway:
                outcomes += [(item, self._no_gateway_result(item), Gateway) for item in items]
                continue
            outcomes += self._send_through(gateway, items, clients)
        self._write_outcomes(outcomes)
        return len(claimed)

    @api.model
    def _no_gateway_result(self, item):
        return gw.SendResult(
            str(item.id),
            False,
            error_kind=gw.RETRYABLE,
            error_code="no_gateway",
            error_message="no active gateway for this company, message class and country",
        )

    @api.model
    def _send_through(self, gateway, items, clients):
        """Send ``items`` through ``gateway``; returns ``(item, result, gateway)`` tuples."""
        try:
            client = clients.get(gateway.id) or clients.setdefault(
                gateway.id, gateway._get_client(session=requests.Session())
            )
        except Exception as exc:  # unusable settings: keep the messages, report the gateway
            _logger.warning("gateway %s unusable: %s", gateway.id, exc)
            gateway._record_health(False, str(exc))
            return [
                (
                    item,
                    gw.SendResult(
                        str(item.id),
                        False,
                        error_kind=gw.RETRYABLE,
                        error_code="auth_failed",
                        error_message=str(exc)[:250],
                    ),
                    gateway,
                )
                for item in items
            ]
        sender = gateway.sender or None
        messages = [gw.OutboundSms(str(item.id), item.number, item.body, sender) for item in items]
        size = gateway._effective_batch_size()
        chunks = [messages[i : i + size] for i in range(0, len(messages), size)]
        limiter = RateLimiter(gateway.rate_limit)
        if size == 1 and gateway.concurrency > 1 and len(chunks) > 1:
            results = self._send_concurrently(gateway, client, chunks, limiter)
        else:
            results = []
            for chunk in chunks:
                limiter.wait(len(chunk))
                results += self._send_chunk(client, chunk)
        failures = [r for r in results if not r.accepted and r.error_kind == gw.RETRYABLE]
        if any(r.accepted for r in results):
            gateway._record_health(True)
        elif failures:
            gateway._record_health(False, failures[0].error_message or failures[0].error_code)
        by_ref = {result.ref: result for result in results}
        if gateway.provider == "simulator":
            self._plan_simulated(gateway, client, messages, by_ref)
        return [(item, by_ref.get(str(item.id)), gateway) for item in items]

    @api.model
    def _send_chunk(self, client, chunk):
        try:
            return client.send(chunk)
        except Exception as exc:  # a client bug: the request may have left, never resend
            _logger.exception("gateway client %s crashed while sending", client.code)
            return [
                gw.SendResult(
                    message.ref,
                    False,
                    error_kind=gw.AMBIGUOUS,
                    error_code="ambiguous",
                    error_message=str(exc)[:250],
                )
                for message in chunk
            ]

    @api.model
    def _send_concurrently(self, gateway, client, chunks, limiter):
        """One message per request: several connections, each thread with its own client
        (and HTTP session), sharing the gateway's rate limit."""
        local = threading.local()
        settings = gateway._get_client_settings()

        def send(chunk):
            if not hasattr(local, "client"):
                local.client = gateways.create_client(
                    gateway.provider,
                    settings,
                    session=requests.Session(),
                    timeout=gateway.timeout,
                )
            limiter.wait(len(chunk))
            return self._send_chunk(local.client, chunk)

        with ThreadPoolExecutor(max_workers=gateway.concurrency) as pool:
            return [result for results in pool.map(send, chunks) for result in results]

    @api.model
    def _retry_delay(self, attempts, retry_after=None):
        delay = min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1))
        delay *= random.uniform(0.8, 1.2)  # jitter spreads retries; not security related
        return max(delay, retry_after or 0)

    @api.model
    def _write_outcomes(self, outcomes):
        """Write send outcomes in one statement, onto traces still ``sending`` only."""
        now = fields.Datetime.now()
        columns = defaultdict(list)
        sms_traces = []
        for item, result, gateway in outcomes:
            row = {
                "id": item.id,
                "gateway_id": gateway.id or None,
                "attempts": item.attempts,
                "scheduled_at": None,
                "provider_id": None,
                "segments": None,
                "cost": None,
                "error_code": None,
                "error_message": None,
                "sent_at": None,
            }
            if result is None:  # the client returned no result for this message
                result = gw.SendResult(
                    str(item.id),
                    False,
                    error_kind=gw.AMBIGUOUS,
                    error_code="ambiguous",
                    error_message="no result",
                )
            if result.accepted:
                segments = result.segments or encoding.analyze(item.body).segments
                row.update(
                    state="sent",
                    provider_id=result.provider_id,
                    segments=segments,
                    cost=result.cost
                    if result.cost is not None
                    else segments * (gateway.cost_per_segment or 0.0),
                    sent_at=now,
                )
            elif result.error_kind == gw.RETRYABLE and item.attempts < (
                gateway.max_attempts if gateway else NO_GATEWAY_ATTEMPTS
            ):
                row.update(
                    state="queued",
                    scheduled_at=now
                    + timedelta(seconds=self._retry_delay(item.attempts, result.retry_after)),
                    error_code=result.error_code,
                    error_message=(result.error_message or "")[:250] or None,
                )
            elif result.error_kind == gw.RETRYABLE and gateway.fallback_id:
                row.update(
                    state="queued",
                    gateway_id=gateway.fallback_id.id,
                    attempts=0,
                    scheduled_at=now,
                    error_code=result.error_code,
                    error_message=(result.error_message or "")[:250] or None,
                )
            else:
                row.update(
                    state="unknown" if result.error_kind == gw.AMBIGUOUS else "failed",
                    error_code=result.error_code,
                    error_message=(result.error_message or "")[:250] or None,
                )
            for key, value in row.items():
                columns[key].append(value)
            if item.sms_uuid:
                sms_traces.append(item.id)
        if not outcomes:
            return
        # SQL: one statement for thousands of results; "AND t.state = 'sending'" keeps a
        # trace that a report or a lease expiry already settled from being overwritten.
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_trace t
                       SET state = v.state,
                           gateway_id = v.gateway_id,
                           attempts = v.attempts,
                           scheduled_at = COALESCE(v.scheduled_at, t.scheduled_at),
                           provider_id = COALESCE(v.provider_id, t.provider_id),
                           segments = COALESCE(v.segments, t.segments),
                           cost = COALESCE(v.cost, t.cost),
                           sent_at = COALESCE(v.sent_at, t.sent_at),
                           error_code = v.error_code,
                           error_message = v.error_message,
                           claimed_at = NULL,
                           write_date = %(now)s
                      FROM unnest(%(id)s::int[], %(state)s::varchar[], %(gateway_id)s::int[],
                                  %(attempts)s::int[], %(scheduled_at)s::timestamp[],
                                  %(provider_id)s::varchar[], %(segments)s::int[],
                                  %(cost)s::float8[], %(sent_at)s::timestamp[],
                                  %(error_code)s::varchar[], %(error_message)s::varchar[])
                           AS v(id, state, gateway_id, attempts, scheduled_at, provider_id,
                                segments, cost, sent_at, error_code, error_message)
                     WHERE t.id = v.id AND t.state = 'sending'
                    """,
                    now=now,
                    **columns,
                )
            )
            retry_at = [at for at in columns["scheduled_at"] if at]
            if retry_at:
                env = self.env(cr=cr)
                env.ref("sms_marketing.ir_cron_sms_marketing_dispatch")._trigger(min(retry_at))
            if sms_traces:
                self.env(cr=cr)["sms.sms"]._sms_marketing_sync(sms_traces)

    # ------------------------------------------------------------------
    # Reports and inbound messages
    # ------------------------------------------------------------------

    @api.model
    def _apply_status_reports(self, gateway, reports, defer_unmatched=True):
        """Apply delivery reports idempotently; a status never moves backwards.

        Reports are matched by the gateway's message id, else by our reference (trace id)
        when the provider echoes it. Unmatched reports (the send result may not be written
        yet) are kept as events and retried.

        :return: number of traces updated
        """
        if not reports:
            return 0
        now = fields.Datetime.now()
        rows = defaultdict(list)
        for report in reports:
            ref = report.ref
            rows["provider_id"].append(report.provider_id or None)
            rows["ref"].append(int(ref) if ref and str(ref).isdigit() else None)
            rows["status"].append(report.status)
            rows["ranks"].append(gw.STATUS_RANK.get(report.status, 0))
            rows["error"].append((report.error_code or report.error_message or "")[:250] or None)
            rows["at"].append(
                report.occurred_at.replace(tzinfo=None) if report.occurred_at else now
            )
        # SQL: webhooks must answer in milliseconds and reports come by the thousand; the
        # rank comparison makes replays and late "sent" reports change nothing.
        self.env.cr.execute(
            SQL(
                """
                WITH v AS (
                    SELECT * FROM unnest(%(provider_id)s::varchar[], %(ref)s::int[],
                                         %(status)s::varchar[], %(ranks)s::int[],
                                         %(error)s::varchar[], %(at)s::timestamp[])
                           AS v(provider_id, ref, status, rank, error, at)
                ), matched AS (
                    SELECT DISTINCT ON (t.id) t.id, v.provider_id, v.status, v.rank, v.error,
                           v.at, v.ref
                      FROM v
                      JOIN sms_marketing_trace t
                        ON t.gateway_id = %(gateway)s
                       AND (t.provider_id = v.provider_id
                            OR (v.ref IS NOT NULL AND t.id = v.ref))
                  ORDER BY t.id, v.rank DESC
                )
                UPDATE sms_marketing_trace t
                   SET state = m.status,
                       status_at = m.at,
                       provider_id = COALESCE(t.provider_id, m.provider_id),
                       error_code = CASE WHEN m.status = 'delivered' THEN NULL
                                         ELSE COALESCE(t.error_code, 'rejected') END,
                       error_message = CASE WHEN m.status = 'delivered' THEN NULL
                                            ELSE m.error END,
                       write_date = %(now)s
                  FROM matched m
                 WHERE t.id = m.id AND %(current_rank)s < m.rank
             RETURNING t.id, t.sms_uuid
                """,
                gateway=gateway.id,
                now=now,
                current_rank=state_rank_sql(SQL.identifier("t", "state")),
                **rows,
            )
        )
        updated = self.env.cr.fetchall()
        if defer_unmatched:
            self._defer_unmatched(gateway, reports)
        sms_traces = [trace_id for trace_id, sms_uuid in updated if sms_uuid]
        if sms_traces:
            self.env["sms.sms"]._sms_marketing_sync(sms_traces)
        return len(updated)

    @api.model
    def _defer_unmatched(self, gateway, reports):
        """Keep reports that matched no trace at all, to try again in a minute."""
        ids = [r.provider_id for r in reports if r.provider_id]
        refs = [int(r.ref) for r in reports if r.ref and str(r.ref).isdigit()]
        self.env.cr.execute(
            SQL(
                """
                SELECT provider_id, id FROM sms_marketing_trace
                 WHERE gateway_id = %s AND (provider_id = ANY(%s) OR id = ANY(%s))
                """,
                gateway.id,
                ids,
                refs,
            )
        )
        known_ids, known_refs = set(), set()
        for provider_id, trace_id in self.env.cr.fetchall():
            known_ids.add(provider_id)
            known_refs.add(str(trace_id))
        unmatched = [
            r for r in reports if r.provider_id not in known_ids and str(r.ref) not in known_refs
        ]
        if unmatched:
            self.env["sms.marketing.gateway.event"].sudo().create(
                [
                    {
                        "gateway_id": gateway.id,
                        "kind": "status",
                        "due_at": fields.Datetime.now() + timedelta(minutes=1),
                        "payload": _to_payload(report),
                    }
                    for report in unmatched
                ]
            )
            self.env.ref("sms_marketing.ir_cron_sms_marketing_events")._trigger(
                fields.Datetime.now() + timedelta(minutes=1)
            )

    @api.model
    def _apply_inbound(self, gateway, messages):
        """Store inbound SMS once each and act on keywords.

        Stop keywords opt the sender out (consent ledger, blacklist) and answer once with the
        confirmation text; start keywords opt back in or confirm a pending double opt-in;
        help keywords get the help text; anything else is kept, linked to the contact and
        the last SMS sent to them, and posted on the contact's chatter.

        :return: the ``sms.marketing.inbound`` records created (replays create none)
        """
        Inbound = self.env["sms.marketing.inbound"].sudo()
        created = Inbound.browse()
        for message in messages:
            sender = core_phone.to_e164(message.sender) or message.sender
            if message.provider_id and Inbound.search_count(
                [("gateway_id", "=", gateway.id), ("provider_id", "=", message.provider_id)],
                limit=1,
            ):
                continue  # a replayed webhook
            keyword_class = keywords.classify(message.body)
            partner = self._find_partner(gateway.company_id, sender)
            trace = (
                self.env["sms.marketing.trace"]
                .sudo()
                .search(
                    [
                        ("number", "=", sender),
                        ("company_id", "=", gateway.company_id.id),
                        ("state", "in", ("sent", "delivered", "undelivered")),
                    ],
                    order="sent_at desc, id desc",
                    limit=1,
                )
            )
            inbound = Inbound.create(
                {
                    "gateway_id": gateway.id,
                    "provider_id": message.provider_id,
                    "sender": sender,
                    "recipient": message.to,
                    "body": message.body,
                    "received_at": (message.received_at or fields.Datetime.now()).replace(
                        tzinfo=None
                    ),
                    "keyword_class": keyword_class,
                    "partner_id": (partner or trace.partner_id).id,
                    "trace_id": trace.id,
                }
            )
            created |= inbound
            if trace:
                trace.replied_at = inbound.received_at
            inbound._sms_marketing_act()
        return created

    @api.model
    def _find_partner(self, company, number):
        # sudo: webhooks run without a user; the lookup is by exact normalised number.
        return (
            self.env["res.partner"]
            .sudo()
            .search(
                [
                    ("sms_e164", "=", number),
                    ("company_id", "in", [company.id, False]),
                ],
                order="id",
                limit=1,
            )
        )

    # ------------------------------------------------------------------
    # Simulator and deferred events
    # ------------------------------------------------------------------

    @api.model
    def _plan_simulated(self, gateway, client, messages, results):
        events = []
        now = fields.Datetime.now()
        for message in messages:
            result = results.get(message.ref)
            if not result:
                continue
            for event in client.plan(message, result):
                events.append(
                    {
                        "gateway_id": gateway.id,
                        "kind": "status" if event.report else "inbound",
                        "due_at": now + timedelta(seconds=event.delay),
                        "payload": _to_payload(event.report or event.inbound),
                    }
                )
        if events:
            # SQL: a simulated campaign plans one event per message; ORM create of 100,000
            # technical rows would dominate the dispatch.
            with self.env.registry.cursor() as cr:
                cr.execute(
                    SQL(
                        """
                        INSERT INTO sms_marketing_gateway_event
                               (gateway_id, kind, due_at, payload, tries,
                                create_date, write_date, create_uid, write_uid)
                        SELECT gateway_id, kind, due_at, payload, 0, %(now)s, %(now)s,
                               %(uid)s, %(uid)s
                          FROM unnest(%(gateway)s::int[], %(kind)s::varchar[],
                                      %(due)s::timestamp[], %(payload)s::jsonb[])
                               AS e(gateway_id, kind, due_at, payload)
                        """,
                        now=now,
                        uid=self.env.uid,
                        gateway=[e["gateway_id"] for e in events],
                        kind=[e["kind"] for e in events],
                        due=[e["due_at"] for e in events],
                        payload=[json.dumps(e["payload"]) for e in events],
                    )
                )
                self.env(cr=cr).ref("sms_marketing.ir_cron_sms_marketing_events")._trigger(
                    min(e["due_at"] for e in events)
                )

    @api.model
    def _cron_events(self, limit=5000):
        """Apply due events (simulated reports and replies, deferred reports)."""
        Event = self.env["sms.marketing.gateway.event"].sudo()
        events = Event.search([("due_at", "<=", fields.Datetime.now())], limit=limit)
        by_key = defaultdict(list)
        for event in events:
            by_key[(event.gateway_id, event.kind)].append(event)
        for (gateway, kind), group in by_key.items():
            if kind == "status":
                reports = [_from_payload(gw.StatusReport, e.payload) for e in group]
                self._apply_status_reports(gateway, reports, defer_unmatched=False)
                retry = [
                    e
                    for e in group
                    if e.tries < 24 * 60 and not self._report_settled(gateway, e.payload)
                ]
                for event in retry:
                    event.write(
                        {
                            "tries": event.tries + 1,
                            "due_at": fields.Datetime.now() + timedelta(minutes=1),
                        }
                    )
                (Event.concat(*group) - Event.concat(*retry)).unlink()
            else:
                self._apply_inbound(
                    gateway, [_from_payload(gw.InboundSms, e.payload) for e in group]
                )
                Event.concat(*group).unlink()
        upcoming = Event.search([], order="due_at", limit=1)
        if upcoming:
            self.env.ref("sms_marketing.ir_cron_sms_marketing_events")._trigger(upcoming.due_at)
        remaining = Event.search_count([("due_at", "<=", fields.Datetime.now())])
        self.env["ir.cron"]._notify_progress(done=len(events), remaining=remaining)

    @api.model
    def _report_settled(self, gateway, payload):
        """Whether a deferred report now matches a trace (then it was applied)."""
        ref = payload.get("ref")
        domain = [("gateway_id", "=", gateway.id), ("provider_id", "=", payload["provider_id"])]
        if ref and str(ref).isdigit():
            domain = ["|", ("id", "=", int(ref)), *domain]
        return bool(self.env["sms.marketing.trace"].sudo().search_count(domain, limit=1))

    @api.model
    def _cron_receive(self, seconds=20.0):
        """Collect receipts and inbound messages from gateways that push them over a
        connection we hold (SMPP) rather than by webhook."""
        pushing = [code for code, cls in gw.REGISTRY.items() if not cls.receives_webhooks]
        for gateway in self.env["sms.marketing.gateway"].search([("provider", "in", pushing)]):
            try:
                client = gateway._get_client()
                reports, inbound = client.receive(timeout=seconds)
                client.close()
            except Exception as exc:
                _logger.warning("receiving from gateway %s failed: %s", gateway.id, exc)
                gateway._record_health(False, str(exc))
                continue
            self._apply_status_reports(gateway, reports)
            self._apply_inbound(gateway, inbound)


def _to_payload(value):
    data = dataclasses.asdict(value)
    for key, item in data.items():
        if isinstance(item, datetime):
            data[key] = item.isoformat()
    return data


def _from_payload(cls, payload):
    values = dict(payload)
    for key in ("occurred_at", "received_at"):
        if values.get(key):
            values[key] = datetime.fromisoformat(values[key])
    return cls(**{f.name: values.get(f.name) for f in dataclasses.fields(cls)})
