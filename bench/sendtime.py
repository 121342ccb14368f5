#!/usr/bin/env python3
"""Benchmark: does "best time within 24 h" lift the click rate? A simulated experiment.

    python3 bench/sendtime.py                     # 20,000 contacts, 20 campaigns
    python3 bench/sendtime.py --contacts 4000 --campaigns 10

In a fresh database (``sms_marketing_bench_sendtime``, sms_marketing installed, no demo
data): ``--contacts`` opted-in contacts with Chinese mobile numbers (``bench/campaign.py``'s
``insert_contacts``), Shanghai time, split in two halves by contact id, a sending window
of 09:00-21:00 and no frequency cap.

The readers are the simulator's (``core.gateways.simulator.SimulatedReader``): each number
has a hidden preferred hour between 09:00 and 20:00 at which an SMS is clicked 30% of the
time, 14% an hour away, 4% otherwise. Nothing in the addon reads those hours: the
estimator (``sms.marketing.partner.activity._cron_refresh``) only sees the SMS' send
times and clicks.

Each simulated day (``--campaigns`` days, each at 10:00 Shanghai time, the clock frozen
there while the campaigns are prepared):

1. the estimator refreshes the contacts' best hours from everything sent and clicked so
   far (the nightly scheduled action);
2. two campaigns with the same text are prepared by the addon's own preparation: one to
   the first half as usual (sent at 10:00), one to the second half with "best time within
   24 h" (each at its best hour, its RFM group's or everyone's, or 10:00 without any
   history yet; a tenth at another hour of the window, to keep learning);
3. every SMS is delivered at its planned time (``sent_at = scheduled_at``) and clicked or
   not as its reader decides at that local hour (``clicked_at`` a few minutes later).

Reported: the click rate of each half over all the campaigns and over the last half of
them (once the estimator has learned), and the lift. Written to
``bench/results/sendtime-<time>.json``.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timedelta

# common (first) puts the repository on the import path
from common import REPO, cpu_reference, fresh_database, setup_odoo

DATABASE = "sms_marketing_bench_sendtime"
SHANGHAI = timedelta(hours=8)  # no daylight saving time in China


def setup(env, count):
    from campaign import insert_contacts

    env.company.write(
        {
            "sms_default_country_id": env.ref("base.cn").id,
            "sms_quiet_hours": True,
            "sms_send_hour_start": 9.0,
            "sms_send_hour_end": 21.0,
            "sms_frequency_cap_count": 0,
            "sms_consent_mode": "opt_in",
        }
    )
    ids = insert_contacts(env, count)
    half = len(ids) // 2
    segments = []
    for label, part in (("usual", ids[:half]), ("best time", ids[half:])):
        segments.append(
            env["sms.marketing.segment"].create(
                {"name": f"Half: {label}", "domain": repr([("id", ">=", part[0]),
                                                           ("id", "<=", part[-1])])}
            )
        )  # fmt: skip
    env.cr.commit()
    return ids, segments


def run_day(env, odoo, day, segments, reader):
    """Refresh the estimator, prepare both campaigns at 10:00 local, deliver and click."""
    from freezegun import freeze_time

    launch = day - SHANGHAI + timedelta(hours=10)  # 10:00 in Shanghai, naive UTC
    env["sms.marketing.partner.activity"]._cron_refresh()
    Campaign = env["sms.marketing.campaign"]
    campaigns = []
    with freeze_time(launch):
        for segment, best in zip(segments, (False, True), strict=True):
            campaign = Campaign.create(
                {
                    "name": f"{day:%m-%d} {'best time' if best else 'usual'}",
                    "body": "{{ first_name }}, new arrivals this week: reply SHOP for the list.",
                    "segment_ids": [(6, 0, segment.ids)],
                    "best_send_time": best,
                    "link_tracking": False,
                }
            )
            campaign.action_launch()
            campaigns.append(campaign)
        while Campaign._cron_prepare():
            pass
    env.flush_all()
    cr = env.cr
    # delivered at the planned time; clicked as the reader decides at that local hour
    cr.execute(
        "SELECT id, number, scheduled_at FROM sms_marketing_trace"
        " WHERE campaign_id = ANY(%s) AND state = 'queued'",
        [[c.id for c in campaigns]],
    )
    rows = cr.fetchall()
    clicked = [
        (trace_id, sent_at + timedelta(minutes=3))
        for trace_id, number, sent_at in rows
        if reader.clicks(number, (sent_at + SHANGHAI).hour, trace_id)
    ]
    cr.execute(
        """UPDATE sms_marketing_trace SET state = 'delivered', sent_at = scheduled_at,
                  status_at = scheduled_at
            WHERE campaign_id = ANY(%s) AND state = 'queued'""",
        [[c.id for c in campaigns]],
    )
    if clicked:
        cr.execute(
            """UPDATE sms_marketing_trace t SET clicked_at = c.at, last_clicked_at = c.at
                 FROM unnest(%s::int[], %s::timestamp[]) AS c(id, at) WHERE t.id = c.id""",
            [[c[0] for c in clicked], [c[1] for c in clicked]],
        )
    cr.commit()
    env.invalidate_all()
    figures = []
    for campaign in campaigns:
        cr.execute(
            "SELECT count(*), count(clicked_at) FROM sms_marketing_trace"
            " WHERE campaign_id = %s AND state = 'delivered'",
            [campaign.id],
        )
        figures.append(cr.fetchone())
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--seed", default="bench-readers")
    args = parser.parse_args()
    cpu = cpu_reference()
    print(f"CPU reference: {cpu:.2f} s")
    fresh_database(DATABASE)
    odoo = setup_odoo(DATABASE)
    from odoo.modules.registry import Registry

    from sms_marketing.core.gateways.simulator import SimulatedReader

    reader = SimulatedReader(seed=args.seed)
    registry = Registry(DATABASE)
    started = time.perf_counter()
    days = []
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        _ids, segments = setup(env, args.contacts)
        first_day = datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        for n in range(args.campaigns):
            (usual_sent, usual_clicks), (best_sent, best_clicks) = run_day(
                env, odoo, first_day + timedelta(days=n), segments, reader
            )
            days.append(
                {"usual": [usual_sent, usual_clicks], "best_time": [best_sent, best_clicks]}
            )
            print(
                f"  campaign {n + 1:2}: usual {usual_clicks / usual_sent:6.2%}  "
                f"best time {best_clicks / best_sent:6.2%}",
                flush=True,
            )

    def rate(runs, arm):
        sent = sum(run[arm][0] for run in runs)
        return sum(run[arm][1] for run in runs) / sent if sent else 0.0

    late = days[len(days) // 2 :]
    results = {
        "benchmark": "sendtime",
        "at": datetime.now().isoformat(timespec="seconds"),
        "cpu_reference_s": cpu,
        "args": vars(args),
        "days": days,
        "click_rate_usual": rate(days, "usual"),
        "click_rate_best_time": rate(days, "best_time"),
        "click_rate_usual_last_half": rate(late, "usual"),
        "click_rate_best_time_last_half": rate(late, "best_time"),
        "seconds": time.perf_counter() - started,
    }
    results["lift"] = results["click_rate_best_time"] / results["click_rate_usual"] - 1
    results["lift_last_half"] = (
        results["click_rate_best_time_last_half"] / results["click_rate_usual_last_half"] - 1
    )
    print("\n=== send-time experiment ===")
    print(
        f"{args.contacts:,} contacts in two halves, {args.campaigns} campaigns each "
        f"(readers with a hidden preferred hour, unknown to the estimator)"
    )
    print(
        f"click rate, all campaigns:  usual {results['click_rate_usual']:.2%}, best time "
        f"{results['click_rate_best_time']:.2%} (lift {results['lift']:+.0%})"
    )
    print(
        f"click rate, last {len(late)} campaigns: usual "
        f"{results['click_rate_usual_last_half']:.2%}, best time "
        f"{results['click_rate_best_time_last_half']:.2%} (lift {results['lift_last_half']:+.0%})"
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"sendtime-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
