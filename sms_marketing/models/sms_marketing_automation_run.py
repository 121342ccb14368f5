"""The automation engine: enrollment by triggers, the due-work queue, steps in bulk.

Enrollments waiting for their next step are a queue of their own: ``due_at`` with a
partial index on active rows. One cron call claims a bounded batch of due enrollments
(``FOR UPDATE SKIP LOCKED``: several workers share the queue), and for each step of the
batch runs one set-based action (send steps queue their traces through the campaigns'
preparation, into the one send queue) and one statement that moves the enrollments on and
appends the step to their history; steps due at once (a branch, a tag, a send) follow in
the same call. A batch is one transaction: a killed worker leaves it untouched, and an
enrollment's history says which steps it passed, so no step is ever done twice for it.
The cost of a run follows what is due, never the history.
"""

import json
import logging
import time
from datetime import datetime, timedelta

from psycopg2 import errors

from odoo import api, fields, models
from odoo.tools import SQL

from .sms_marketing_dispatcher import _int_array, _read_committed

_logger = logging.getLogger(__name__)

BATCH_SIZE = 10000
#: Flows with a time-based trigger (date, segment, dormant) are scanned this often.
SCAN_MINUTES = 60
#: Waits and branch windows of test enrollments.
TEST_WAIT = "1 minute"
#: An enrollment whose step failed is retried this much later.
RETRY_DELAY = "1 hour"
#: Steps due at once run in the call that reached them, up to this many in a row.
MAX_HOPS = 50
#: The steps' count deltas are folded together at most this often per process.
FOLD_SECONDS = 3600
_counts_folded = {}  # database name -> time.monotonic() of the last fold
UNITS = {"minutes": "minute", "hours": "hour", "days": "day"}


class _Enrollment:
    """One claimed enrollment while its cron call runs (see ``_Moves``)."""

    __slots__ = ("end", "entries", "history", "partner", "passed_ids", "step", "step_at", "test")

    def __init__(self, partner, test, history, step, step_at):
        self.partner = partner
        self.test = test
        self.history = history
        self.passed_ids = None  # the steps of ``history``, made when first asked
        self.step = step
        self.step_at = step_at
        self.entries = []
        self.end = None

    def passed(self, step_id):
        if self.passed_ids is None:
            self.passed_ids = {item[0] for item in self.history or ()}
        return step_id in self.passed_ids


class _Moves:
    """The moves of one cron call, kept in memory and written at its end (``_write_moves``):
    for each enrollment claimed, the history entries it gained and where it ends, plus the
    steps' counts. Steps due at once that an enrollment reaches are handed back to the
    cron (``take_chained``) to run in the same call."""

    def __init__(self, now):
        self.now = now
        self.info = {}
        self._chained = {}
        self._counts = {}

    def claim(self, row):
        """Keep a claimed row (``_claim``'s tuple)."""
        enrollment_id, step, partner, _flow, test, history, step_at, _gone = row
        self.info[enrollment_id] = _Enrollment(partner, test, history, step, step_at)

    def partner(self, enrollment_id):
        return self.info[enrollment_id].partner

    def is_test(self, enrollment_id):
        return self.info[enrollment_id].test

    def passed(self, enrollment_id, step_id):
        return self.info[enrollment_id].passed(step_id)

    def arrived_at(self, enrollment_id, step_id):
        """When the enrollment reached ``step_id``: now if this call brought it there."""
        info = self.info[enrollment_id]
        if info.entries or info.step != step_id:
            return self.now
        return info.step_at or self.now

    def apply(self, moves):
        """Record ``moves`` (``[(ids, step, outcome, (state, step id))]``): each enrollment
        gains ``[step, outcome]`` (unless ``outcome`` is None) and ends at the destination;
        those reaching a step due at once are chained."""
        for ids, step, outcome, (state, target) in moves:
            chain = state == "active" and target and step.browse(target).step_type != "wait"
            end = (state, target)
            entry = (step.id, outcome) if outcome and step else None
            counted = 0
            for enrollment_id in ids:
                info = self.info[enrollment_id]
                if entry:
                    info.entries.append(entry)
                    info.passed(entry[0])  # the set of steps passed exists from here
                    info.passed_ids.add(entry[0])
                    counted += not info.test
                info.end = end
                if chain:
                    info.step = target
            if counted:
                self._counts[entry] = self._counts.get(entry, 0) + counted
            if chain:
                self._chained.setdefault(target, []).extend(ids)

    def drop(self, enrollment_id):
        """An enrollment whose step failed: it stays where it was."""
        self.info[enrollment_id].end = None

    def take_chained(self):
        chained, self._chained = self._chained, {}
        return list(chained.items())

    def groups(self):
        """``{(state, step id, entries, arrived): [ids]}`` of the enrollments that moved."""
        groups = {}
        for enrollment_id, info in self.info.items():
            if info.end is None:
                continue
            state, target = info.end
            arrived = bool(info.entries) or state != "waiting"
            key = (state, target, tuple(info.entries), arrived)
            groups.setdefault(key, []).append(enrollment_id)
        return groups

    def counts(self):
        return self._counts


class SmsMarketingAutomation(models.Model):
    _inherit = "sms.marketing.automation"

    # ------------------------------------------------------------------------------------
    # Structure: the next step of each step, for each outcome
    # ------------------------------------------------------------------------------------

    def _graph(self):
        """``{step_id: {"next": id, "yes": id, "no": id}}`` (None: the flow ends) and the
        first step. Steps follow their sequence inside their path (the main one, or a
        side of a branch); the end of a side continues after its branch."""
        self.ensure_one()
        steps = self.step_ids.filtered("active").sorted(lambda s: (s.sequence, s.id))
        paths = {}
        for step in steps:
            paths.setdefault((step.parent_id.id, step.branch or False), []).append(step)
        after = {}

        def next_of(step):
            if step.id in after:
                return after[step.id]
            path = paths.get((step.parent_id.id, step.branch or False), [])
            index = path.index(step)
            if index + 1 < len(path):
                found = path[index + 1].id
            elif step.parent_id and step.parent_id in steps:
                found = next_of(step.parent_id)
            else:
                found = None
            after[step.id] = found
            return found

        graph = {}
        for step in steps:
            following = next_of(step)
            graph[step.id] = {"next": following}
            if step.step_type == "branch":
                for side in ("yes", "no"):
                    path = paths.get((step.id, side))
                    graph[step.id][side] = path[0].id if path else following
        main = paths.get((False, False))
        return graph, (main[0].id if main else None)

    def _move_enrollments(self, step):
        """Enrollments waiting at ``step`` (being removed) go to its next step, due now (the
        cron runs it, and skips it if they passed it before)."""
        self.ensure_one()
        graph, _first = self._graph()
        following = graph.get(step.id, {}).get("next")
        self.env.flush_all()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                UPDATE sms_marketing_automation_enrollment e
                   SET step_id = %(next)s, step_at = %(now)s,
                       due_at = CASE WHEN %(next)s IS NULL THEN NULL ELSE %(now)s END,
                       state = CASE WHEN %(next)s IS NULL THEN 'done' ELSE state END,
                       done_at = CASE WHEN %(next)s IS NULL THEN %(now)s END
                 WHERE e.step_id = %(step)s AND e.state = 'active'
                %(returning)s
                """,
                next=following,
                now=now,
                step=step.id,
                returning=self.env["sms.marketing.automation.count"]._returning(),
            )
        )
        self.env["sms.marketing.automation.count"]._add(
            row for row in self.env.cr.fetchall() if row[2] == "done"
        )
        if self.env.cr.rowcount:
            self.env["sms.marketing.automation.enrollment"].invalidate_model()
            self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")._trigger()

    # ------------------------------------------------------------------------------------
    # SQL pieces
    # ------------------------------------------------------------------------------------

    def _tz_sql(self, partner="p"):
        """The recipient's time zone (contact, number), else the company's."""
        return SQL(
            "COALESCE(%s.sms_tz, %s, 'UTC')",
            SQL.identifier(partner),
            self.company_id.partner_id.tz or "UTC",
        )

    def _due_sql(self, step, now, test):
        """When an enrollment arriving now at ``step`` is due (alias ``p``: its partner,
        ``e``: the enrollment)."""
        if not step:
            return SQL("NULL::timestamp")
        if test and step.step_type == "wait":
            return SQL("%s::timestamp + interval %s", now, TEST_WAIT)
        if step.step_type != "wait":
            # a branch looks at its condition on arrival, then waits for it (see _run_branch)
            return SQL("%s::timestamp", now)
        if step.wait_mode == "duration":
            return SQL(
                "%s::timestamp + %s * interval %s",
                now,
                max(step.wait_amount, 0),
                f"1 {UNITS[step.wait_unit or 'days']}",
            )
        local_now = SQL("(%s::timestamp AT TIME ZONE 'UTC' AT TIME ZONE %s)", now, self._tz_sql())
        if step.wait_mode == "time_of_day":
            hour = SQL("make_interval(secs => %s)", round(step.wait_hour * 3600))
            today = SQL("date_trunc('day', %s) + %s", local_now, hour)
            return SQL(
                """((CASE WHEN %(today)s > %(local)s THEN %(today)s
                         ELSE %(today)s + interval '1 day' END)
                    AT TIME ZONE %(tz)s AT TIME ZONE 'UTC')""",
                today=today,
                local=local_now,
                tz=self._tz_sql(),
            )
        # until N days before/after a date field: its next anniversary (or the date itself
        # when it is ahead), at the start of the sending hours in the recipient's zone
        column = SQL("p.%s::date", SQL.identifier(step.wait_date_field_id.name))
        local_today = SQL("(%s)::date", local_now)
        anniversary = self._next_anniversary_sql(column, local_today, step.wait_offset_days)
        start = SQL(
            "make_interval(secs => %s)", round((self.company_id.sms_send_hour_start or 9) * 3600)
        )
        return SQL(
            """COALESCE(GREATEST(%(now)s::timestamp,
                   ((%(day)s + %(offset)s)::timestamp + %(start)s)
                   AT TIME ZONE %(tz)s AT TIME ZONE 'UTC'), %(now)s::timestamp)""",
            now=now,
            day=anniversary,
            offset=step.wait_offset_days,
            start=start,
            tz=self._tz_sql(),
        )

    @api.model
    def _month_day_sql(self, column, year):
        """``column``'s month and day in ``year`` (Feb 29 on Feb 28 in other years)."""
        return SQL(
            """make_date(%(year)s, extract(month FROM %(col)s)::int,
                         LEAST(extract(day FROM %(col)s)::int,
                               CASE WHEN extract(month FROM %(col)s) = 2
                                     AND NOT (mod(%(year)s, 4) = 0
                                              AND (mod(%(year)s, 100) <> 0
                                                   OR mod(%(year)s, 400) = 0))
                                    THEN 28 ELSE 31 END))""",
            col=column,
            year=year,
        )

    def _next_anniversary_sql(self, column, local_today, offset_days):
        """The next date (from today, counting the offset) that is ``column``'s day: the
        date itself when it is still ahead, else its anniversary this year or next."""
        this_year = SQL("extract(year FROM %s)::int", local_today)
        this = self._month_day_sql(column, this_year)
        following = self._month_day_sql(column, SQL("(%s + 1)", this_year))
        # days before the date: the date itself must be ahead (the moment before it may
        # have passed: then at once); days after: the moment after it
        ahead = max(offset_days, 0)
        return SQL(
            """CASE WHEN %(col)s + %(off)s >= %(today)s THEN %(col)s
                    WHEN %(this)s + %(off)s >= %(today)s THEN %(this)s
                    ELSE %(following)s END""",
            col=column,
            off=ahead,
            today=local_today,
            this=this,
            following=following,
        )

    # ------------------------------------------------------------------------------------
    # Enrollment
    # ------------------------------------------------------------------------------------

    def _enroll(self, source, test=False, ctes=None):
        """Enroll the partners of ``source`` (SQL of rows ``partner_id, entry_key,
        event_id``) into the flow, once per (flow, partner, entry key), in one statement
        (``ctes``: ``WITH`` items the source reads). Return the ids created."""
        self.ensure_one()
        _graph, first_id = self._graph()
        if not first_id:
            return []
        first = self.env["sms.marketing.automation.step"].browse(first_id)
        now = fields.Datetime.now()
        if test:
            key = SQL("'test-' || src.entry_key || '-' || %s", str(now))
        elif self.trigger == "date" or self.reentry == "always":
            key = SQL("src.entry_key")
        elif self.reentry == "once":
            key = SQL("'once'")
        else:
            # period: the contact's n-th entry, and none within the period (below): two
            # workers enrolling the same contact at once compute the same key, one wins
            key = SQL(
                """'p' || (1 + (SELECT count(*) FROM sms_marketing_automation_enrollment x
                                  WHERE x.automation_id = %s AND x.partner_id = src.partner_id
                                    AND NOT x.is_test))""",
                self.id,
            )
        conditions = [
            SQL("p.active"),
            SQL("(p.company_id IS NULL OR p.company_id = %s)", self.company_id.id),
        ]
        if self.message_class == "marketing":
            conditions.append(SQL("p.sms_consent_state IS DISTINCT FROM 'opted_out'"))
        if self.reentry == "period" and not test and self.trigger != "date":
            conditions.append(
                SQL(
                    """NOT EXISTS (SELECT 1 FROM sms_marketing_automation_enrollment x
                                    WHERE x.automation_id = %s AND x.partner_id = p.id
                                      AND NOT x.is_test
                                      AND x.entered_at > %s::timestamp - %s * interval '1 day')""",
                    self.id,
                    now,
                    self.reentry_days,
                )
            )
        if self.reentry == "once" and not test and self.trigger != "date":
            # cheaper than the conflict for flows that scan a whole segment every hour
            conditions.append(
                SQL(
                    """NOT EXISTS (SELECT 1 FROM sms_marketing_automation_enrollment x
                                    WHERE x.automation_id = %s AND x.partner_id = p.id
                                      AND x.entry_key = 'once')""",
                    self.id,
                )
            )
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                %(ctes)s
                INSERT INTO sms_marketing_automation_enrollment
                       (automation_id, company_id, partner_id, entry_key, entered_at, step_id,
                        step_at, due_at, state, is_test, trigger_event_id,
                        create_uid, write_uid, create_date, write_date)
                SELECT DISTINCT ON (p.id, k.entry_key)
                       %(flow)s, %(company)s, p.id, k.entry_key, %(now)s, %(first)s, %(now)s,
                       %(due)s, 'active', %(test)s, src.event_id, %(uid)s, %(uid)s, %(now)s,
                       %(now)s
                  FROM (%(source)s) AS src(partner_id, entry_key, event_id)
                 CROSS JOIN LATERAL (SELECT %(key)s::varchar AS entry_key) k
                  JOIN res_partner p ON p.id = src.partner_id
                 WHERE %(conditions)s
                 ORDER BY p.id, k.entry_key, src.event_id
                    ON CONFLICT (automation_id, partner_id, entry_key) DO NOTHING
             RETURNING id
                """,
                ctes=SQL("WITH %s", ctes) if ctes else SQL(),
                key=key,
                flow=self.id,
                company=self.company_id.id,
                now=now,
                first=first_id,
                due=self._due_sql(first, now, test),
                test=bool(test),
                source=source,
                uid=self.env.uid,
                conditions=SQL(" AND ").join(conditions),
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        if ids and not test:
            self.env["sms.marketing.automation.count"]._add(
                (self.id, False, "enrolled", None, 0.0) for _id in ids
            )
        if ids:
            self.env["sms.marketing.automation.enrollment"].invalidate_model()
            self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")._trigger()
        return ids

    def _enroll_partners(self, partner_ids, key, test=False):
        """Enroll ``partner_ids`` (manual, API, tests) with one entry key for all."""
        self.ensure_one()
        return self._enroll(
            SQL(
                "SELECT id, %s::varchar, NULL::int FROM unnest(%s::int[]) AS ids(id)",
                key,
                list(partner_ids),
            ),
            test=test,
        )

    def _running(self, trigger, companies=None):
        domain = [("state", "=", "running"), ("trigger", "=", trigger)]
        if companies is not None:
            domain.append(("company_id", "in", companies.ids))
        return self.sudo().search(domain)

    @api.model
    def _on_events(self, event_ids, types, order_partner_ids):
        """New customer events ``event_ids`` (of ``types``; ``order_partner_ids``, the
        contacts who ordered): goals first (an order ends the enrollments it is the goal
        of), then the branches waiting for an order, then the flows they trigger. The
        flows' listeners, cached in each worker (:meth:`_event_listeners`), tell which of
        the three concerns these events: with none, as for most batches, the flows cost
        no statement at all."""
        if not event_ids:
            return
        goals, ordered, triggers = self._event_listeners()
        if goals & types:
            self._reach_goals(event_ids)
        if ordered and order_partner_ids:
            self._wake(sorted(order_partner_ids), ["ordered"])
        if not triggers & types:
            return
        for flow in self._running("event"):
            conditions = [
                SQL("ev.id = ANY(%s)", list(event_ids)),
                SQL("ev.company_id = %s", flow.company_id.id),
                SQL("ev.type = %s", flow.trigger_event_type),
                SQL("ev.partner_id IS NOT NULL"),
            ]
            if flow.trigger_event_type == "custom" and flow.trigger_event_name:
                conditions.append(SQL("ev.name = %s", flow.trigger_event_name))
            if flow.trigger_min_amount:
                conditions.append(SQL("ev.amount_company >= %s", flow.trigger_min_amount))
            if flow.trigger_product:
                conditions.append(
                    SQL(
                        """(ev.product_ref = %(p)s OR EXISTS (
                               SELECT 1 FROM jsonb_array_elements(
                                   CASE WHEN jsonb_typeof(ev.payload->'lines') = 'array'
                                        THEN ev.payload->'lines' ELSE '[]'::jsonb END) line
                                WHERE line->>'product' = %(p)s))""",
                        p=flow.trigger_product,
                    )
                )
            flow._enroll(
                SQL(
                    "SELECT ev.partner_id, 'e' || ev.id, ev.id FROM sms_marketing_event ev"
                    " WHERE %s",
                    SQL(" AND ").join(conditions),
                )
            )

    @api.model
    def _reach_goals(self, event_ids):
        """Active enrollments whose flow's goal is one of these events (after entering,
        not the event that enrolled them) reach it: their conversion, with its revenue."""
        flows = self.sudo().search(
            [("goal_event_type", "!=", False), ("state", "in", ("running", "paused"))]
        )
        if not flows:
            return
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH hits AS (
                    SELECT DISTINCT ON (e.id) e.id, ev.id AS event_id, ev.occurred_at,
                           COALESCE(ev.revenue, 0) AS revenue
                      FROM sms_marketing_event ev
                      JOIN sms_marketing_automation a
                        ON a.id = ANY(%(flows)s::int[]) AND a.goal_event_type = ev.type
                       AND a.company_id = ev.company_id
                      JOIN sms_marketing_automation_enrollment e
                        ON e.partner_id = ev.partner_id AND e.automation_id = a.id
                       AND e.state = 'active'
                     WHERE ev.id = ANY(%(ids)s) AND ev.occurred_at >= e.entered_at
                       AND ev.id IS DISTINCT FROM e.trigger_event_id
                  ORDER BY e.id, ev.occurred_at, ev.id
                ), locked AS (
                    -- one lock order for every writer (concurrent requests never deadlock)
                    SELECT e.id FROM sms_marketing_automation_enrollment e
                     WHERE e.id IN (SELECT id FROM hits) ORDER BY e.id FOR NO KEY UPDATE
                )
                UPDATE sms_marketing_automation_enrollment e
                   SET state = 'goal', goal_event_id = h.event_id, goal_revenue = h.revenue,
                       done_at = %(now)s, due_at = NULL
                  FROM hits h
                 WHERE h.id = e.id AND e.id IN (SELECT id FROM locked) AND e.state = 'active'
                %(returning)s
                """,
                ids=list(event_ids),
                flows=_int_array(flows.ids),
                now=fields.Datetime.now(),
                returning=self.env["sms.marketing.automation.count"]._returning(),
            )
        )
        self.env["sms.marketing.automation.count"]._add(self.env.cr.fetchall())
        if self.env.cr.rowcount:
            self.env["sms.marketing.automation.enrollment"].invalidate_model()

    @api.model
    def _on_contacts(self, partners, trigger):
        """Contacts created (``contact_created``) or whose consent was just given
        (``consent``) enter the flows of that trigger."""
        if not partners:
            return
        for flow in self._running(trigger):
            condition = SQL("TRUE")
            if trigger == "consent":
                condition = SQL("p.sms_consent_state = 'opted_in'")
            flow._enroll(
                SQL(
                    "SELECT p.id, %s::varchar || to_char(%s::timestamp, 'YYYYMMDDHH24MISS'),"
                    " NULL::int FROM res_partner p WHERE p.id = ANY(%s) AND %s",
                    trigger[0],
                    fields.Datetime.now(),
                    partners.ids,
                    condition,
                )
            )

    @api.model
    def _on_unreachable(self, partners, reason):
        """``partners`` left: opted out or blacklisted (``reason`` ``opted_out`` or
        ``blacklisted``: their marketing flows end at once) or archived
        (``contact_removed``: every flow ends)."""
        if not partners:
            return
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE sms_marketing_automation_enrollment e
                   SET state = 'exited', exit_reason = %(reason)s, done_at = %(now)s,
                       due_at = NULL
                  FROM sms_marketing_automation a
                 WHERE a.id = e.automation_id AND e.state = 'active'
                   AND e.partner_id = ANY(%(ids)s) AND (%(all)s OR a.message_class = 'marketing')
                %(returning)s
                """,
                reason=reason,
                now=fields.Datetime.now(),
                ids=partners.ids,
                all=reason == "contact_removed",
                returning=self.env["sms.marketing.automation.count"]._returning(),
            )
        )
        self.env["sms.marketing.automation.count"]._add(self.env.cr.fetchall())
        if self.env.cr.rowcount:
            self.env["sms.marketing.automation.enrollment"].invalidate_model()

    @api.model
    def _on_inbound(self, inbounds):
        """Replies matching a flow's keyword (case and spaces aside) enroll their contact."""
        inbounds = inbounds.filtered("partner_id")
        if not inbounds:
            return
        self._wake(inbounds.partner_id.ids, ["replied"])
        for flow in self._running("keyword", inbounds.company_id):
            keyword = "".join((flow.trigger_keyword or "").split()).upper()
            matching = inbounds.filtered(
                lambda i, keyword=keyword, flow=flow: i.company_id == flow.company_id
                and "".join((i.body or "").split()).upper() == keyword
            )
            if matching:
                flow._enroll(
                    SQL(
                        "SELECT i.partner_id, 'k' || i.id, NULL::int FROM sms_marketing_inbound i"
                        " WHERE i.id = ANY(%s)",
                        matching.ids,
                    )
                )

    def _scan(self):
        """Time-based triggers of the flow, over all its contacts in one statement."""
        self.ensure_one()
        self.env.flush_all()
        now = fields.Datetime.now()
        company = self.company_id.id
        if self.trigger == "date":
            column = SQL("p.%s::date", SQL.identifier(self.trigger_date_field_id.name))
            local_today = SQL(
                "(%s::timestamp AT TIME ZONE 'UTC' AT TIME ZONE %s)::date", now, self._tz_sql()
            )
            year = SQL("extract(year FROM %s)::int", local_today)
            source = SQL(
                """SELECT p.id, 'y' || %(year)s, NULL::int FROM res_partner p
                    WHERE %(col)s IS NOT NULL AND p.active
                      AND (p.company_id IS NULL OR p.company_id = %(company)s)
                      AND extract(month FROM %(col)s) = extract(month FROM %(today)s)
                      AND %(day)s = %(today)s""",
                year=year,
                col=column,
                company=company,
                today=local_today,
                day=self._month_day_sql(column, year),
            )
        elif self.trigger == "segment":
            # each entry into the segment is the contact's next entry into the flow
            ctes = self._segment_entries_sql()
            source = SQL(
                """SELECT n.partner_id,
                          's' || (1 + (SELECT count(*) FROM sms_marketing_automation_enrollment x
                                        WHERE x.automation_id = %s
                                          AND x.partner_id = n.partner_id)),
                          NULL::int
                     FROM entered n""",
                self.id,
            )
        elif self.trigger == "dormant":
            # Contacts whose last order and last click crossed the N-day line since the last
            # scan (all of them on the first): an index range, whatever the history size.
            days = max(self.trigger_days, 1)
            since = fields.Datetime.subtract(now, days=days)
            after = self.last_scan_at and fields.Datetime.subtract(self.last_scan_at, days=days)
            source = SQL(
                """SELECT a.partner_id, 'd' || to_char(a.last_order_at, 'YYYYMMDDHH24MISS'),
                          NULL::int
                     FROM sms_marketing_partner_activity a
                     JOIN res_partner p ON p.id = a.partner_id
                    WHERE a.last_order_at IS NOT NULL
                      AND GREATEST(a.last_order_at, a.last_click_at) < %(since)s
                      AND GREATEST(a.last_order_at, a.last_click_at) >= %(after)s
                      AND p.active AND (p.company_id IS NULL OR p.company_id = %(company)s)""",
                since=since,
                after=after or datetime.min,
                company=company,
            )
        else:
            return []
        ids = self._enroll(source, ctes=ctes if self.trigger == "segment" else None)
        self.last_scan_at = now
        return ids

    def _segment_entries_sql(self):
        """``WITH`` items bringing the flow's copy of its segment up to date, ``entered``
        being the contacts who came in since the last scan (every member on the first):
        those who left are forgotten, in the same statement."""
        Partner = self.env["res.partner"].with_company(self.company_id)
        current = Partner._search(self.trigger_segment_id._get_partner_domain()).select(
            SQL.identifier("res_partner", "id")
        )
        return SQL(
            """current AS MATERIALIZED (%(current)s),
               gone AS (
                   DELETE FROM sms_marketing_automation_member m
                    WHERE m.automation_id = %(flow)s
                      AND NOT EXISTS (SELECT 1 FROM current c WHERE c.id = m.partner_id)),
               entered AS (
                   INSERT INTO sms_marketing_automation_member
                          (automation_id, partner_id, entered_at)
                   SELECT %(flow)s, c.id, %(now)s FROM current c
                       ON CONFLICT (automation_id, partner_id) DO NOTHING
                RETURNING partner_id)""",
            current=current,
            flow=self.id,
            now=fields.Datetime.now(),
        )

    # ------------------------------------------------------------------------------------
    # The cron
    # ------------------------------------------------------------------------------------

    @api.model
    def _cron_run(self, batch_size=BATCH_SIZE):
        """Scan one flow with a time-based trigger when due, then advance one batch of due
        enrollments. Reports progress so Odoo's cron runner calls again while work is due;
        wakes itself for the next due enrollment.

        The batch runs in a cursor of its own in READ COMMITTED isolation, committed when
        the batch is done (one batch, one transaction: a killed worker leaves it untouched).
        Odoo's cursors are REPEATABLE READ, where claiming enrollments another worker moved
        after our snapshot fails with a serialization error; with READ COMMITTED, ``FOR
        UPDATE SKIP LOCKED`` sees the latest committed queue, as several workers need.

        :return: the number of enrollments handled (scanned in or advanced)
        """
        self.env.flush_all()
        with _read_committed(self.env.registry) as cr:
            done, remaining = self.with_env(self.env(cr=cr)).sudo()._run_batch(batch_size)
        self.env.invalidate_all()
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining if done else 0)
        return done

    @api.model
    def _run_batch(self, batch_size):
        """The work of one cron call; return ``(done, remaining)``."""
        now = fields.Datetime.now()
        last_fold = _counts_folded.get(self.env.cr.dbname, 0)
        if time.monotonic() - last_fold > FOLD_SECONDS:
            _counts_folded[self.env.cr.dbname] = time.monotonic()
            self._fold_step_counts()
        to_scan = self.search(self._scan_domain(now), limit=1)
        done = len(to_scan._scan()) if to_scan else 0
        running = self.search([("state", "=", "running")])
        done += running._advance_due(batch_size)
        now = fields.Datetime.now()
        cr = self.env.cr
        remaining = 0
        if running:
            # what is due now, and when the next one is due: an index probe per flow
            cr.execute(
                SQL(
                    """
                    SELECT bool_or(n.due_at <= %(now)s),
                           min(n.due_at) FILTER (WHERE n.due_at > %(now)s)
                      FROM unnest(%(flows)s::int[]) AS f(id)
                      CROSS JOIN LATERAL (
                          SELECT e.due_at FROM sms_marketing_automation_enrollment e
                           WHERE e.automation_id = f.id AND e.state = 'active'
                             AND e.due_at IS NOT NULL
                        ORDER BY e.due_at LIMIT 1) n
                    """,
                    now=now,
                    flows=running.ids,
                )
            )
            due_now, next_due = cr.fetchone()
            remaining = 1 if due_now else 0
            if next_due:
                self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")._trigger(at=next_due)
        if to_scan and self.search_count(self._scan_domain(now), limit=1):
            remaining += 1
        self.env.flush_all()
        return done, remaining

    @api.model
    def _fold_step_counts(self):
        """Fold the count deltas of steps and flows (one row per step or flow, figure and
        batch) into one row each. Rows another worker adds meanwhile stay for the next
        fold."""
        self.env.cr.execute(
            """
            WITH gone AS (
                DELETE FROM sms_marketing_automation_step_count
             RETURNING step_id, outcome, count
            )
            INSERT INTO sms_marketing_automation_step_count (step_id, outcome, count)
            SELECT step_id, outcome, sum(count) FROM gone GROUP BY step_id, outcome;

            WITH gone AS (
                DELETE FROM sms_marketing_automation_count
             RETURNING automation_id, figure, count, amount
            )
            INSERT INTO sms_marketing_automation_count (automation_id, figure, count, amount)
            SELECT automation_id, figure, sum(count), sum(amount) FROM gone
          GROUP BY automation_id, figure
            """
        )

    @api.model
    def _scan_domain(self, now):
        """Running flows with a time-based trigger whose scan is due."""
        return [
            ("state", "=", "running"),
            ("trigger", "in", ("date", "segment", "dormant")),
            "|",
            ("last_scan_at", "=", False),
            ("last_scan_at", "<", fields.Datetime.subtract(now, minutes=SCAN_MINUTES)),
        ]

    def _advance_due(self, batch_size=BATCH_SIZE):
        """Claim up to ``batch_size`` due enrollments of the flows ``self`` and run their
        steps, then the steps they reach that are due at once (a branch, a tag, a send: not
        a wait), in the same transaction: a contact entering a flow gets its first SMS in
        the call that enrolled it. The moves are written at the end, one statement per
        path taken: each enrollment row is written once per call, whatever the steps it
        passed.

        :return: the number of enrollments claimed and handled
        """
        if not self:
            return 0
        self.env.flush_all()
        now = fields.Datetime.now()
        claimed = self._claim(batch_size, now)
        if not claimed:
            return 0
        gone = {row[0]: row[7] for row in claimed if row[7]}
        if gone:
            self._exit_gone(gone, now)
        batch = _Moves(now)
        work = {}
        for row in claimed:
            if row[0] not in gone:
                batch.claim(row)
                work.setdefault((row[3], row[1]), []).append(row[0])
        Step = self.env["sms.marketing.automation.step"]
        done = len(gone)
        for hop in range(MAX_HOPS):
            chained = {}
            for (flow_id, step_id), ids in work.items():
                step = Step.browse(step_id).exists() if step_id else Step
                handled = self.browse(flow_id)._run_step(step, ids, batch)
                if not hop:
                    done += handled
                for next_id, next_ids in batch.take_chained():
                    chained.setdefault((flow_id, next_id), []).extend(next_ids)
            if not chained:
                break
            work = chained
        self._write_moves(batch)
        self.env["sms.marketing.automation.enrollment"].invalidate_model()
        return done

    def _claim(self, batch_size, now):
        """Lock up to ``batch_size`` due enrollments of the flows ``self``; one tuple per
        enrollment: ``(id, step, partner, flow, test, history, step_at, gone)``, ``gone``
        the reason it must end now (an archived contact; in marketing flows an opted-out
        or blacklisted one).

        Each flow is claimed through its own range of the partial index ``(automation_id,
        due_at) WHERE state = 'active'``, the budget shared fairly (a flow with a backlog of
        millions does not hold the others up), then the rest of the budget to whichever
        flow has more. ``FOR UPDATE SKIP LOCKED``: several workers share the queue and never
        claim the same enrollment."""
        cr = self.env.cr
        claimed = []
        share = max(batch_size // len(self), 1)
        for fair in (True, False):
            for flow in self:
                budget = batch_size - len(claimed)
                if budget <= 0:
                    break
                cr.execute(
                    SQL(
                        """
                        SELECT e.id, e.step_id, e.partner_id, e.automation_id, e.is_test,
                               e.history, e.step_at,
                               CASE WHEN NOT p.active THEN 'contact_removed'
                                    WHEN %(marketing)s AND p.sms_consent_state = 'opted_out'
                                    THEN 'opted_out'
                                    WHEN %(marketing)s AND EXISTS (
                                         SELECT 1 FROM phone_blacklist bl
                                          WHERE bl.number = p.sms_e164 AND bl.active)
                                    THEN 'blacklisted' END
                          FROM sms_marketing_automation_enrollment e
                          JOIN res_partner p ON p.id = e.partner_id
                         WHERE e.automation_id = %(flow)s AND e.state = 'active'
                           AND e.due_at <= %(now)s AND NOT e.id = ANY(%(skip)s::int[])
                      ORDER BY e.due_at
                         LIMIT %(limit)s
                           FOR UPDATE OF e SKIP LOCKED
                        """,
                        marketing=flow.message_class == "marketing",
                        flow=flow.id,
                        now=now,
                        skip=_int_array(row[0] for row in claimed if row[3] == flow.id)
                        if not fair
                        else "{}",
                        limit=min(share, budget) if fair else budget,
                    )
                )
                claimed.extend(cr.fetchall())
            if len(claimed) >= batch_size or len(self) == 1:
                break
        return claimed

    @api.model
    def _exit_gone(self, reasons, now):
        """End the enrollments of ``reasons`` (``{id: exit reason}``) now."""
        self.env.cr.execute(
            SQL(
                """
                UPDATE sms_marketing_automation_enrollment e
                   SET state = 'exited', exit_reason = g.reason, done_at = %s, due_at = NULL
                  FROM unnest(%s::int[], %s::varchar[]) AS g(id, reason)
                 WHERE e.id = g.id
                %s
                """,
                now,
                _int_array(reasons),
                list(reasons.values()),
                self.env["sms.marketing.automation.count"]._returning(),
            )
        )
        self.env["sms.marketing.automation.count"]._add(self.env.cr.fetchall())

    def _run_step(self, step, ids, batch):
        """Run ``step`` for its due enrollments ``ids`` (their moves go to ``batch``). One
        failing enrollment is set aside with its error (and retried later), never the
        batch.

        :return: the number of enrollments handled
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                moves = self._run_step_batch(step, ids, batch)
            batch.apply(moves)
            return len(ids)
        except (errors.SerializationFailure, errors.DeadlockDetected):
            raise
        except Exception:
            _logger.info("automation %s step %s: batch failed, isolating", self.id, step.id)
        done = 0
        for enrollment_id in ids:
            try:
                with self.env.cr.savepoint():
                    moves = self._run_step_batch(step, [enrollment_id], batch)
                batch.apply(moves)
                done += 1
            except (errors.SerializationFailure, errors.DeadlockDetected):
                raise
            except Exception as exc:
                _logger.warning(
                    "automation %s step %s enrollment %s failed",
                    self.id,
                    step.id,
                    enrollment_id,
                    exc_info=True,
                )
                batch.drop(enrollment_id)
                self.env.cr.execute(
                    SQL(
                        """UPDATE sms_marketing_automation_enrollment
                              SET error = %s, due_at = %s::timestamp + interval %s
                            WHERE id = %s""",
                        str(exc)[:500],
                        batch.now,
                        RETRY_DELAY,
                        enrollment_id,
                    )
                )
        return done

    def _run_step_batch(self, step, ids, batch):
        """The work of ``step`` for the enrollments ``ids``; return their moves, as
        ``[(ids, step, outcome, destination)]`` (see ``_Moves.apply``)."""
        graph, _first = self._graph()
        if not step:  # the step was removed without moving them (or never existed)
            return [(ids, step, None, ("done", None))]
        links = graph.get(step.id) or {"next": None}
        moves = []
        already = [i for i in ids if batch.passed(i, step.id)]
        todo = [i for i in ids if not batch.passed(i, step.id)]
        if already:
            # moved after a step they already passed (an edit): never done twice
            moves.append((already, step, "skipped", self._destination(links["next"])))
        if not todo:
            return moves
        kind = step.step_type
        if kind == "exit":
            return [*moves, (todo, step, "passed", ("exited", step.id))]
        if kind == "branch":
            return moves + self._run_branch(step, todo, links, batch)
        rows = [(i, batch.partner(i)) for i in todo]
        if kind == "send":
            # one SMS per contact and step per call: a second enrollment of the contact at
            # this step (re-entry every time) stays due for the next call
            seen, first = set(), []
            for row in rows:
                if row[1] not in seen:
                    seen.add(row[1])
                    first.append(row)
            rows = first
            self._step_send(step, rows, {i for i, _p in rows if batch.is_test(i)})
        elif kind in ("tag_add", "tag_remove"):
            self._step_tag(step, todo)
        elif kind == "activity":
            self._step_activity(step, rows)
        elif kind == "double_optin":
            self._step_double_optin(rows)
        return [
            *moves,
            ([row[0] for row in rows], step, "passed", self._destination(links["next"])),
        ]

    def _destination(self, step_id):
        """Where an enrollment goes next: ``("active", step id)`` or ``("done", None)``."""
        return ("active", step_id) if step_id else ("done", None)

    def _run_branch(self, step, ids, links, batch):
        """A branch takes its "yes" side as soon as its condition is met (on arrival, or
        when a click, reply, order or consent wakes it), its "no" side at its time-out
        (``window_hours`` after arrival; a minute in test runs). The others wait, due at
        their time-out."""
        yes = self._branch_yes(step, ids)
        moves = []
        if yes:
            moves.append((sorted(yes), step, "yes", self._destination(links["yes"])))
        window = timedelta(hours=max(step.window_hours, 0))
        test_window = timedelta(minutes=1)
        waiting, timed_out = [], []
        for enrollment_id in ids:
            if enrollment_id in yes:
                continue
            arrived = batch.arrived_at(enrollment_id, step.id)
            limit = test_window if batch.is_test(enrollment_id) else window
            (waiting if arrived + limit > batch.now else timed_out).append(enrollment_id)
        if waiting:
            moves.append((waiting, step, None, ("waiting", step.id)))
        if timed_out:
            moves.append((timed_out, step, "no", self._destination(links["no"])))
        return moves

    def _write_moves(self, batch):
        """Write the moves of ``batch``: one UPDATE per path (destination and history
        gained), the steps' counts in one INSERT."""
        Step = self.env["sms.marketing.automation.step"]
        Count = self.env["sms.marketing.automation.count"]
        cr = self.env.cr
        now_text = fields.Datetime.to_string(batch.now)
        for (state, step_id, entries, arrived), ids in batch.groups().items():
            target = Step.browse(step_id)
            history = SQL("e.history")
            if entries:
                history = SQL(
                    "COALESCE(e.history, '[]'::jsonb) || %s::jsonb",
                    json.dumps([[step, outcome, now_text] for step, outcome in entries]),
                )
            step_at = SQL("%s::timestamp", batch.now) if arrived else SQL("e.step_at")
            reason = None
            if state == "waiting":
                # at a branch until its time-out
                state, due = (
                    "active",
                    SQL(
                        "COALESCE(%s, e.entered_at) + CASE WHEN e.is_test THEN interval %s"
                        " ELSE make_interval(secs => %s) END",
                        step_at,
                        TEST_WAIT,
                        max(target.window_hours, 0) * 3600,
                    ),
                )
            elif state == "active":
                due = self._due_sql(target, batch.now, False)
                test_due = self._due_sql(target, batch.now, True)
                if test_due != due:
                    due = SQL("CASE WHEN e.is_test THEN %s ELSE %s END", test_due, due)
            else:
                due = SQL("NULL::timestamp")
                reason = "exit_step" if state == "exited" else None
            cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_automation_enrollment e
                       SET step_id = %(step)s, due_at = %(due)s, step_at = %(step_at)s,
                           state = %(state)s, exit_reason = %(reason)s, error = NULL,
                           history = %(history)s,
                           done_at = CASE WHEN %(state)s = 'active' THEN NULL ELSE %(now)s END
                      FROM res_partner p
                     WHERE p.id = e.partner_id AND e.id = ANY(%(ids)s::int[])
                    %(returning)s
                    """,
                    returning=Count._returning() if state != "active" else SQL(),
                    step=step_id,
                    due=due,
                    step_at=step_at,
                    state=state,
                    reason=reason,
                    history=history,
                    now=batch.now,
                    ids=_int_array(ids),
                )
            )
            if state != "active":
                Count._add(self.env.cr.fetchall())
        counts = batch.counts()
        if counts:
            cr.execute(
                SQL(
                    "INSERT INTO sms_marketing_automation_step_count (step_id, outcome, count)"
                    " SELECT * FROM unnest(%s::int[], %s::varchar[], %s::int[])",
                    [key[0] for key in counts],
                    [key[1] for key in counts],
                    list(counts.values()),
                )
            )

    @api.model
    def _wake(self, partner_ids, conditions):
        """Enrollments of ``partner_ids`` waiting at a branch on one of ``conditions``
        (``clicked``, ``replied``, ``ordered``, ``opted_in``) are due now: the branch looks
        again at once instead of at its time-out. An enrollment the cron holds at this
        moment is skipped, never waited for (a click must not wait for a batch): its
        branch looks at the condition again at its time-out anyway."""
        if not partner_ids:
            return
        # the branches that wait for such a condition: usually none, then nothing to read
        branches = (
            self.env["sms.marketing.automation.step"]
            .sudo()
            .search(
                [
                    ("step_type", "=", "branch"),
                    ("condition", "in", list(conditions)),
                    ("automation_id.state", "in", ("running", "paused")),
                ]
            )
        )
        if not branches:
            return
        now = fields.Datetime.now()
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH waiting AS (
                    SELECT e.id FROM sms_marketing_automation_enrollment e
                     WHERE e.partner_id = ANY(%(partners)s::int[])
                       AND e.automation_id = ANY(%(flows)s::int[])
                       AND e.step_id = ANY(%(steps)s::int[])
                       AND e.state = 'active' AND e.due_at > %(now)s
                  ORDER BY e.id
                       FOR UPDATE OF e SKIP LOCKED
                )
                UPDATE sms_marketing_automation_enrollment e SET due_at = %(now)s
                  FROM waiting WHERE e.id = waiting.id
                """,
                now=now,
                partners=_int_array(partner_ids),
                flows=_int_array(set(branches.automation_id.ids)),
                steps=_int_array(branches.ids),
            )
        )
        if self.env.cr.rowcount:
            self.env["sms.marketing.automation.enrollment"].invalidate_model(["due_at"])
            self.env.ref("sms_marketing.ir_cron_sms_marketing_automation").sudo()._trigger()

    def _branch_yes(self, step, ids):
        """The enrollments of ``ids`` that meet the branch's condition."""
        last_trace = SQL(
            """(SELECT %s FROM sms_marketing_trace t
                 WHERE t.automation_enrollment_id = e.id AND t.state <> 'excluded'
              ORDER BY t.id DESC LIMIT 1)""",
            SQL.identifier("t", "clicked_at" if step.condition == "clicked" else "replied_at"),
        )
        condition = {
            "clicked": SQL("%s IS NOT NULL", last_trace),
            "replied": SQL("%s IS NOT NULL", last_trace),
            "ordered": SQL(
                """EXISTS (SELECT 1 FROM sms_marketing_event o
                            WHERE o.partner_id = e.partner_id AND o.type = 'order'
                              AND o.occurred_at >= e.entered_at
                              AND o.id IS DISTINCT FROM e.trigger_event_id)"""
            ),
            "has_tag": SQL(
                """EXISTS (SELECT 1 FROM res_partner_sms_marketing_tag_rel r
                            WHERE r.partner_id = e.partner_id AND r.tag_id = %s)""",
                step.tag_id.id or 0,
            ),
            "opted_in": SQL(
                """EXISTS (SELECT 1 FROM res_partner cp
                            WHERE cp.id = e.partner_id AND cp.sms_consent_state = 'opted_in')"""
            ),
            "amount_above": SQL(
                """COALESCE((SELECT ev.amount_company FROM sms_marketing_event ev
                              WHERE ev.id = e.trigger_event_id), 0) > %s""",
                step.amount,
            ),
        }.get(step.condition)
        if step.condition == "in_segment":
            if not step.segment_id:
                return set()
            query = (
                self.env["res.partner"]
                .with_company(self.company_id)
                ._search(step.segment_id._get_partner_domain())
            )
            condition = SQL(
                "e.partner_id IN (%s)", query.select(SQL.identifier("res_partner", "id"))
            )
        if condition is None:
            return set()
        self.env.cr.execute(
            SQL(
                "SELECT e.id FROM sms_marketing_automation_enrollment e"
                " WHERE e.id = ANY(%s::int[]) AND %s",
                _int_array(ids),
                condition,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    def _step_send(self, step, rows, test_ids=frozenset()):
        """Queue the step's SMS for ``rows`` (``(enrollment id, partner id)``, one per
        contact) through the campaigns' preparation: the same consent, exclusion,
        quiet-hour and frequency-cap rules, the same queue, each trace linked to its
        enrollment; those of ``test_ids`` are test SMS."""
        campaign = step.campaign_id
        if not campaign:
            step._sync_campaign()
            campaign = step.campaign_id
        # A/B variants: every contact gets one, by the variants' shares (the campaigns'
        # test phase, for the whole audience); without them, the step's own message
        split = campaign.ab_testing and campaign.variant_ids.filtered("share")
        phase = {"prepare_phase": "test", "ab_test_percent": 100} if split else {}
        if (campaign.prepare_phase or False) != (phase.get("prepare_phase") or False):
            campaign.write(phase or {"prepare_phase": False})
        groups = {False: {}, True: {}}
        for enrollment_id, partner_id in rows:
            groups[enrollment_id in test_ids][partner_id] = enrollment_id
        for is_test, enrollment_of in groups.items():
            if enrollment_of:
                classified = campaign._classify(sorted(enrollment_of))
                campaign._queue_rows(classified, enrollment_of=enrollment_of, is_test=is_test)

    def _step_tag(self, step, ids):
        if step.step_type == "tag_add":
            query = SQL(
                """INSERT INTO res_partner_sms_marketing_tag_rel (partner_id, tag_id)
                   SELECT DISTINCT partner_id, %s FROM sms_marketing_automation_enrollment
                    WHERE id = ANY(%s::int[])
                   ON CONFLICT DO NOTHING""",
                step.tag_id.id,
                _int_array(ids),
            )
        else:
            query = SQL(
                """DELETE FROM res_partner_sms_marketing_tag_rel
                    WHERE tag_id = %s AND partner_id IN (
                          SELECT partner_id FROM sms_marketing_automation_enrollment
                           WHERE id = ANY(%s::int[]))""",
                step.tag_id.id,
                _int_array(ids),
            )
        self.env.cr.execute(query)
        self.env["res.partner"].invalidate_model(["sms_tag_ids"])
        step.tag_id.invalidate_recordset()

    def _step_double_optin(self, rows):
        """Ask contacts whose consent is unknown to confirm ("reply Y"), as the contact
        form's button does; contacts already opted in or out are left alone."""
        partners = self.env["res.partner"].browse(sorted({row[1] for row in rows}))
        asking = partners.filtered(
            lambda p: p.sms_consent_state not in ("opted_in", "opted_out", "pending") and p.sms_e164
        )
        if asking:
            asking.with_company(self.company_id).action_sms_request_double_optin()

    def _step_activity(self, step, rows):
        """An activity on each contact for their salesperson (else the flow's author)."""
        partners = self.env["res.partner"].browse(sorted({row[1] for row in rows}))
        activity_type = step.activity_type_id or self.env.ref(
            "mail.mail_activity_data_todo", raise_if_not_found=False
        )
        model = self.env["ir.model"]._get_id("res.partner")
        self.env["mail.activity"].sudo().create(
            [
                {
                    "res_model_id": model,
                    "res_id": partner.id,
                    "activity_type_id": activity_type.id if activity_type else False,
                    "summary": step.activity_summary or self.name,
                    "note": self.env._("From the SMS flow %s.", self.name),
                    "user_id": (partner.user_id or self.create_uid).id,
                }
                for partner in partners
            ]
        )
