#!/usr/bin/env python3
"""Benchmark: customer events through the integrator API, against a real Odoo HTTP server.

    python3 bench/events.py                        # 20,000 events, 1,000,000 of history
    python3 bench/events.py --events 10000 --history 200000 --contacts 20000
    python3 bench/events.py --keep                 # leave the databases for inspection

Options: ``--events`` (orders posted by the throughput run), ``--batch`` (events per
request), ``--clients`` (concurrent clients of the throughput run), ``--contacts``,
``--history`` (events already in the table for the latency run), ``--latency-requests``,
``--workers`` (Odoo workers of the throughput, latency and fuzz server),
``--race-clients`` and ``--race-workers`` (the concurrency run), ``--db-filter`` (serve
with ``--db-filter`` as well: Odoo then lists the databases on every request), ``--keep``.

In a fresh database (``bench_events_run``, copied from ``bench_events_run_template``:
sms_marketing installed, no demo data; both dropped at the end unless ``--keep``), Odoo is
served by ``odoo-bin`` in a child process (``--workers=2``, ``--max-cron-threads=0``,
``--database`` selecting the database) and every event goes through
``POST /sms_marketing/api/v1/events`` with ``Authorization: Bearer <key>`` (a key of scope
``sms_marketing`` for the admin; the rate limit ``sms_marketing.api_rate_limit`` set to 0).

Setup (not measured): ``--contacts`` opted-in contacts with Chinese mobile numbers written
with SQL (``bench/campaign.py``'s ``insert_contacts``), two sent campaigns whose traces are
inserted with SQL: campaign A delivered six days ago to half of the contacts, clicked five
days ago by half of those; campaign B delivered six hours ago to another half, clicked by
nobody. So an order of a contact is credited to A (last click), to B (view-through), or to
nothing, a quarter, a quarter and a half of the time.

1. **Throughput**: ``--events`` orders (an existing contact's phone, an amount in the
   company currency, two lines each), in batches of ``--batch`` POSTed by ``--clients``
   concurrent clients (each takes the next batch when it has its answer): events per
   second from the first request to the last answer, i.e. ingested *and* attributed and
   committed. Checked: every event created once, each attributed to the expected SMS by
   the expected rule, the SMS' revenue equal to the sum of their events'.
2. **Latency**: ``--history`` events inserted with set-based SQL (orders, payments and
   refunds referring to them, carts, product views, signups of the contacts, distinct
   external ids), then VACUUM ANALYZE (what autovacuum would do: it does not start in the
   middle of the measurement); then, after 5 unmeasured ones, ``--latency-requests``
   single-order POSTs one after the other: p50 / p95 as seen by the client (Odoo closes
   the connection after each answer: every request opens one).
3. **Concurrency** (a server with ``--race-workers``, 4 by default, so that the
   ``--race-clients`` requests really run at once): ``--race-clients`` clients released
   by a barrier POST (a) the same batch of ``--batch`` events, (b) the same batch, each in
   its own order, (c) distinct events naming the same new customers, (d) distinct events
   of the same known contacts (crediting the same SMS), each in its own order. Checked:
   every answer 200; (a, b) exactly ``--batch`` rows, each event ``created`` in exactly
   one answer and ``duplicate`` in the others, the same id in all; (c, d) every event
   created; one contact per new customer; (d) each SMS' revenue the sum of its events';
   no deadlock in the server log.
4. **Fuzz**: at least 200 bad requests (wrong types in every field, huge strings, unknown
   currencies, NUL characters and lone surrogates, malformed and non-object JSON, an empty
   body, 10 MB bodies, missing and invalid keys, 1,001 events...). Checked: no answer
   with a status >= 500 (nor a dropped connection), each answer a JSON error code or
   per-event ``rejected`` codes, no event written; a table code -> count is printed.

The throughput and latency targets (>= 5,000 events/s, p95 < 20 ms) are reported; the
script exits non-zero when a check fails (3, 4, or the checks of 1). Figures are printed
with the CPU reference and written to ``bench/results/events-<time>.json``.
"""

import argparse
import copy
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

# common (first) puts the repository on the import path
from campaign import insert_contacts
from common import REPO, cpu_reference, fresh_database, odoo_addons_path, setup_odoo

DATABASE = "bench_events_run"
ENDPOINT = "/sms_marketing/api/v1/events"
THROUGHPUT_TARGET = 5000  # events per second
LATENCY_TARGET_MS = 20.0  # p95 of single-event requests
FUZZ_MIN = 200
PRODUCTS = [("TEA-250", "Jasmine tea 250 g"), ("CUP-01", "Porcelain cup"),
            ("POT-02", "Clay teapot"), ("TEA-500", "Oolong 500 g")]  # fmt: skip


# ----------------------------------------------------------------------------------------
# The Odoo server
# ----------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OdooServer:
    """``odoo-bin`` serving the benchmark database with ``workers`` workers, no cron; its
    log in a file (warnings, plus the retries of requests after a concurrency error).

    ``--database`` alone selects the database: with ``--db-filter`` too, Odoo lists the
    databases (a new connection to ``postgres``) for every request without a session
    cookie, which API clients never have: about 7 ms a request here (``db_filter=True``
    measures that deployment)."""

    def __init__(self, odoo, workers, db_filter=False):
        self.odoo = odoo
        self.workers = workers
        self.db_filter = db_filter

    def __enter__(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        handle, name = tempfile.mkstemp(prefix="bench_events_", suffix=".log")
        os.close(handle)
        self.logfile = Path(name)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tools" / "odoo_bin.py"),
                f"--addons-path={odoo_addons_path(self.odoo)}",
                f"--database={DATABASE}",
                *([f"--db-filter=^{DATABASE}$"] if self.db_filter else []),
                f"--http-port={port}",
                f"--workers={self.workers}",
                "--max-cron-threads=0",
                f"--logfile={self.logfile}",
                "--log-level=warn",
                "--log-handler=odoo.service.model:INFO",  # "serialization_failure, 4 tries left"
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _attempt in range(240):
            try:
                if requests.get(f"{self.url}/web/health", timeout=5).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.proc.poll() is not None:
                sys.exit(f"the Odoo server exited ({self.proc.returncode}), see {self.logfile}")
            time.sleep(0.5)
        else:
            sys.exit("the Odoo server did not answer /web/health")
        return self

    def log(self):
        return self.logfile.read_text(errors="replace")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


class Client:
    """A keep-alive HTTP client of the events endpoint."""

    def __init__(self, url, key):
        self.url = url + ENDPOINT
        self.session = requests.Session()
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, body, headers=None):
        return self.session.post(
            self.url, data=body, headers={**self.headers, **(headers or {})}, timeout=600
        )


def warm(server, key, clients):
    """Load the registry in every worker: concurrent small batches, several rounds."""
    for round_ in range(3):
        threads = [
            threading.Thread(
                target=Client(server.url, key).post,
                args=(json.dumps({"events": [{"type": "nope", "external_id": f"w{round_}"}]}),),
            )
            for _i in range(clients * 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# ----------------------------------------------------------------------------------------
# Setup
# ----------------------------------------------------------------------------------------


def setup(env, contacts):
    """Contacts, two campaigns with their traces, the API key; returns what the runs need."""
    cr = env.cr
    env["ir.config_parameter"].sudo().set_param("sms_marketing.api_rate_limit", "0")
    company = env.company
    ids = insert_contacts(env, contacts)
    cr.execute("SELECT id, sms_e164 FROM res_partner WHERE id = ANY(%s) ORDER BY id", [ids])
    partners = cr.fetchall()
    Campaign = env["sms.marketing.campaign"]
    campaign_a = Campaign.create({"name": "Bench A (clicked)", "body": "Spring sale"})
    campaign_b = Campaign.create({"name": "Bench B (delivered)", "body": "Last day"})
    env.flush_all()
    # rank % 4: 0 clicked A (and got B later), 1 got B only, 2 got A without clicking, 3 none
    groups = {rank: [p for i, p in enumerate(partners) if i % 4 == rank] for rank in range(4)}
    expected = {}
    for campaign, members, sent, clicked in (
        (campaign_a, groups[0], timedelta(days=6), timedelta(days=5)),
        (campaign_a, groups[2], timedelta(days=6), None),
        (campaign_b, groups[0] + groups[1], timedelta(hours=6), None),
    ):
        cr.execute(
            """
            INSERT INTO sms_marketing_trace (company_id, partner_id, number, country_code, body,
                                             state, message_class, scheduled_at, attempts,
                                             create_date, campaign_id, sent_at, status_at,
                                             clicked_at, last_clicked_at, segments)
            SELECT %(company)s, p.id, p.number, 'CN', 'Spring sale', 'delivered', 'marketing',
                   %(sent)s, 1, %(sent)s, %(campaign)s, %(sent)s, %(sent)s + interval '1 minute',
                   %(clicked)s, %(clicked)s, 1
              FROM unnest(%(ids)s::int[], %(numbers)s::varchar[]) AS p(id, number)
         RETURNING id, partner_id
            """,
            {
                "company": company.id,
                "campaign": campaign.id,
                "sent": datetime.utcnow() - sent,
                "clicked": datetime.utcnow() - clicked if clicked else None,
                "ids": [p[0] for p in members],
                "numbers": [p[1] for p in members],
            },
        )
        for trace_id, partner_id in cr.fetchall():
            if clicked:
                expected[partner_id] = (trace_id, "last_click")
            elif campaign == campaign_b and partner_id not in expected:
                expected[partner_id] = (trace_id, "last_view")
    admin = env.ref("base.user_admin")
    key = env["res.users.apikeys"].with_user(admin)._generate("sms_marketing", "bench", None)
    cr.commit()
    for table in ("res_partner", "sms_marketing_trace", "sms_marketing_consent"):
        cr.execute(f"ANALYZE {table}")
    cr.commit()
    return {
        "key": key,
        "partners": partners,
        "expected": expected,
        "campaigns": [campaign_a.id, campaign_b.id],
        "currency": company.currency_id.name,
    }


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def order(external_id, phone, n, currency, occurred_at):
    """An order of two lines (their prices sum to the amount)."""
    first, second = PRODUCTS[n % 4], PRODUCTS[(n + 1) % 4]
    price = round(9.9 + (n % 37) * 1.5, 2)
    quantity = 1 + n % 3
    other = round(4.5 + (n % 11), 2)
    return {
        "type": "order",
        "external_id": external_id,
        "occurred_at": occurred_at,
        "amount": round(price * quantity + other, 2),
        "currency": currency,
        "customer": {"phone": phone},
        "lines": [
            {"product": first[0], "name": first[1], "quantity": quantity, "price": price},
            {"product": second[0], "name": second[1], "quantity": 1, "price": other},
        ],
    }


def insert_history(env, count, partner_ids, currency_id):
    """``count`` past events of the contacts, set-based, each row written once: per 20
    events 8 orders, 6 payments and 1 refund referring to an order of the same customer
    (``refers_event_id`` set, as ``_link_references`` leaves them), 2 carts, 1 abandoned cart, 1
    product view, 1 signup; external ids ``H0000001``..., dated over the last two years.
    Then what autovacuum would do to such a table (``VACUUM ANALYZE``), so that it does
    not run during the measurement."""
    cr = env.cr
    cr.execute("SELECT nextval('sms_marketing_event_id_seq')")
    first = cr.fetchone()[0]  # ids first + 1 .. first + count: references computed
    cr.execute("SELECT setval('sms_marketing_event_id_seq', %s)", [first + count])
    cr.execute(
        """
        INSERT INTO sms_marketing_event (id, company_id, partner_id, type, occurred_at,
                                         amount, currency_id, amount_company, revenue, source,
                                         external_id, refers_to, refers_event_id, product_ref,
                                         recovery_url, payload, create_uid, create_date)
        SELECT %(first)s + n, %(company)s,
               (%(partners)s::int[])[1 + (COALESCE(r.ref, n)::bigint * 7919)
                                         %% %(count_partners)s],
               t.type, o.at, a.amount, CASE WHEN a.amount IS NOT NULL THEN %(currency)s END,
               a.amount, CASE WHEN t.type = 'order' THEN a.amount
                              WHEN t.type = 'refund' THEN -a.amount ELSE 0 END,
               'api', 'H' || lpad(n::text, 7, '0'),
               'H' || lpad(r.ref::text, 7, '0'), %(first)s + r.ref,
               CASE WHEN t.type = 'product_view' THEN 'TEA-' || (n %% 50) END,
               CASE WHEN t.type = 'cart_abandoned'
                    THEN 'https://shop.example.com/cart/' || md5(n::text) END,
               CASE WHEN t.type IN ('order', 'cart', 'cart_abandoned') THEN jsonb_build_object(
                   'lines', jsonb_build_array(
                       jsonb_build_object('product', 'TEA-' || (n %% 50), 'name', 'Green tea',
                                          'quantity', 1 + n %% 3, 'price', 9.9),
                       jsonb_build_object('product', 'CUP-01', 'name', 'Porcelain cup',
                                          'quantity', 1, 'price', 4.5))) END,
               %(uid)s, o.at + interval '2 seconds'
          FROM generate_series(1, %(count)s) AS n,
               LATERAL (SELECT (n - 1) %% 20 AS k) AS kk,
               -- payments (k 8..13) of the orders k - 8, the refund (k 14) of order k 0
               LATERAL (SELECT CASE WHEN k BETWEEN 8 AND 13 THEN n - 8
                                    WHEN k = 14 THEN n - 14 END AS ref) AS r,
               LATERAL (SELECT CASE WHEN k < 8 THEN 'order' WHEN k < 14 THEN 'order_paid'
                                    WHEN k = 14 THEN 'refund' WHEN k < 17 THEN 'cart'
                                    WHEN k = 17 THEN 'cart_abandoned'
                                    WHEN k = 18 THEN 'product_view' ELSE 'signup' END
                               AS type) AS t,
               LATERAL (SELECT CASE WHEN t.type IN ('order', 'cart', 'cart_abandoned')
                                    THEN round((19.9 + n %% 300)::numeric, 2)
                                    WHEN t.type = 'refund'
                                    THEN round((19.9 + r.ref %% 300)::numeric / 2, 2) END
                               AS amount) AS a,
               LATERAL (SELECT (now() at time zone 'utc') - interval '1 day'
                               - make_interval(mins => ((%(count)s - n)::bigint * 1051200
                                                        / %(count)s)::int)
                               AS at) AS o
         WHERE r.ref IS NULL OR r.ref >= 1
        """,
        {
            "first": first,
            "company": env.company.id,
            "partners": partner_ids,
            "count_partners": len(partner_ids),
            "currency": currency_id,
            "count": count,
            "uid": env.uid,
        },
    )
    inserted = cr.rowcount
    cr.commit()
    import psycopg2

    conn = psycopg2.connect(dbname=DATABASE)
    conn.autocommit = True
    with conn.cursor() as vacuum_cr:
        vacuum_cr.execute("VACUUM ANALYZE sms_marketing_event")
    conn.close()
    return inserted


# ----------------------------------------------------------------------------------------
# 1. Throughput
# ----------------------------------------------------------------------------------------


def throughput(server, ctx, count, batch, clients):
    partners, currency = ctx["partners"], ctx["currency"]
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        partner = partners[(n * 7919) % len(partners)]
        occurred = iso(now - timedelta(seconds=60 + n % 3000))
        events.append(order(f"T{n:07d}", partner[1], n, currency, occurred))
    bodies = [
        json.dumps({"events": events[start : start + batch]}) for start in range(0, count, batch)
    ]
    answers, lock = [], threading.Lock()
    todo = iter(enumerate(bodies))
    errors = []

    def work():
        client = Client(server.url, ctx["key"])
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            index, body = item
            started = time.perf_counter()
            response = client.post(body)
            elapsed = time.perf_counter() - started
            with lock:
                if response.status_code != 200:
                    errors.append(f"batch {index}: {response.status_code} {response.text[:200]}")
                else:
                    answers.append((index, elapsed, response.json()))

    threads = [threading.Thread(target=work) for _i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    created = sum(answer["created"] for _i, _s, answer in answers)
    return {
        "events": count,
        "batch": batch,
        "clients": clients,
        "seconds": seconds,
        "per_second": count / seconds,
        "created": created,
        "request_s": sorted(elapsed for _i, elapsed, _a in answers),
        "errors": errors,
        "events_by_id": {e["external_id"]: e for e in events},
    }


def check_throughput(env, ctx, run):
    """Every event created once and attributed as expected; SMS revenue = its events'."""
    env.cr.rollback()  # a fresh snapshot: the server's commits
    problems = list(run["errors"])
    if run["created"] != run["events"]:
        problems.append(f"{run['created']:,} created in the answers, {run['events']:,} sent")
    phone_partner = {number: pid for pid, number in ctx["partners"]}
    env.cr.execute(
        "SELECT external_id, partner_id, trace_id, attribution, amount FROM sms_marketing_event"
        " WHERE source = 'api' AND external_id LIKE 'T%'"
    )
    rows = env.cr.fetchall()
    if len(rows) != run["events"]:
        problems.append(f"{len(rows):,} rows in the table, {run['events']:,} sent")
    rules = Counter()
    wrong = 0
    for external_id, partner_id, trace_id, attribution, amount in rows:
        event = run["events_by_id"][external_id]
        want_partner = phone_partner[event["customer"]["phone"]]
        want = ctx["expected"].get(want_partner, (None, None))
        rules[attribution or "none"] += 1
        if (
            partner_id != want_partner
            or (trace_id, attribution) != want
            or abs(float(amount) - event["amount"]) > 0.005
        ):
            wrong += 1
    if wrong:
        problems.append(f"{wrong:,} events with the wrong contact, amount or attribution")
    env.cr.execute(
        """
        SELECT count(*), COALESCE(sum(t.revenue), 0) FROM sms_marketing_trace t
          LEFT JOIN (SELECT trace_id, sum(revenue) AS revenue FROM sms_marketing_event
                      WHERE trace_id IS NOT NULL GROUP BY trace_id) s ON s.trace_id = t.id
         WHERE t.campaign_id = ANY(%s)
           AND abs(COALESCE(t.revenue, 0) - COALESCE(s.revenue, 0)) > 0.005
        """,
        [ctx["campaigns"]],
    )
    bad_traces = env.cr.fetchone()[0]
    if bad_traces:
        problems.append(f"{bad_traces:,} SMS whose revenue differs from their events' sum")
    env.cr.execute(
        "SELECT count(*), COALESCE(sum(revenue), 0) FROM sms_marketing_trace"
        " WHERE campaign_id = ANY(%s) AND converted_at IS NOT NULL",
        [ctx["campaigns"]],
    )
    converted, revenue = env.cr.fetchone()
    env.cr.rollback()
    return problems, {"rules": dict(rules), "converted_sms": converted, "revenue": revenue}


# ----------------------------------------------------------------------------------------
# 2. Latency
# ----------------------------------------------------------------------------------------


def latency(server, ctx, requests_count, warmup=5):
    rng = random.Random(7)
    client = Client(server.url, ctx["key"])
    now = datetime.now(UTC)
    timings, errors = [], []
    for n in range(-warmup, requests_count):
        partner = rng.choice(ctx["partners"])
        event = order(f"L{n + warmup:05d}", partner[1], n, ctx["currency"], iso(now))
        body = json.dumps({"events": [event]})
        started = time.perf_counter()
        response = client.post(body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or response.json().get("created") != 1:
            errors.append(f"{response.status_code} {response.text[:200]}")
        if n >= 0:
            timings.append(elapsed)
    timings.sort()
    return {
        "requests": requests_count,
        "p50_ms": statistics.median(timings),
        "p95_ms": statistics.quantiles(timings, n=100, method="inclusive")[94],
        "max_ms": timings[-1],
        "mean_ms": statistics.fmean(timings),
        "errors": errors,
    }


# ----------------------------------------------------------------------------------------
# 3. Concurrency
# ----------------------------------------------------------------------------------------


def race(server, key, bodies):
    """POST ``bodies[i]`` from client ``i``, all released at once by a barrier; the
    ``(status, text)`` of each answer."""
    clients = [Client(server.url, key) for _body in bodies]
    barrier = threading.Barrier(len(clients))
    answers = [None] * len(clients)

    def work(index):
        barrier.wait()
        try:
            response = clients[index].post(bodies[index])
            answers[index] = (response.status_code, response.text)
        except requests.RequestException as exc:
            answers[index] = (None, repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def concurrency(env, server, ctx, batch, clients):
    """Three rounds of ``clients`` requests at once; ``(problems, seconds per round)``."""
    partners, currency = ctx["partners"], ctx["currency"]
    occurred = iso(datetime.now(UTC))
    problems, rounds = [], {}

    def events_for(prefix, phones, first=0):
        # one event in ten from a new customer (a contact created by _ingest), the others
        # from known contacts, from the ``first``-th on
        return [
            order(
                f"{prefix}{n:05d}",
                phones[(n // 10) % len(phones)]
                if n % 10 == 0
                else partners[(first + n) % len(partners)][1],
                n,
                currency,
                occurred,
            )
            for n in range(batch)
        ]

    def run(label, sent, shared, phones):
        """``sent[i]``: the events client ``i`` posts; ``shared``: the same events for all."""
        started = time.perf_counter()
        answers = race(server, ctx["key"], [json.dumps({"events": e}) for e in sent])
        rounds[label] = time.perf_counter() - started
        statuses = Counter(status for status, _text in answers)
        if statuses != {200: len(answers)}:
            bad = [text[:300] for status, text in answers if status != 200]
            problems.append(f"{label}: answers {dict(statuses)}, e.g. {bad[0]}")
        outcomes, ids = defaultdict(Counter), defaultdict(set)
        for client, (status, text) in enumerate(answers):
            if status != 200:
                continue
            for result in json.loads(text)["results"]:
                external_id = sent[client][result["index"]]["external_id"]
                outcomes[external_id][result["status"]] += 1
                ids[external_id].add(result.get("id"))
        want = {"created": 1, "duplicate": clients - 1} if shared else {"created": 1}
        if statuses == {200: len(answers)}:
            wrong = [key for key, seen in outcomes.items() if seen != want]
            if wrong:
                problems.append(
                    f"{label}: {len(wrong):,} events not created exactly once "
                    f"(e.g. {wrong[0]}: {dict(outcomes[wrong[0]])})"
                )
            split = [key for key, found in ids.items() if len(found) != 1]
            if split:
                problems.append(f"{label}: {len(split):,} events answered with different ids")
        env.cr.rollback()  # a fresh snapshot
        external_ids = sorted({e["external_id"] for events in sent for e in events})
        env.cr.execute(
            "SELECT count(*) FROM sms_marketing_event WHERE company_id = %s AND source = 'api'"
            " AND external_id = ANY(%s)",
            [env.company.id, external_ids],
        )
        rows = env.cr.fetchone()[0]
        if rows != len(external_ids):
            problems.append(f"{label}: {rows:,} rows for {len(external_ids):,} events")
        if not phones:
            env.cr.rollback()
            return
        env.cr.execute(
            "SELECT sms_e164, count(*) FROM res_partner WHERE sms_e164 = ANY(%s)"
            " GROUP BY sms_e164 HAVING count(*) > 1 ORDER BY 2 DESC",
            [phones],
        )
        twins = env.cr.fetchall()
        if twins:
            problems.append(
                f"{label}: {len(twins)} of {len(phones)} new customers became several "
                f"contacts (e.g. {twins[0][0]}: {twins[0][1]} contacts)"
            )
        env.cr.rollback()

    new_phones = [f"+86139{n:08d}" for n in range(1, 301)]
    groups = [new_phones[i : i + max(1, batch // 10)] for i in (0, 100, 200)]
    events = events_for("Ca", groups[0])
    run("(a) same batch", [events] * clients, True, groups[0])
    events = events_for("Cb", groups[1])
    shuffled = []
    for client in range(clients):
        copy_ = events[:]
        random.Random(client).shuffle(copy_)
        shuffled.append(copy_)
    run("(b) same batch, each client in its own order", shuffled, True, groups[1])
    # (c): nothing shared but the new customers (known contacts and so SMS apart)
    run(
        "(c) distinct events, the same new customers",
        [events_for(f"Cc{client}-", groups[2], client * batch) for client in range(clients)],
        False,
        groups[2],
    )
    # (d): distinct events of the same known contacts, so crediting the same SMS, each
    # client in its own order: no deadlock, no lost update of the SMS' revenue
    credited = [number for partner_id, number in partners if partner_id in ctx["expected"]]
    per_client = []
    for client in range(clients):
        events = [
            order(f"Cd{client}-{n:05d}", credited[n % len(credited)], n, currency, occurred)
            for n in range(batch)
        ]
        random.Random(100 + client).shuffle(events)
        per_client.append(events)
    run("(d) distinct events crediting the same SMS", per_client, False, [])
    env.cr.execute(
        """
        SELECT count(*) FROM sms_marketing_trace t
          LEFT JOIN (SELECT trace_id, sum(revenue) AS revenue FROM sms_marketing_event
                      WHERE trace_id IS NOT NULL GROUP BY trace_id) s ON s.trace_id = t.id
         WHERE t.campaign_id = ANY(%s)
           AND abs(COALESCE(t.revenue, 0) - COALESCE(s.revenue, 0)) > 0.005
        """,
        [ctx["campaigns"]],
    )
    lost = env.cr.fetchone()[0]
    env.cr.rollback()
    if lost:
        problems.append(f"(d) {lost} SMS whose revenue differs from their events' sum")
    return problems, rounds


# ----------------------------------------------------------------------------------------
# 4. Fuzz
# ----------------------------------------------------------------------------------------

DELETE = object()


def mutate(event, path, value):
    event = copy.deepcopy(event)
    target = event
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = int(keys[-1]) if isinstance(target, list) else keys[-1]
    if value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return event


#: Field -> values that make a valid event invalid (wrong types, sizes, formats).
BAD_VALUES = {
    "type": [DELETE, None, "", "ORDER", "refund ", 5, True, [], {}, "x" * 1_000_000],
    "external_id": [DELETE, None, "", "   ", True, 1.5, [], {"id": 1}, "x" * 129,
                    "x" * 1_000_000, "a\u0000b", "\u0000", "a\ud800b"],
    "occurred_at": [True, [], {}, "yesterday", "2026-13-45T00:00:00Z", "9999-12-31T00:00:00Z",
                    "1900-01-01T00:00:00Z", 1e20, -1e20, 10**400, float("nan"), "x" * 100_000],
    "amount": [DELETE, None, True, "abc", [], {}, -1, 1e13, 10**400, float("inf"),
               float("nan"), "1e400", "-0.5", "x" * 100_000],
    "currency": [DELETE, True, 1.5, [], {}, "US", "USDD", "us1", "XYZ", "ZZZ", "ABC", "QQQ",
                 123, "x" * 100_000, "\u0000US"],
    "refers_to": ["H0000001", True, [], "x" * 129],
    "utm_campaign": [True, [], {}, "x" * 257],
    "product": [True, [], "x" * 257],
    "recovery_url": ["ftp://example.com", "javascript:alert(1)", True, [],
                     "https://" + "x" * 3000],
    "customer": [DELETE, None, "+8613800000001", 5, [], {}, True],
    "customer.external_id": [True, 1.5, [], {}, "x" * 129],
    "customer.phone": [True, 1.5, [], {}, "not a phone", "+1", "12", "x" * 65, "+999 123",
                       "\u0000"],
    "customer.email": [True, [], "not-an-email", "a@b", "x" * 300 + "@example.com",
                       "a b@example.com"],
    "customer.name": [True, 1.5, [], {}, "x" * 257],
    "customer.country": [True, [], "ZZZ", "1A", "C"],
    "customer.lang": [True, [], "english", "EN_us", "x" * 17],
    "customer.consent": ["yes", 5, [], True],
    "customer.consent.action": [DELETE, None, "maybe", 5, []],
    "customer.consent.evidence": [DELETE, "", True, [], "x" * 2001],
    "customer.consent.at": ["never", True, [], "9999-01-01T00:00:00Z", 10**400],
    "lines": ["x", 5, {}, True, [1], ["x"], [[]], [{"product": "A"}] * 201],
    "lines.0.product": [True, [], "x" * 257],
    "lines.0.name": [True, {}, "x" * 257],
    "lines.0.quantity": ["x", -1, True, [], 1e13, 10**400],
    "lines.0.price": ["x", -5, True, {}, 10**400],
    "data": ["x", 5, [], True, {"blob": "x" * 20_000}],
}  # fmt: skip

#: Valid events except for text the database cannot store (NUL) or encode (lone
#: surrogates), where it would end up in a column, a jsonb payload or the ledger.
STORAGE_VALUES = {
    "lines.0.name": ["tea\u0000cup", "tea\ud800"],
    "data": [{"note": "a\u0000b"}, {"note": "\udfff"}, {"k\u0000": 1}],
    "utm_campaign": ["spring\u0000"],
    "product": ["\ud83d"],
    "customer.consent.evidence": ["checkbox\u0000"],
}
#: ... and new customers (contacts created by the event) named so.
NEW_CUSTOMERS = [
    {"phone": "+8613912345678", "name": "Fu\u0000zz"},
    {"phone": "+8613912345679", "name": "Fu\udc00zz"},
    {"email": "fu\u0000zz@example.com"},
    {"external_id": "fuzz\u0000customer", "name": "Fuzz"},
]

AUTH_HEADERS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrongkey",
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer " + "x" * 10_000,
    "Bearer \u00e9\u00e8",
]


def fuzz_cases(ctx):
    """``(label, body, headers)`` of at least 200 bad requests."""
    key = ctx["key"]
    now = iso(datetime.now(UTC))
    phone = ctx["partners"][0][1]
    base = {
        "type": "order",
        "external_id": "F-base",
        "occurred_at": now,
        "amount": 12.5,
        "currency": ctx["currency"],
        "utm_campaign": "spring",
        "customer": {
            "phone": phone,
            "email": "fuzz@example.com",
            "name": "Fuzz",
            "country": "CN",
            "lang": "en_US",
            "consent": {"action": "opt_in", "evidence": "checkbox", "at": now},
        },
        "lines": [
            {"product": "TEA-250", "name": "Tea", "quantity": 1, "price": 8},
            {"product": "CUP-01", "name": "Cup", "quantity": 1, "price": 4.5},
        ],
        "data": {"channel": "web"},
    }
    cases = []
    n = 0

    def event_case(label, event):
        nonlocal n
        n += 1
        if isinstance(event, dict) and not label.startswith("external_id"):
            event = {**event, "external_id": f"F{n:04d}"}
        cases.append((label, json.dumps({"events": [event]}).encode(), None))

    for path, values in BAD_VALUES.items():
        for value in values:
            shown = "<deleted>" if value is DELETE else repr(value)
            event_case(f"{path} = {shown[:40]}", mutate(base, path, value))
    for path, values in STORAGE_VALUES.items():
        for value in values:
            event_case(f"{path} = {value!r} (storage)", mutate(base, path, value))
    # custom events and references
    custom = {**mutate(base, "amount", DELETE), "type": "custom"}
    custom.pop("currency")
    for name in (DELETE, "bad name!", "x" * 65, True, []):
        event_case(
            f"custom name = {'<deleted>' if name is DELETE else repr(name)[:40]}",
            mutate(custom, "name", name),
        )
    refund = {"type": "refund", "external_id": "F-refund", "amount": 1, "currency": ctx["currency"]}
    event_case("refund without refers_to", refund)
    event_case("refund referring to itself", {**refund, "refers_to": "F-refund"})
    event_case("refund of an unknown order, no customer", {**refund, "refers_to": "nope"})
    event_case(
        "order_paid of an unknown order, no customer",
        {"type": "order_paid", "external_id": "F-paid", "refers_to": "nope"},
    )
    for customer in NEW_CUSTOMERS:
        event_case(f"new customer {customer!r:.40} (storage)", {**base, "customer": customer})
    event_case("event is a string", "order")
    event_case("event is a list", [base])
    event_case("event is null", None)

    def request_case(label, body, headers=None):
        cases.append((label, body, headers))

    for header in AUTH_HEADERS:
        request_case(
            f"Authorization: {header!r:.30}",
            json.dumps({"events": [base]}).encode(),
            {"Authorization": header},
        )
    request_case("Authorization: key of another length", b"{}", {"Authorization": f"Bearer {key}x"})
    altered = key[:-1] + ("0" if key[-1] != "0" else "1")
    request_case("Authorization: key altered", b"{}", {"Authorization": f"Bearer {altered}"})
    request_case("Authorization: Token <key>", b"{}", {"Authorization": f"Token {key}"})
    request_case("Authorization: key twice", b"{}", {"Authorization": f"Bearer {key} {key}"})
    for company in ("abc", "999999", "-1", "0", "1" * 40, "\u00b2", "1.0", "1,2"):
        request_case(f"X-Company-Id: {company!r:.20}", b'{"events": []}', {"X-Company-Id": company})
    request_case(
        "Idempotency-Key of 256 characters", b'{"events": []}', {"Idempotency-Key": "k" * 256}
    )
    first = json.dumps({"events": [mutate(base, "amount", "abc")]}).encode()
    request_case(
        "Idempotency-Key, first use (rejected event)", first, {"Idempotency-Key": "fuzz-key"}
    )
    request_case(
        "Idempotency-Key reused with another body",
        b'{"events": [1]}',
        {"Idempotency-Key": "fuzz-key"},
    )
    for label, body in (
        ("empty body", b""),
        ("malformed JSON: {", b"{"),
        ("malformed JSON: single quotes", b"{'events': []}"),
        ("malformed JSON: [1, 2", b"[1, 2"),
        ("malformed JSON: nul", b"nul"),
        ("malformed JSON: trailing comma", b'{"events": [1,]}'),
        ("malformed JSON: events: [}", b'{"events": [}'),
        ("not UTF-8", b'{"events": ["\xff\xfe"]}'),
        ("UTF-16 garbage", b"\xff\xfe\x00\x00\x00"),
        ("1,000,000 digits", b'{"events": [{"amount": ' + b"9" * 1_000_000 + b"}]}"),
        ("100,000 nested lists", b"[" * 100_000 + b"]" * 100_000),
        ("100,000 nested objects",
         b'{"events": [' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"]}"),
        ("non-object JSON: []", b"[]"),
        ("non-object JSON: 1", b"1"),
        ("non-object JSON: string", b'"events"'),
        ("non-object JSON: null", b"null"),
        ("non-object JSON: true", b"true"),
        ("non-object JSON: list of object", b'[{"events": []}]'),
        ("object without events", b"{}"),
        ("events: null", b'{"events": null}'),
        ("events: []", b'{"events": []}'),
        ("events: {}", b'{"events": {}}'),
        ("events: string", b'{"events": "order"}'),
        ("events: 5", b'{"events": 5}'),
        ("events: true", b'{"events": true}'),
        ("Events (capitalised)", json.dumps({"Events": [base]}).encode()),
        ("events twice, last not a list", b'{"events": [{}], "events": 5}'),
        ("1,001 events", json.dumps({"events": [base] * 1001}).encode()),
        ("10 MB body", json.dumps({"events": [{"data": {"x": "y" * 10_000_000}}]}).encode()),
    ):  # fmt: skip
        request_case(label, body)

    def chunks():
        yield b'{"events": [{"data": {"x": "'
        for _i in range(10):
            yield b"y" * 1_000_000
        yield b'"}}]}'

    request_case("10 MB chunked body (no Content-Length)", chunks)
    request_case(
        "form-encoded body", b"events=1", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    request_case(
        "JSON sent as text/plain, events: []", b'{"events": []}', {"Content-Type": "text/plain"}
    )
    return cases


def short(text):
    """An answer in one line: the title of an HTML page, else the start of the text."""
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    text = f"{title.group(1)} (HTML)" if title else text
    return " ".join(text.split())[:160]


def classify(status, raw):
    """``(outcome codes, failure or None)`` of one answer to a bad request."""
    shown = short(raw)
    if status is None:
        return ["no answer"], f"no answer: {shown}"
    if status >= 500:
        return [f"{status}"], f"status {status}: {shown}"
    try:
        answer = json.loads(raw)
    except ValueError:
        return [f"{status} not JSON"], f"status {status}, not JSON: {shown}"
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        code = answer["error"].get("code")
        if status < 400 or not code or not answer["error"].get("message"):
            return [f"{status} {code}"], f"error without a status, code or message: {shown}"
        return [f"{status} {code}"], None
    if status == 200 and isinstance(answer, dict) and isinstance(answer.get("results"), list):
        codes = []
        for result in answer["results"]:
            if result.get("status") != "rejected" or not result.get("code"):
                return ["200 accepted"], f"a bad event was accepted: {shown}"
            codes.append(f"rejected {result['code']}")
        if not codes:
            return ["200 empty results"], f"no result: {shown}"
        return codes, None
    return [f"{status} other"], f"unexpected answer: {shown}"


def fuzz(env, server, ctx):
    cases = fuzz_cases(ctx)
    base_headers = {"Authorization": f"Bearer {ctx['key']}", "Content-Type": "application/json"}
    session = requests.Session()
    table, failures = Counter(), []
    for label, body, headers in cases:
        merged = dict(base_headers)
        for name, value in (headers or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        data = body() if callable(body) else body
        try:
            response = session.post(
                server.url + ENDPOINT,
                data=data,
                headers={k: v.encode("latin-1", "replace") for k, v in merged.items()},
                timeout=120,
            )
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = None, repr(exc)
            session = requests.Session()
        codes, failure = classify(status, text)
        table.update(codes)
        if failure:
            failures.append(f"{label}: {failure}")
    env.cr.rollback()
    env.cr.execute("SELECT count(*) FROM sms_marketing_event WHERE external_id LIKE 'F%'")
    written = env.cr.fetchone()[0]
    if written:
        failures.append(f"{written} events of the bad requests were written")
    env.cr.rollback()
    return {"requests": len(cases), "table": table, "failures": failures}


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------


def log_findings(text):
    """Deadlocks, concurrency retries, tracebacks and their exceptions in a server log."""
    lines = text.splitlines()
    exceptions = Counter(
        line[:120] for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Overflow)\b", line)
    )
    return {
        "deadlocks": sum("deadlock detected" in line.lower() for line in lines),
        "retries": sum("tries left" in line for line in lines),
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "exceptions": dict(exceptions.most_common()),
    }


def settle(timeout=300):
    """Before a measured run: dirty pages written (``CHECKPOINT``) and no autovacuum worker
    busy on the database, so that no run pays for the setup's background work."""
    import psycopg2

    conn = psycopg2.connect(dbname=DATABASE)
    conn.autocommit = True
    with conn.cursor() as cr:
        try:
            cr.execute("CHECKPOINT")
        except psycopg2.errors.InsufficientPrivilege:
            print("  (no CHECKPOINT: needs a superuser or the pg_checkpoint role)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cr.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'autovacuum worker' AND datname = %s",
                [DATABASE],
            )
            if not cr.fetchone()[0]:
                break
            time.sleep(1)
    conn.close()


def drop_databases():
    import psycopg2

    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        for name in (DATABASE, f"{DATABASE}_template"):
            cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="orders of the throughput run")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--clients", type=int, default=2, help="clients of the throughput run")
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--history", type=int, default=1_000_000, help="events already stored")
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="Odoo workers (runs 1, 2, 4)")
    parser.add_argument("--race-clients", type=int, default=4)
    parser.add_argument("--race-workers", type=int, default=4, help="Odoo workers (run 3)")
    parser.add_argument(
        "--db-filter", action="store_true", help="serve with --db-filter too (slower)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()

    cpu = cpu_reference()
    print(f"CPU reference: {cpu:.2f} s (0.45 s in a fast hour here, 1.5 s in a slow one)")
    results = {
        "benchmark": "events",
        "at": datetime.now().isoformat(timespec="seconds"),
        "cpu_reference_s": cpu,
        "args": vars(args),
    }
    failed = []
    try:
        fresh_database(DATABASE)
        odoo = setup_odoo(DATABASE)
        from odoo.modules.registry import Registry

        registry = Registry(DATABASE)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            cr.execute("SELECT current_setting('server_version')")
            print(f"PostgreSQL {cr.fetchone()[0]}, {args.workers} Odoo workers, no cron")
            print(f"== setup: {args.contacts:,} contacts (SQL), 2 campaigns' traces", flush=True)
            started = time.perf_counter()
            ctx = setup(env, args.contacts)
            print(
                f"  {time.perf_counter() - started:.1f} s; {len(ctx['expected']):,} contacts "
                f"with an SMS to credit; company currency {ctx['currency']}"
            )
            currency_id = env.company.currency_id.id
            partner_ids = [p[0] for p in ctx["partners"]]

            with OdooServer(odoo, args.workers, args.db_filter) as server:
                warm(server, ctx["key"], args.workers)
                print(
                    f"== 1. throughput: {args.events:,} orders, batches of {args.batch:,}, "
                    f"{args.clients} clients",
                    flush=True,
                )
                settle()
                run = throughput(server, ctx, args.events, args.batch, args.clients)
                problems, attribution = check_throughput(env, ctx, run)
                failed += [f"throughput: {p}" for p in problems]
                request_s = run.pop("request_s")
                run.pop("events_by_id")
                run["request_p50_s"] = statistics.median(request_s) if request_s else None
                run["request_max_s"] = request_s[-1] if request_s else None
                results["throughput"] = {**run, **attribution}
                print(
                    f"  {run['seconds']:.2f} s, {run['per_second']:,.0f} events/s; a request "
                    f"of {args.batch:,}: p50 {run['request_p50_s']:.3f} s, max "
                    f"{run['request_max_s']:.3f} s; attribution {attribution['rules']}, "
                    f"{attribution['converted_sms']:,} SMS converted, revenue "
                    f"{attribution['revenue']:,.2f}; checks: "
                    + ("; ".join(problems) if problems else "ok")
                )

                print(f"== 2. latency: {args.history:,} events of history (SQL)", flush=True)
                started = time.perf_counter()
                inserted = insert_history(env, args.history, partner_ids, currency_id)
                print(
                    f"  {inserted:,} rows in {time.perf_counter() - started:.1f} s "
                    "(vacuumed and analyzed)"
                )
                settle()
                lat = latency(server, ctx, args.latency_requests)
                failed += [f"latency: {e}" for e in lat["errors"][:3]]
                results["latency"] = {**lat, "history": inserted}
                print(
                    f"  {args.latency_requests} single-event POSTs: p50 {lat['p50_ms']:.1f} ms, "
                    f"p95 {lat['p95_ms']:.1f} ms, max {lat['max_ms']:.1f} ms, mean "
                    f"{lat['mean_ms']:.1f} ms"
                    + (f"; errors {lat['errors'][:2]}" if lat["errors"] else "")
                )

                print("== 4. fuzz: bad requests", flush=True)
                fz = fuzz(env, server, ctx)
                log1 = log_findings(server.log())
            if fz["requests"] < FUZZ_MIN:
                fz["failures"].append(f"only {fz['requests']} bad requests")
            results["fuzz"] = {**fz, "table": dict(fz["table"]), "server_log": log1}
            print(f"  {fz['requests']} requests; code -> count:")
            for code, count in sorted(fz["table"].items(), key=lambda item: (-item[1], item[0])):
                print(f"    {code:<40} {count:>5}")
            for failure in fz["failures"]:
                print(f"  FAILED {failure}")
            print(
                f"  server log: {log1['tracebacks']} tracebacks, {log1['retries']} concurrency "
                f"retries, {log1['deadlocks']} deadlocks"
            )
            for line, count in log1["exceptions"].items():
                print(f"    {count:>3} x {line}")

            print(
                f"== 3. concurrency: {args.race_clients} clients at once, "
                f"{args.race_workers} Odoo workers",
                flush=True,
            )
            with OdooServer(odoo, args.race_workers, args.db_filter) as server:
                warm(server, ctx["key"], args.race_workers)
                race_problems, rounds = concurrency(env, server, ctx, args.batch, args.race_clients)
                log3 = log_findings(server.log())
            if log3["deadlocks"]:
                race_problems.append(f"{log3['deadlocks']} deadlocks in the server log")
            results["concurrency"] = {
                "problems": race_problems,
                "rounds_s": rounds,
                "server_log": log3,
            }
            for label, seconds in rounds.items():
                print(f"  {label}: all answers in {seconds:.2f} s")
            for problem in race_problems:
                print(f"  FAILED {problem}")
            print(
                f"  server log: {log3['retries']} concurrency retries, {log3['deadlocks']} "
                f"deadlocks, {log3['tracebacks']} tracebacks"
            )
            for line, count in log3["exceptions"].items():
                print(f"    {count:>3} x {line}")
    finally:
        if not args.keep:
            drop_databases()

    tp, lat = results["throughput"], results["latency"]
    race_ok = not results["concurrency"]["problems"]
    fuzz_ok = not results["fuzz"]["failures"]
    tp_ok = tp["per_second"] >= THROUGHPUT_TARGET
    lat_ok = lat["p95_ms"] < LATENCY_TARGET_MS
    print()
    print("== summary")
    rows = [
        (
            f"1. throughput, {tp['events']:,} orders, {tp['clients']} clients x {tp['batch']:,}",
            f"{tp['per_second']:,.0f} events/s ({tp['seconds']:.2f} s)",
            f">= {THROUGHPUT_TARGET:,}/s",
            verdict(tp_ok),
        ),
        (
            f"2. latency, 1 event, {lat['history']:,} in the table",
            f"p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms",
            f"< {LATENCY_TARGET_MS:.0f} ms",
            verdict(lat_ok),
        ),
        (
            f"3. concurrency, {args.race_clients} clients at once, 4 rounds",
            "ok" if race_ok else f"{len(results['concurrency']['problems'])} problems",
            "exactly once",
            "PASS" if race_ok else "FAIL",
        ),
        (
            f"4. fuzz, {results['fuzz']['requests']} bad requests",
            "ok" if fuzz_ok else f"{len(results['fuzz']['failures'])} failures",
            "no 5xx, JSON codes",
            "PASS" if fuzz_ok else "FAIL",
        ),
    ]
    for label, value, target, mark in rows:
        print(f"  {label:<52} {value:<36} target {target:<20} {mark}")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"events-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path.relative_to(REPO)}")
    failed += results["concurrency"]["problems"] + results["fuzz"]["failures"]
    if not race_ok or not fuzz_ok or failed:
        sys.exit(f"{len(failed)} check(s) failed")


if __name__ == "__main__":
    main()
