import dataclasses
import json
import logging
import operator
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from odoo import api, fields, models
from odoo.sql_db import Cursor
from odoo.tools import SQL

from ..core import encoding, gateways, keywords
from ..core import phone as core_phone
from ..core.gateways import base as gw
from .sms_marketing_trace import state_rank_sql

_logger = logging.getLogger(__name__)

CLAIM_SIZE = 10000
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


class _Claimed(NamedTuple):
    """A claimed trace, as the dispatcher needs it (no ORM records on the hot path).

    Its first six fields are an :class:`~..core.gateways.base.OutboundSms` (``sender`` and
    ``params`` empty): the message is a slice of the row, made without a Python call.
    """

    ref: str
    to: str
    body: str
    sender: None
    params: None
    segments: int | None
    id: int
    gateway_id: int | None
    attempts: int
    sms_uuid: str | None


# tuple.__new__ through map: no Python call per row (10,000 rows a claim)
_as_claimed = partial(tuple.__new__, _Claimed)
_as_message = partial(tuple.__new__, gw.OutboundSms)
_message_fields = operator.itemgetter(slice(0, 6))


class _InlineExecutor:
    """Runs submitted calls at once, in the calling thread (see ``_stage_executor``)."""

    def submit(self, fn, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future, like a thread pool does
            future.set_exception(exc)
        return future

    def shutdown(self, wait=True):
        pass


@contextmanager
def _read_committed(registry):
    """A cursor of its own, committed on exit, in READ COMMITTED isolation.

    Odoo's cursors are REPEATABLE READ, where claiming rows another dispatcher claimed after
    our snapshot fails with a serialization error; with READ COMMITTED, ``FOR UPDATE SKIP
    LOCKED`` and ``WHERE state = 'sending'`` see the latest committed rows, which is what
    a queue shared by several processes needs.
    """
    with registry.cursor() as cr:
        if isinstance(cr, Cursor):  # test cursors share the test transaction: leave it be
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        yield cr


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

    def _queue_cursor(self):
        return _read_committed(self.env.registry)

    def _stage_executor(self, name):
        """A one-thread executor for a pipeline stage; inline under tests, whose cursors
        all share one connection that two threads must not use at once."""
        if self.env.registry.in_test_mode():
            return _InlineExecutor()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sms_dispatch_{name}")

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
        # A three-stage pipeline: while a batch is sent (network time), the next one is
        # claimed and the previous one's outcomes are written (database time). One batch in
        # each stage at most, so memory stays bounded; every claimed batch is sent, even
        # past the deadline (claimed traces must never wait for a lease to expire).
        claimer, writer = self._stage_executor("claim"), self._stage_executor("write")
        next_claim = claimer.submit(self._claim, claim_size)
        pending = None
        try:
            while next_claim is not None:
                claimed = next_claim.result()
                if not claimed and pending and time.monotonic() < deadline:
                    # the last write may have queued traces again (failover): look once more
                    pending.result()
                    pending = None
                    next_claim = claimer.submit(self._claim, claim_size)
                    continue
                if not claimed:
                    break
                next_claim = (
                    claimer.submit(self._claim, claim_size) if time.monotonic() < deadline else None
                )
                rows = self._prepare_outcomes(self._send_claimed(claimed, clients))
                if pending:
                    pending.result()
                pending = writer.submit(self._store_outcomes, *rows)
                done += len(claimed)
        finally:
            if pending:
                pending.result()
            writer.shutdown()
            claimer.shutdown()
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
                with self._queue_cursor() as cr:
                    dispatcher = self.with_env(self.env(cr=cr))
                    gateway = Gateway.with_env(dispatcher.env).browse(gateway_id)
                    dispatcher._apply_status_reports(gateway, reports)
                    dispatcher._apply_inbound(gateway, inbound)

    @api.model
    def _count_due(self):
        # A fresh cursor: the cron's own transaction began before this run's claims.
        with self._queue_cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM sms_marketing_trace"
                " WHERE state = 'queued' AND scheduled_at <= clock_timestamp() at time zone 'utc'"
            )
            return cr.fetchone()[0]

    @api.model
    def _expire_leases(self):
        """Traces claimed longer than the lease ago were interrupted (process killed): they
        may or may not have left, so they become ``unknown``, never queued again.

        In its own short transaction, so concurrent dispatchers do not wait on each other.
        """
        with self._queue_cursor() as cr:
            cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_trace
                       SET state = 'unknown', error_code = 'lease_expired', claimed_at = NULL
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
        with self._queue_cursor() as cr:
            # the database clock decides what is due (rows may be queued by SQL, with
            # microseconds, or by another server); clock_timestamp(), not now(): the
            # transaction may be older than the traces (tests share one transaction)
            cr.execute("SELECT clock_timestamp() at time zone 'utc'")
            now = cr.fetchone()[0]
            # 1. lock the due traces (a row lock: no new row version); what comes back is
            # their ids as one array text (handed back as it is to the UPDATE below: 10,000
            # ids never become Python integers) and the routes to find, once each
            cr.execute(
                SQL(
                    """
                    WITH due AS MATERIALIZED (
                        SELECT id, gateway_id, company_id, message_class, country_code
                          FROM sms_marketing_trace
                         WHERE state = 'queued' AND scheduled_at <= %s
                      ORDER BY scheduled_at, id
                         LIMIT %s
                           FOR UPDATE SKIP LOCKED
                    )
                    SELECT array_agg(id)::text, NULL::int, NULL::varchar, NULL::varchar
                      FROM due
                     UNION ALL
                    SELECT DISTINCT NULL, company_id, message_class, country_code
                      FROM due
                     WHERE gateway_id IS NULL
                    """,
                    now,
                    limit,
                )
            )
            ids, keys = None, []
            for row in cr.fetchall():
                if row[0] is not None:
                    ids = row[0]
                else:
                    keys.append(row[1:])
            if not ids:
                return []
            # 2. route those without a gateway, per company, message class and country
            env = self.env(cr=cr)
            routes = {
                key: env["sms.marketing.gateway"]
                ._route(env["res.company"].browse(key[0]), key[1], key[2])
                .id
                or None
                for key in keys
            }
            # 3. one UPDATE, route included: the route is part of the claim (a trace
            # interrupted now still shows where it went, so its report can be matched), and
            # a second UPDATE of the rows this one wrote would run every foreign-key check
            # again. The ids as an array, not a join: joined, PostgreSQL hashes the whole
            # trace table for every claim (a sequential scan growing with the history).
            route_sql = SQL("t.gateway_id")
            if routes:
                route_sql = SQL(
                    """COALESCE(t.gateway_id, (
                        SELECT r.gateway_id
                          FROM unnest(%s::int[], %s::varchar[], %s::varchar[], %s::int[])
                               AS r(company_id, message_class, country_code, gateway_id)
                         WHERE r.company_id = t.company_id
                           AND r.message_class = t.message_class
                           AND r.country_code IS NOT DISTINCT FROM t.country_code))""",
                    [key[0] for key in routes],
                    [key[1] for key in routes],
                    [key[2] for key in routes],
                    list(routes.values()),
                )
            cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_trace t
                       SET state = 'sending', claimed_at = %(now)s,
                           attempts = COALESCE(t.attempts, 0) + 1,
                           gateway_id = %(route)s
                     WHERE t.id = ANY(%(ids)s::int[])
                 RETURNING t.id::text, t.number, t.body, NULL, NULL, t.segments,
                           t.id, t.gateway_id, t.attempts, t.sms_uuid
                    """,
                    now=now,
                    route=route_sql,
                    ids=ids,
                )
            )
            claimed = list(map(_as_claimed, cr.fetchall()))
        return claimed

    @api.model
    def _send_claimed(self, claimed, clients):
        """Send claimed traces gateway by gateway.

        :return: list of ``(gateway, items, results)``, results in the order of items
        """
        Gateway = self.env["sms.marketing.gateway"].with_context(active_test=False)
        outcomes = []
        by_gateway = defaultdict(list)
        for item in claimed:
            by_gateway[item.gateway_id].append(item)
        for gateway_id, items in by_gateway.items():
            gateway = Gateway.browse(gateway_id) if gateway_id else Gateway
            if not gateway:
                results = [self._no_gateway_result(item) for item in items]
            else:
                results = self._send_through(gateway, items, clients)
            outcomes.append((gateway, items, results))
        return outcomes

    @api.model
    def _no_gateway_result(self, item):
        return gw.SendResult(
            item.ref,
            False,
            error_kind=gw.RETRYABLE,
            error_code="no_gateway",
            error_message="no active gateway for this company, message class and country",
        )

    @api.model
    def _send_through(self, gateway, items, clients):
        """Send ``items`` through ``gateway``; returns their results, in order (``None``
        where the client gave none)."""
        try:
            client = clients.get(gateway.id) or clients.setdefault(
                gateway.id, gateway._get_client()
            )
        except Exception as exc:  # unusable settings: keep the messages, report the gateway
            _logger.warning("gateway %s unusable: %s", gateway.id, exc)
            gateway._record_health(False, str(exc))
            return [
                gw.SendResult(
                    item.ref,
                    False,
                    error_kind=gw.RETRYABLE,
                    error_code="auth_failed",
                    error_message=str(exc)[:250],
                )
                for item in items
            ]
        messages = list(map(_as_message, map(_message_fields, items)))
        if gateway.sender:
            messages = [message._replace(sender=gateway.sender) for message in messages]
        size = gateway._effective_batch_size()
        chunks = [messages[i : i + size] for i in range(0, len(messages), size)]
        limiter = RateLimiter(gateway.rate_limit)
        if gateway.concurrency > 1 and len(chunks) > 1:
            # several requests in flight: our preparation of the next request overlaps the
            # provider's (and the network's) handling of the previous ones
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
        return [by_ref.get(item.ref) for item in items]

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
        """Several connections, each thread with its own client (and HTTP session),
        sharing the gateway's rate limit; results come back in the order of ``chunks``.
        The threads' clients are closed before returning, like the dispatcher's own
        (:meth:`_close_clients`)."""
        local = threading.local()
        settings = gateway._get_client_settings()
        created = []

        def send(chunk):
            if not hasattr(local, "client"):
                local.client = gateways.create_client(
                    gateway.provider, settings, timeout=gateway.timeout
                )
                created.append(local.client)
            limiter.wait(len(chunk))
            return self._send_chunk(local.client, chunk)

        try:
            with ThreadPoolExecutor(max_workers=gateway.concurrency) as pool:
                return [result for results in pool.map(send, chunks) for result in results]
        finally:
            for thread_client in created:
                self._close_clients({gateway.id: thread_client})

    @api.model
    def _retry_delay(self, attempts, retry_after=None):
        delay = min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1))
        delay *= random.uniform(0.8, 1.2)  # jitter spreads retries; not security related
        return max(delay, retry_after or 0)

    @api.model
    def _write_outcomes(self, outcomes):
        """Write send outcomes (see :meth:`_prepare_outcomes` and :meth:`_store_outcomes`)."""
        self._store_outcomes(*self._prepare_outcomes(outcomes))

    @api.model
    def _prepare_outcomes(self, outcomes):
        """Turn ``(gateway, items, results)`` groups into the column arrays of one UPDATE.

        Runs where the gateway records live (the dispatcher's thread); the result is plain
        data, safe to hand to :meth:`_store_outcomes` in another thread.
        :return: ``(columns, sms_trace_ids)``
        """
        now = fields.Datetime.now()
        rows = []
        add = rows.append
        sms_traces = []
        for gateway, items, results in outcomes:
            gateway_id = gateway.id or None
            cost_per_segment = gateway.cost_per_segment or 0.0
            max_attempts = gateway.max_attempts if gateway else NO_GATEWAY_ATTEMPTS
            fallback_id = gateway.fallback_id.id or None
            for item, result in zip(items, results, strict=True):
                if item.sms_uuid:
                    sms_traces.append(item.id)
                if result is not None and result.accepted:  # the usual case, kept short
                    segments = (
                        result.segments or item.segments or encoding.analyze(item.body).segments
                    )
                    add(
                        (
                            item.id, "sent", gateway_id, item.attempts, None,
                            result.provider_id, segments,
                            result.cost if result.cost is not None else segments * cost_per_segment,
                            now, None, None,
                        )
                    )  # fmt: skip
                    continue
                if result is None:  # the client returned no result for this message
                    result = gw.SendResult(
                        item.ref,
                        False,
                        error_kind=gw.AMBIGUOUS,
                        error_code="ambiguous",
                        error_message="the gateway client returned no result",
                    )
                row_gateway, attempts, scheduled_at = gateway_id, item.attempts, None
                error_code = result.error_code
                error_message = (result.error_message or "")[:250] or None
                if result.error_kind == gw.RETRYABLE and attempts < max_attempts:
                    state = "queued"
                    scheduled_at = now + timedelta(
                        seconds=self._retry_delay(attempts, result.retry_after)
                    )
                elif result.error_kind == gw.RETRYABLE and fallback_id:
                    state, row_gateway, attempts, scheduled_at = "queued", fallback_id, 0, now
                elif result.error_kind == gw.AMBIGUOUS:
                    state = "unknown"
                else:
                    state = "failed"
                add(
                    (
                        item.id, state, row_gateway, attempts, scheduled_at, None, None, None,
                        None, error_code, error_message,
                    )
                )  # fmt: skip
        # rows to columns in one C-level transposition
        columns = (
            dict(zip(_OUTCOME_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
            if rows
            else {}
        )
        return columns, sms_traces

    @api.model
    def _store_outcomes(self, columns, sms_traces):
        """Write prepared outcomes in one statement, in its own transaction, onto traces
        still ``sending`` only (a trace a report or a lease expiry settled meanwhile keeps
        its state). Uses nothing but its own cursor: it may run in a writer thread."""
        if not columns.get("id"):
            return
        with self._queue_cursor() as cr:
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
                           claimed_at = NULL
                      FROM unnest(%(id)s::int[], %(state)s::varchar[], %(gateway_id)s::int[],
                                  %(attempts)s::int[], %(scheduled_at)s::timestamp[],
                                  %(provider_id)s::varchar[], %(segments)s::int[],
                                  %(cost)s::float8[], %(sent_at)s::timestamp[],
                                  %(error_code)s::varchar[], %(error_message)s::varchar[])
                           AS v(id, state, gateway_id, attempts, scheduled_at, provider_id,
                                segments, cost, sent_at, error_code, error_message)
                     WHERE t.id = v.id AND t.state = 'sending'
                    """,
                    **{name: _array_literal(values) for name, values in columns.items()},
                )
            )
            env = self.env(cr=cr)
            retry_at = [at for at in columns["scheduled_at"] if at]
            if retry_at:
                env.ref("sms_marketing.ir_cron_sms_marketing_dispatch")._trigger(min(retry_at))
            if sms_traces:
                env["sms.sms"]._sms_marketing_sync(sms_traces)

    # ------------------------------------------------------------------
    # Reports and inbound messages
    # ------------------------------------------------------------------

    @api.model
    def _apply_status_reports(self, gateway, reports, defer_unmatched=True, durable=True):
        """Apply delivery reports idempotently; a status never moves backwards.

        Reports are matched by the gateway's message id, else by our reference (trace id)
        when the provider echoes it. Unmatched reports (the send result may not be written
        yet) are kept as events and retried (``defer_unmatched``).

        :param gateway: the ``sms.marketing.gateway`` the reports came through
        :param list reports: ``core.gateways.StatusReport`` values
        :param bool durable: ``False`` lets the transaction commit without waiting for the
            disk (webhooks: reports are idempotent, providers send thousands per second)
        :return: number of traces updated
        """
        if not reports:
            return 0
        if len(reports) == 1:
            return self._apply_status_report(gateway, reports[0], defer_unmatched, durable)
        now = fields.Datetime.now()
        # SQL, one statement: webhooks must answer in milliseconds. Each report finds its
        # trace through an index (message id, else our reference), the best report per trace
        # wins, and only traces whose state ranks below it are updated: replays and late
        # "sent" reports change nothing. The result lists every matched report.
        self.env.cr.execute(
            SQL(
                """
                %(no_wait)s
                WITH r AS (
                    SELECT * FROM unnest(%(provider_id)s::varchar[], %(ref)s::int[],
                                         %(status)s::varchar[], %(ranks)s::int[],
                                         %(error)s::varchar[], %(at)s::timestamp[])
                           WITH ORDINALITY AS r(provider_id, ref, status, rank, error, at, idx)
                ), m AS (
                    SELECT r.*, t.id AS trace_id
                      FROM r
                      JOIN LATERAL (
                            SELECT id FROM sms_marketing_trace
                             WHERE gateway_id = %(gateway)s AND provider_id = r.provider_id
                             UNION ALL
                            SELECT id FROM sms_marketing_trace
                             WHERE id = r.ref AND gateway_id = %(gateway)s
                             LIMIT 1
                           ) t ON TRUE
                ), best AS (
                    SELECT DISTINCT ON (trace_id) * FROM m ORDER BY trace_id, rank DESC
                ), u AS (
                    UPDATE sms_marketing_trace t
                       SET state = b.status,
                           status_at = b.at,
                           provider_id = COALESCE(t.provider_id, b.provider_id),
                           error_code = CASE WHEN b.status = 'delivered' THEN NULL
                                             ELSE COALESCE(t.error_code, 'rejected') END,
                           error_message = CASE WHEN b.status = 'delivered' THEN NULL
                                                ELSE b.error END
                      FROM best b
                     WHERE t.id = b.trace_id AND %(current_rank)s < b.rank
                 RETURNING t.id, t.sms_uuid
                )
                SELECT m.idx, u.id, u.sms_uuid FROM m LEFT JOIN u ON u.id = m.trace_id
                """,
                no_wait=SQL("SET LOCAL synchronous_commit TO OFF;") if not durable else SQL(),
                provider_id=[report.provider_id or None for report in reports],
                ref=[_ref_id(report.ref) for report in reports],
                status=[report.status for report in reports],
                ranks=[gw.STATUS_RANK.get(report.status, 0) for report in reports],
                error=[
                    (report.error_code or report.error_message or "")[:250] or None
                    for report in reports
                ],
                at=[
                    report.occurred_at.replace(tzinfo=None) if report.occurred_at else now
                    for report in reports
                ],
                gateway=gateway.id,
                current_rank=state_rank_sql(SQL.identifier("t", "state")),
            )
        )
        matched, updated = set(), {}
        for idx, trace_id, sms_uuid in self.env.cr.fetchall():
            matched.add(idx - 1)
            if trace_id:
                updated[trace_id] = sms_uuid
        unmatched = [report for idx, report in enumerate(reports) if idx not in matched]
        if unmatched and defer_unmatched:
            self._defer(gateway, unmatched)
        sms_traces = [trace_id for trace_id, sms_uuid in updated.items() if sms_uuid]
        if sms_traces:
            self.env["sms.sms"]._sms_marketing_sync(sms_traces)
        return len(updated)

    @api.model
    def _apply_status_report(self, gateway, report, defer_unmatched=True, durable=True):
        """:meth:`_apply_status_reports` for one report (most webhooks carry one): a plain
        indexed UPDATE, the statement cheapest to plan; the existence check that tells a
        replay from an unknown message runs only when nothing was updated."""
        ref = _ref_id(report.ref)
        values = {
            "gateway": gateway.id,
            "provider_id": report.provider_id or None,
            "ref": ref,
            "status": report.status,
            "rank": gw.STATUS_RANK.get(report.status, 0),
            "error": (report.error_code or report.error_message or "")[:250] or None,
            "at": report.occurred_at.replace(tzinfo=None)
            if report.occurred_at
            else fields.Datetime.now(),
        }
        target = SQL(
            """(SELECT id FROM sms_marketing_trace
                 WHERE gateway_id = %(gateway)s AND provider_id = %(provider_id)s
                 UNION ALL
                SELECT id FROM sms_marketing_trace WHERE id = %(ref)s AND gateway_id = %(gateway)s
                 LIMIT 1)""",
            **values,
        )
        self.env.cr.execute(
            SQL(
                """
                %(no_wait)s
                UPDATE sms_marketing_trace t
                   SET state = %(status)s,
                       status_at = %(at)s,
                       provider_id = COALESCE(t.provider_id, %(provider_id)s),
                       error_code = CASE WHEN %(status)s = 'delivered' THEN NULL
                                         ELSE COALESCE(t.error_code, 'rejected') END,
                       error_message = CASE WHEN %(status)s = 'delivered' THEN NULL
                                            ELSE %(error)s END
                 WHERE t.id = %(target)s AND %(current_rank)s < %(rank)s
             RETURNING t.id, t.sms_uuid
                """,
                no_wait=SQL("SET LOCAL synchronous_commit TO OFF;") if not durable else SQL(),
                target=target,
                current_rank=state_rank_sql(SQL.identifier("t", "state")),
                **values,
            )
        )
        row = self.env.cr.fetchone()
        if row:
            if row[1]:
                self.env["sms.sms"]._sms_marketing_sync([row[0]])
            return 1
        if defer_unmatched:
            self.env.cr.execute(SQL("SELECT %s", target))
            if not self.env.cr.fetchone()[0]:
                self._defer(gateway, [report])
        return 0

    @api.model
    def _defer(self, gateway, reports):
        """Keep reports that matched no trace, to try again in a minute."""
        due = fields.Datetime.now() + timedelta(minutes=1)
        self.env["sms.marketing.gateway.event"].sudo().create(
            [
                {
                    "gateway_id": gateway.id,
                    "kind": "status",
                    "due_at": due,
                    "payload": _to_payload(report),
                }
                for report in reports
            ]
        )
        self.env.ref("sms_marketing.ir_cron_sms_marketing_events")._trigger(due)

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
            with self._queue_cursor() as cr:
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


#: Columns of a send outcome, in the order of the rows of ``_prepare_outcomes``.
_OUTCOME_COLUMNS = (
    "id", "state", "gateway_id", "attempts", "scheduled_at", "provider_id", "segments", "cost",
    "sent_at", "error_code", "error_message",
)  # fmt: skip


def _int_array(ids):
    """A PostgreSQL array literal of integers (``%s::int[]``): parsed far faster than the
    ``ARRAY[...]`` psycopg2 makes of a list of ten thousand ids."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def _array_literal(values):
    """The text of a PostgreSQL array of ``values`` (numbers, timestamps or strings; ``None``
    as NULL), quoted and escaped.

    psycopg2 adapts a list element by element through Python objects: 0.9 s of CPU for the
    columns of 100,000 outcomes, in the dispatcher's process; this is one join. A provider's
    numeric message id goes in as its text, like the numbers.
    """
    if None not in values:
        joined = "\x00".join(map(str, values))  # a separator PostgreSQL text never holds
        if (
            '"' not in joined and "\\" not in joined and joined.count("\x00") == len(values) - 1
        ):  # the usual case, joined in C
            return '{"' + joined.replace("\x00", '","') + '"}'
    elif values.count(None) == len(values):
        return "{" + ",".join(["NULL"] * len(values)) + "}"
    return (
        "{"
        + ",".join(
            "NULL"
            if value is None
            else '"'
            + str(value).replace("\x00", "").replace("\\", "\\\\").replace('"', '\\"')
            + '"'
            for value in values
        )
        + "}"
    )


def _ref_id(ref):
    """Our reference as a trace id, or None when absent or not ours."""
    return int(ref) if ref and str(ref).isdigit() and len(str(ref)) < 10 else None


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
