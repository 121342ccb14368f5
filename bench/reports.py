#!/usr/bin/env python3
"""Benchmark: reports over 10,000,000 SMS, behaviour segments over 1,000,000 contacts.

    python3 bench/reports.py                                # 10,000,000 SMS, 5,000,000 events
    python3 bench/reports.py --traces 1000000 --events 500000 --contacts 100000

In a fresh database (``sms_marketing_bench_reports``, sms_marketing installed, no demo
data), Odoo in this process, every measure in a transaction of its own:

Setup (not measured), all with SQL, as the addon would have written it:

- ``--contacts`` opted-in contacts with Chinese mobile numbers (``bench/campaign.py``'s
  ``insert_contacts``), birthdays spread over the year, one in ten tagged "VIP", three in
  ten "Newsletter";
- three gateways, 198 campaigns and a two-step flow (its SMS steps' campaigns);
- ``--traces`` SMS over the last 365 days (creation dates in row order, as in life):
  campaign by campaign, 2 % excluded, 1 % failed, 2 % undelivered, 2 % still "sent", the
  rest delivered; 7 % of the delivered clicked, 1 % replied, one click in seven converted
  with its revenue; 0.1 % answered STOP (an inbound reply); 90 % Chinese numbers, 5 % US,
  5 % UK; one in twenty transactional;
- ``--events`` customer events: a fifth orders (over two years, half the contacts, some
  buying often), three fifths product views (last 60 days), a tenth abandoned carts (last
  30 days; the contact's open cart kept as ingestion does) and a tenth signups;
  contacts' last clicks kept from their SMS (as clicks do).

Measured:

1. The summary behind the reports (``sms.marketing.trace.daily._cron_refresh``): the
   first, full refresh, then the 15-minute refresh (the last 8 days again).
2. Report queries as the views ask them (``read_group``, rates included): each run
   five times, the median and the slowest reported, each under 1 s to pass; the
   dashboard (30 and 90 days); the drill-down from a report line to its SMS (count and
   first page); for scale, the campaign grouping straight on the SMS table (what a plain
   SQL view over the traces would cost).
3. The nightly behaviour refresh (``sms.marketing.partner.activity._cron_refresh``: RFM,
   SMS figures, best hours).
4. Every behaviour preset's live count (``partner_count`` and ``reachable_count`` of a
   segment), five runs each, under 2 s to pass.

Checked: the summary's sums equal the SMS table's, the tag summary equals the join,
presets' counts equal independent SQL. Figures are printed with the CPU reference and
written to ``bench/results/reports-<time>.json``.
"""

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta

# common (first) puts the repository on the import path
from common import REPO, cpu_reference, fresh_database, setup_odoo

DATABASE = "sms_marketing_bench_reports"
REPORT_LIMIT = 1.0
PRESET_LIMIT = 2.0
RUNS = 5


# ----------------------------------------------------------------------------------------
# Setup
# ----------------------------------------------------------------------------------------


def setup_contacts(env, count):
    from campaign import insert_contacts

    env.company.write(
        {
            "sms_default_country_id": env.ref("base.cn").id,
            "sms_consent_mode": "opt_in",
            "sms_frequency_cap_count": 0,
        }
    )
    env.cr.commit()
    ids = insert_contacts(env, count)
    cr = env.cr
    cr.execute(
        """UPDATE res_partner SET sms_birthday = date '1990-01-01' + (id %% 365)
            WHERE id BETWEEN %s AND %s""",
        [ids[0], ids[-1]],
    )
    Tag = env["sms.marketing.tag"]
    for name, modulo, share in (("VIP", 10, 1), ("Newsletter", 10, 3)):
        tag = Tag.create({"name": name})
        cr.execute(
            """INSERT INTO res_partner_sms_marketing_tag_rel (partner_id, tag_id)
               SELECT id, %s FROM res_partner
                WHERE id BETWEEN %s AND %s AND (id * 7) %% %s < %s""",
            [tag.id, ids[0], ids[-1], modulo, share],
        )
    env.cr.commit()
    return ids


def setup_sending(env):
    Gateway = env["sms.marketing.gateway"]
    gateways = Gateway.search([("provider", "=", "simulator")], limit=1)
    for name in ("Bench gateway B", "Bench gateway C"):
        gateways |= Gateway.create({"name": name, "provider": "simulator"})
    segment = env["sms.marketing.segment"].create({"name": "Everyone", "domain": "[]"})
    campaigns = env["sms.marketing.campaign"].create(
        [
            {
                "name": f"Bench campaign {n:03d}",
                "body": "{{ first_name }}, new arrivals this week: reply SHOP for the list.",
                "segment_ids": [(6, 0, segment.ids)],
                "link_tracking": False,
            }
            for n in range(198)
        ]
    )
    flow = env["sms.marketing.automation"].create({"name": "Bench flow", "trigger": "manual"})
    Step = env["sms.marketing.automation.step"]
    steps = Step
    for sequence, (name, body) in enumerate(
        (("Welcome", "Welcome, {{ first_name }}!"), ("Offer", "10% off your first order."))
    ):
        steps |= Step.create(
            {
                "automation_id": flow.id,
                "sequence": sequence,
                "step_type": "send",
                "name": name,
                "body": body,
            }
        )
    env.cr.commit()
    return gateways, campaigns.ids + steps.mapped("campaign_id").ids


def insert_traces(env, ids, gateways, campaigns, count, now):
    """``count`` SMS over the 365 days before ``now``, in creation order, 1,000,000 per
    statement."""
    cr = env.cr
    chunk = 1_000_000
    for first in range(0, count, chunk):
        cr.execute(
            """
            INSERT INTO sms_marketing_trace
                   (company_id, partner_id, number, country_code, message_class, state,
                    campaign_id, gateway_id, segments, cost, revenue, error_code,
                    exclusion_reason, body, is_test, attempts, create_date, scheduled_at,
                    sent_at, status_at, clicked_at, last_clicked_at, replied_at, converted_at)
            SELECT %(company)s, s.partner, s.number,
                   CASE s.h1 %% 20 WHEN 18 THEN 'US' WHEN 19 THEN 'GB' ELSE 'CN' END,
                   CASE WHEN s.h3 < 5 THEN 'transactional' ELSE 'marketing' END,
                   s.state, s.campaign, s.gateway,
                   CASE WHEN s.sent THEN 1 + (s.h3 %% 7 = 0)::int END,
                   CASE WHEN s.sent THEN 0.045 * (1 + (s.h3 %% 7 = 0)::int) END,
                   CASE WHEN s.converted THEN 20 + s.h2 * 3 END,
                   CASE s.state WHEN 'failed' THEN (ARRAY['timeout', 'rejected'])[1 + s.h2 %% 2]
                                WHEN 'undelivered' THEN 'blocked' END,
                   CASE WHEN s.state = 'excluded'
                        THEN (ARRAY['opted_out', 'frequency_cap'])[1 + s.h2 %% 2] END,
                   'Bench report SMS', FALSE, CASE WHEN s.sent THEN 1 ELSE 0 END,
                   s.at, s.at,
                   CASE WHEN s.sent THEN s.at + interval '1 second' END,
                   CASE WHEN s.state IN ('delivered', 'undelivered')
                        THEN s.at + interval '5 seconds' END,
                   CASE WHEN s.clicked THEN s.at + interval '10 minutes' END,
                   CASE WHEN s.clicked THEN s.at + interval '10 minutes' END,
                   CASE WHEN s.replied THEN s.at + interval '20 minutes' END,
                   CASE WHEN s.converted THEN s.at + interval '2 hours' END
              FROM (
                    SELECT b.*, b.state NOT IN ('excluded', 'failed') AS sent,
                           b.state = 'delivered' AND b.h2 < 7 AS clicked,
                           b.state = 'delivered' AND b.h2 = 50 AS replied,
                           b.state = 'delivered' AND b.h2 = 3 AS converted
                      FROM (
                            SELECT g.n,
                                   %(first_partner)s + (g.n * 7919) %% %(contacts)s AS partner,
                                   '+86138' || lpad(((g.n * 7919) %% %(contacts)s + 1)::text,
                                                    8, '0') AS number,
                                   (%(campaigns)s::int[])
                                       [(1 + g.n * %(ncampaigns)s / %(count)s)::int] AS campaign,
                                   (%(gateways)s::int[])[(1 + g.n %% 3)::int] AS gateway,
                                   %(start)s + interval '365 days'
                                       * (g.n::float8 / %(count)s) AS at,
                                   CASE WHEN h.h1 < 20 THEN 'excluded'
                                        WHEN h.h1 < 30 THEN 'failed'
                                        WHEN h.h1 < 50 THEN 'undelivered'
                                        WHEN h.h1 < 70 THEN 'sent'
                                        ELSE 'delivered' END AS state,
                                   h.h1, h.h2, h.h3
                              FROM generate_series(%(first)s::bigint, %(last)s) g(n)
                             CROSS JOIN LATERAL (
                                   SELECT (g.n * 2654435761) %% 1000 AS h1,
                                          (g.n * 40503 + g.n / 997) %% 100 AS h2,
                                          (g.n * 69069) %% 100 AS h3) h
                           ) b
                   ) s
            """,
            {
                "company": env.company.id,
                "first_partner": ids[0],
                "contacts": len(ids),
                "campaigns": campaigns,
                "ncampaigns": len(campaigns),
                "gateways": gateways.ids,
                "count": count,
                "start": now - timedelta(days=365),
                "first": first,
                "last": min(first + chunk, count) - 1,
            },
        )
        env.cr.commit()
        print(f"  {min(first + chunk, count):,} SMS", flush=True)
    # 0.1 % of the delivered SMS answered STOP
    cr.execute(
        """
        INSERT INTO sms_marketing_inbound (gateway_id, company_id, partner_id, trace_id,
                                           sender, keyword_class, body, received_at,
                                           create_date, write_date)
        SELECT gateway_id, company_id, partner_id, id, number, 'stop', 'STOP',
               sent_at + interval '1 hour', sent_at + interval '1 hour',
               sent_at + interval '1 hour'
          FROM sms_marketing_trace WHERE state = 'delivered' AND id % 1000 = 7
        """
    )
    env.cr.commit()


def insert_events(env, ids, count, now):
    """``count`` customer events: orders, product views, abandoned carts, signups."""
    cr = env.cr
    company = env.company
    cr.execute("SELECT setseed(0.42)")
    shares = (("order", 0.2, 730), ("product_view", 0.6, 60), ("cart_abandoned", 0.1, 30),
              ("signup", 0.1, 365))  # fmt: skip
    half = len(ids) // 2
    for kind, share, days in shares:
        total = int(count * share)
        for first in range(0, total, 1_000_000):
            last = min(first + 1_000_000, total) - 1
            # buyers: half the contacts, some of them often (the square of a uniform draw)
            partner = (
                f"{ids[0]} + floor({half} * random() ^ 2)::int"
                if kind == "order"
                else f"{ids[0]} + floor({len(ids)} * random())::int"
            )
            cr.execute(
                f"""
                INSERT INTO sms_marketing_event
                       (company_id, partner_id, type, source, external_id, occurred_at,
                        amount, currency_id, amount_company, revenue, recovery_url,
                        create_uid, create_date)
                SELECT %(company)s, e.partner, %(kind)s, 'api', %(prefix)s || g.n, e.at,
                       e.amount, %(currency)s, e.amount, e.amount,
                       CASE WHEN %(kind)s = 'cart_abandoned'
                            THEN 'https://shop.example/cart/' || g.n END,
                       %(uid)s, e.at
                  FROM generate_series(%(first)s, %(last)s) g(n)
                 CROSS JOIN LATERAL (
                       SELECT {partner} AS partner,
                              %(now)s - (interval '1 day') * %(days)s * random() AS at,
                              CASE WHEN %(kind)s = 'order'
                                   THEN round((20 + 480 * random())::numeric, 2) END
                                  AS amount,
                              g.n AS n) e
                """,  # the partner expression is built from integers above
                {
                    "company": company.id,
                    "kind": kind,
                    "prefix": f"{kind[:1]}-",
                    "currency": company.currency_id.id,
                    "uid": env.uid,
                    "first": first,
                    "last": last,
                    "now": now,
                    "days": days,
                },
            )
            env.cr.commit()
        print(f"  {total:,} {kind}", flush=True)
    # the open cart ingestion keeps on the contact: its last abandoned cart, unless it
    # ordered since; the last click the clicks keep
    cr.execute(
        """
        UPDATE res_partner p SET sms_cart_url = c.url, sms_cart_at = c.at
          FROM (SELECT DISTINCT ON (partner_id) partner_id, recovery_url AS url,
                       occurred_at AS at
                  FROM sms_marketing_event WHERE type = 'cart_abandoned'
              ORDER BY partner_id, occurred_at DESC) c
         WHERE p.id = c.partner_id
           AND NOT EXISTS (SELECT 1 FROM sms_marketing_event o
                            WHERE o.partner_id = c.partner_id AND o.type = 'order'
                              AND o.occurred_at >= c.at)
        """
    )
    cr.execute(
        """
        INSERT INTO sms_marketing_partner_activity (partner_id, last_click_at)
        SELECT partner_id, max(clicked_at) FROM sms_marketing_trace
         WHERE clicked_at IS NOT NULL AND partner_id IS NOT NULL
      GROUP BY partner_id ORDER BY partner_id
            ON CONFLICT (partner_id) DO UPDATE SET last_click_at = EXCLUDED.last_click_at
        """
    )
    env.cr.commit()


def vacuum_analyze():
    import psycopg2

    conn = psycopg2.connect(dbname=DATABASE)
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("VACUUM ANALYZE")
        cr.execute("CHECKPOINT")
    conn.close()


# ----------------------------------------------------------------------------------------
# Measures
# ----------------------------------------------------------------------------------------


def timed(registry, odoo, function, runs=1):
    """Run ``function(env)`` ``runs`` times, each in a transaction of its own (committed);
    returns (times, last result)."""
    times = []
    result = None
    for _run in range(runs):
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            started = time.perf_counter()
            result = function(env)
            cr.flush()
            times.append(time.perf_counter() - started)
    return times, result


def report_queries(now):
    today = now.date()
    last30 = [("day", ">=", str(today - timedelta(days=29)))]
    rates = ["delivery_rate", "click_rate", "conversion_rate", "optout_rate", "roi"]
    sums = ["sent:sum", "delivered:sum", "clicked:sum", "converted:sum", "revenue:sum",
            "cost:sum", "opted_out:sum"]  # fmt: skip
    report = "sms.marketing.trace.report"
    return [
        ("last 30 days by day (graph)", report, last30, sums + rates, ["day:day"]),
        ("all year by month x campaign (pivot)", report, [], sums + rates,
         ["day:month", "campaign_id"]),
        ("last 30 days by gateway", report, last30, [*sums, "cost_per_delivered"],
         ["gateway_id"]),
        ("all year by country x number type", report, [], sums + rates,
         ["country_id", "number_type"]),
        ("failures by reason", report, [("reason", "!=", False)],
         ["targeted:sum", "failed:sum", "excluded:sum"], ["reason"]),
        ("by week x message class", report, [], sums + rates, ["day:week", "message_class"]),
        ("flow steps", report, [("automation_id", "!=", False)], sums + rates,
         ["automation_id", "step_id"]),
        ("one campaign by day", report, None, sums + rates, ["day:day"]),
        ("by tag x month", "sms.marketing.trace.tag.report", [], sums + rates,
         ["tag_id", "day:month"]),
    ]  # fmt: skip


def measure_reports(registry, odoo, now, campaign_id):
    results = []
    for label, model, domain, fields, groupby in report_queries(now):
        if domain is None:
            domain = [("campaign_id", "=", campaign_id)]
        times, groups = timed(
            registry,
            odoo,
            lambda env, m=model, d=domain, f=fields, g=groupby: env[m].read_group(
                d, f, g, lazy=False
            ),
            RUNS,
        )
        results.append(
            {
                "query": label,
                "groups": len(groups),
                "median_s": round(statistics.median(times), 4),
                "max_s": round(max(times), 4),
                "pass": max(times) < REPORT_LIMIT,
            }
        )
        print(f"  {label}: {len(groups)} groups, median {statistics.median(times):.3f} s,"
              f" max {max(times):.3f} s", flush=True)  # fmt: skip
    for days in (30, 90):
        times, data = timed(
            registry,
            odoo,
            lambda env, d=days: env["sms.marketing.dashboard"].get_dashboard(d),
            RUNS,
        )
        results.append(
            {
                "query": f"dashboard, {days} days",
                "groups": len(data["series"]),
                "median_s": round(statistics.median(times), 4),
                "max_s": round(max(times), 4),
                "pass": max(times) < REPORT_LIMIT,
            }
        )
        print(f"  dashboard {days} days: median {statistics.median(times):.3f} s", flush=True)

    def drill(env):
        line = env["sms.marketing.trace.report"].search(
            [("campaign_id", "=", campaign_id), ("reason", "=", False)], limit=1
        )
        action = line.action_open_traces()
        Trace = env["sms.marketing.trace"]
        return Trace.search_count(action["domain"]), len(Trace.search(action["domain"], limit=80))

    times, (count, page) = timed(registry, odoo, drill, RUNS)
    results.append(
        {
            "query": "drill-down: a report line's SMS (count + first page)",
            "groups": count,
            "median_s": round(statistics.median(times), 4),
            "max_s": round(max(times), 4),
            "pass": max(times) < REPORT_LIMIT and count > 0 and page == min(count, 80),
        }
    )
    print(f"  drill-down: {count:,} SMS, median {statistics.median(times):.3f} s", flush=True)
    return results


def measure_plain(registry, odoo):
    """For scale: the campaign grouping straight on the SMS table."""
    times, groups = timed(
        registry,
        odoo,
        lambda env: env["sms.marketing.trace"].read_group(
            [("is_test", "=", False)], ["campaign_id"], ["campaign_id"], lazy=False
        ),
        1,
    )
    print(f"  straight on the SMS table, by campaign: {times[0]:.2f} s", flush=True)
    return {"groups": len(groups), "seconds": round(times[0], 3)}


PRESETS = [
    ("RFM champions", {"behaviour": "rfm", "rfm_group": "champions"}),
    ("RFM loyal", {"behaviour": "rfm", "rfm_group": "loyal"}),
    ("about to churn (RFM at risk)", {"behaviour": "churn"}),
    ("browsed, did not buy (7 days)", {"behaviour": "browsed", "behaviour_days": 7}),
    ("browsed, did not buy (30 days)", {"behaviour": "browsed", "behaviour_days": 30}),
    ("cart abandoned (7 days)", {"behaviour": "cart", "behaviour_days": 7}),
    ("dormant (180 days)", {"behaviour": "dormant", "behaviour_days": 180}),
    ("engaged (30 days)", {"behaviour": "engaged", "behaviour_days": 30}),
    ("never clicked (5 sends)", {"behaviour": "never_clicked", "behaviour_sends": 5}),
    ("birthday (7 days)", {"behaviour": "birthday", "behaviour_days": 7}),
    ("VIP and engaged (30 days)", {"behaviour": "engaged", "behaviour_days": 30, "tag": "VIP"}),
]


def independent_count(env, values, now):
    """The preset's contacts counted by SQL written here, not by the addon."""
    cr = env.cr
    since = now - timedelta(days=values.get("behaviour_days") or 30)
    behaviour = values["behaviour"]
    if behaviour == "engaged" and "tag" not in values:
        cr.execute(
            """SELECT count(*) FROM (SELECT partner_id FROM sms_marketing_trace
                GROUP BY partner_id HAVING max(clicked_at) >= %s) x""",
            [since],
        )
    elif behaviour == "never_clicked":
        cr.execute(
            """SELECT count(*) FROM (SELECT partner_id FROM sms_marketing_trace
                WHERE message_class = 'marketing' GROUP BY partner_id
               HAVING count(*) FILTER (WHERE state IN ('sent', 'delivered', 'undelivered',
                                                      'unknown')) >= %s
                  AND count(*) FILTER (WHERE clicked_at IS NOT NULL
                                          OR replied_at IS NOT NULL) = 0) x""",
            [values["behaviour_sends"]],
        )
    elif behaviour == "browsed":
        cr.execute(
            """SELECT count(DISTINCT v.partner_id) FROM sms_marketing_event v
                WHERE v.type = 'product_view' AND v.occurred_at >= %s
                  AND NOT EXISTS (SELECT 1 FROM sms_marketing_event o
                                   WHERE o.partner_id = v.partner_id AND o.type = 'order'
                                     AND o.occurred_at >= v.occurred_at)""",
            [since],
        )
    elif behaviour == "dormant":
        cr.execute(
            """SELECT count(*)
                 FROM (SELECT partner_id, max(occurred_at) AS at FROM sms_marketing_event
                        WHERE type = 'order' GROUP BY partner_id) o
            LEFT JOIN (SELECT partner_id, max(clicked_at) AS at FROM sms_marketing_trace
                        GROUP BY partner_id) c USING (partner_id)
                WHERE GREATEST(o.at, c.at) < %s""",
            [since],
        )
    else:
        return None
    return cr.fetchone()[0]


def measure_presets(registry, odoo):
    from freezegun import freeze_time

    results = []
    for label, values in PRESETS:
        values = dict(values)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            tag = values.pop("tag", None)
            create = {"name": f"Bench: {label}", **values}
            if tag:
                create["tag_ids"] = [(6, 0, env["sms.marketing.tag"].search(
                    [("name", "=", tag)]).ids)]  # fmt: skip
            segment_id = env["sms.marketing.segment"].create(create).id

        def count(env, segment_id=segment_id):
            segment = env["sms.marketing.segment"].browse(segment_id)
            return segment.partner_count, segment.reachable_count

        times, (partners, reachable) = timed(registry, odoo, count, RUNS)
        # the check, apart from the timing: the addon's count and SQL written here at one
        # frozen moment (windows of N days slide while the bench runs)
        moment = datetime.utcnow().replace(microsecond=0)
        with freeze_time(moment), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            checked = count(env)[0]
            expected = independent_count(env, {**values, **({"tag": tag} if tag else {})}, moment)
        ok = max(times) < PRESET_LIMIT and (expected is None or expected == checked)
        results.append(
            {
                "preset": label,
                "contacts": partners,
                "reachable": reachable,
                "checked_count": checked,
                "checked_against_sql": expected,
                "median_s": round(statistics.median(times), 4),
                "max_s": round(max(times), 4),
                "pass": ok,
            }
        )
        print(f"  {label}: {partners:,} contacts ({reachable:,} reachable), median "
              f"{statistics.median(times):.3f} s, max {max(times):.3f} s"
              + ("" if expected is None else
                 f"; at one frozen moment {checked:,}, SQL says {expected:,}"),
              flush=True)  # fmt: skip
    return results


def check_summary(env):
    """The summary's sums equal the SMS table's; the tag summary equals the join."""
    cr = env.cr
    cr.execute(
        """SELECT count(*), count(*) FILTER (WHERE state IN ('sent', 'delivered',
                  'undelivered', 'unknown')), count(clicked_at), COALESCE(sum(revenue), 0)
             FROM sms_marketing_trace WHERE NOT COALESCE(is_test, false)"""
    )
    direct = [float(v) for v in cr.fetchone()]
    cr.execute(
        "SELECT sum(targeted), sum(sent), sum(clicked), sum(revenue) FROM sms_marketing_trace_daily"
    )
    summary = [float(v or 0) for v in cr.fetchone()]
    cr.execute(
        """SELECT count(*) FROM sms_marketing_trace t
             JOIN res_partner_sms_marketing_tag_rel r ON r.partner_id = t.partner_id
            WHERE NOT COALESCE(t.is_test, false)"""
    )
    tagged = cr.fetchone()[0]
    cr.execute("SELECT sum(targeted) FROM sms_marketing_trace_daily_tag")
    tag_summary = cr.fetchone()[0]
    errors = []
    if [round(v, 2) for v in direct] != [round(v, 2) for v in summary]:
        errors.append(f"summary {summary} != SMS table {direct}")
    if tagged != tag_summary:
        errors.append(f"tag summary {tag_summary} != join {tagged}")
    return errors


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--traces", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    args = parser.parse_args()

    print(f"CPU reference: {cpu_reference():.2f} s", flush=True)
    fresh_database(DATABASE)
    odoo = setup_odoo(DATABASE)
    from odoo.modules.registry import Registry

    registry = Registry(DATABASE)
    now = datetime.utcnow().replace(microsecond=0)
    started = time.perf_counter()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        print(f"setup: {args.contacts:,} contacts...", flush=True)
        ids = setup_contacts(env, args.contacts)
        gateways, campaigns = setup_sending(env)
        print(f"setup: {args.traces:,} SMS...", flush=True)
        insert_traces(env, ids, gateways, campaigns, args.traces, now)
        print(f"setup: {args.events:,} events...", flush=True)
        insert_events(env, ids, args.events, now)
        # the summary is empty after the install: the cron's first run is the full one
        cr.execute("DELETE FROM sms_marketing_trace_daily")
        cr.execute("DELETE FROM sms_marketing_trace_daily_tag")
    vacuum_analyze()
    print(f"setup done in {time.perf_counter() - started:.0f} s", flush=True)

    results = {"args": vars(args), "cpu_reference_s": round(cpu_reference(), 3)}
    Daily = "sms.marketing.trace.daily"
    times, _ = timed(registry, odoo, lambda env: env[Daily]._cron_refresh())
    results["refresh_full_s"] = round(times[0], 2)
    print(f"summary, first (full) refresh: {times[0]:.1f} s", flush=True)
    vacuum_analyze()
    times, _ = timed(registry, odoo, lambda env: env[Daily]._cron_refresh(), 3)
    results["refresh_incremental_s"] = round(statistics.median(times), 2)
    print(f"summary, 15-minute refresh (8 days): median {statistics.median(times):.2f} s",
          flush=True)  # fmt: skip
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        cr.execute("SELECT count(*) FROM sms_marketing_trace_daily")
        results["summary_rows"] = cr.fetchone()[0]
        errors = check_summary(env)
    if errors:
        sys.exit("summary check failed: " + "; ".join(errors))
    print(f"summary: {results['summary_rows']:,} rows, sums checked against the SMS table")

    print("report queries:", flush=True)
    results["reports"] = measure_reports(registry, odoo, now, campaigns[-3])
    results["plain_trace_group"] = measure_plain(registry, odoo)

    times, _ = timed(
        registry, odoo, lambda env: env["sms.marketing.partner.activity"]._cron_refresh()
    )
    results["behaviour_refresh_s"] = round(times[0], 1)
    print(f"nightly behaviour refresh: {times[0]:.1f} s", flush=True)
    vacuum_analyze()
    print("behaviour presets:", flush=True)
    results["presets"] = measure_presets(registry, odoo)

    failed = [r["query"] for r in results["reports"] if not r["pass"]]
    failed += [r["preset"] for r in results["presets"] if not r["pass"]]
    results["pass"] = not failed
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"reports-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"written to {path.relative_to(REPO)}")
    print("PASS" if not failed else f"FAIL: {', '.join(failed)}")
    sys.exit(0 if not failed else 1)


if __name__ == "__main__":
    main()
