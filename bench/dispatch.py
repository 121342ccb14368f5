#!/usr/bin/env python3
"""Benchmark: the dispatch engine and the delivery-report webhook, each beside its ceiling.

    make bench-dispatch
    python3 bench/dispatch.py --rows 100000 --single-rows 20000 --webhook-seconds 10

In a fresh database (``sms_marketing_bench_dispatch``, addon and benchmark helper installed,
no demo data), against the local gateway server running in its own process
(``bench/gateway_server.py``, standard library HTTP/1.1 with keep-alive):

1. **Batch gateway**: ``--rows`` queued traces dispatched through a generic HTTP gateway
   taking 500 numbers per request, end to end (claim, send, parse, every state written
   back), beside the raw ``requests.Session`` ceiling: the same requests (500 messages each)
   sent in a bare loop by this process, nothing written anywhere.
2. **One message per request**: ``--single-rows`` traces through a gateway taking one message
   per request, with one connection and with four, beside the raw single-connection ceiling
   (a bare ``requests.Session`` loop posting the same messages to the same server).
3. **Memory**: peak resident memory of this process during the batch run, for a tenth of the
   queue and for the whole queue (bounded memory: the two stay close).
4. **Webhooks** (needs ``wrk``: ``apt-get install wrk``): Odoo served by ``odoo-bin`` with two
   workers; wrk posts one delivery report per request (a distinct message id each time) to
   our status webhook, then, in the same run, to a no-op route declared exactly like it
   (``bench/addons/sms_marketing_bench``); the ratio of the two request rates is reported.

Every figure is checked: the gateway must have received each number exactly once and every
trace must end ``sent``; the webhook run must have moved traces to ``delivered``.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import requests

# common (first) puts the repository on the import path
from common import REPO, PeakRss, cpu_reference, fresh_database, odoo_addons_path, setup_odoo
from local_gateway import http_gateway_values

DATABASE = "sms_marketing_bench_dispatch"


class GatewayProcess:
    """The local gateway server in a child process (one process per connection)."""

    def __init__(self, delay=0.0):
        self.delay = delay

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "gateway_server.py"), f"--delay={self.delay}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.proc.stdout.readline().strip()}"
        self.session = requests.Session()
        return self

    def stats(self):
        return self.session.get(f"{self.url}/stats", timeout=10).json()

    def reset(self):
        self.session.delete(f"{self.url}/stats", timeout=10)

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def queue_traces(env, gateway, count, prefix):
    """Queue ``count`` traces (set-based: the benchmark measures dispatch, not queueing)."""
    env.cr.execute(
        """
        INSERT INTO sms_marketing_trace (company_id, gateway_id, number, country_code, body,
                                         state, message_class, scheduled_at, attempts,
                                         create_date)
        SELECT %s, %s, %s || lpad(n::text, 7, '0'), 'CN',
               'Flash sale: 20%% off everything until Sunday, see you in store!', 'queued',
               'marketing', now() at time zone 'utc', 0, now() at time zone 'utc'
          FROM generate_series(1, %s) n
        """,
        [env.company.id, gateway.id, prefix, count],
    )
    env.cr.commit()
    env.cr.execute("ANALYZE sms_marketing_trace")  # as autovacuum would after a campaign
    env.cr.commit()


def dispatch_all(env):
    """Run the dispatcher like the cron does until the queue is empty; returns seconds."""
    dispatcher = env["sms.marketing.dispatcher"]
    started = time.perf_counter()
    while dispatcher._cron_dispatch(time_budget=600):
        env.cr.commit()  # as the cron framework does between calls
    env.cr.commit()
    return time.perf_counter() - started


WORKER = """
import sys, odoo
odoo.tools.config.parse_config(["--addons-path=" + sys.argv[1], "--database=" + sys.argv[2],
                                 "--log-level=warn"])
from odoo.modules.registry import Registry
registry = Registry(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # go
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    while env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=600, claim_size=500):
        cr.commit()
"""


def start_workers(odoo, count):
    """Start ``count`` dispatcher processes (like cron workers), loaded and waiting."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, odoo_addons_path(odoo), DATABASE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _i in range(count)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    return workers


def run_workers(workers):
    """Let the waiting dispatcher processes go; seconds until they emptied the queue."""
    started = time.perf_counter()
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        if worker.wait():
            sys.exit("a dispatcher process failed")
    return time.perf_counter() - started


def check_sent(env, gateway, count, server):
    env.cr.execute(
        "SELECT state, count(*) FROM sms_marketing_trace WHERE gateway_id = %s GROUP BY state",
        [gateway.id],
    )
    states = dict(env.cr.fetchall())
    stats = server.stats()
    if states != {"sent": count} or stats["messages"] != count or stats["distinct"] != count:
        sys.exit(f"dispatch check failed: traces {states}, gateway saw {stats}")


def raw_ceiling(url, bodies):
    """Messages per second of a bare requests.Session loop posting ``bodies``."""
    session = requests.Session()
    started = time.perf_counter()
    messages = 0
    for body, count in bodies:
        response = session.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        response.raise_for_status()
        response.json()
        messages += count
    return messages / (time.perf_counter() - started)


def message_json(number, ref):
    return json.dumps(
        {
            "to": number,
            "text": "Flash sale: 20% off everything until Sunday, see you in store!",
            "from": "",
            "ref": str(ref),
        }
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(url, body_script, seconds, connections=4):
    """Requests per second wrk sustains against ``url`` (POST, body from the Lua script)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(body_script)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"wrk saw {non2xx.group(1)} failed requests on {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


WRK_SCRIPT = """
request = function()
  local body = string.format('{"id": "LG%d", "status": "delivered"}', math.random(1, 500000))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                 ["Connection"] = "close"}, body)
end
"""


def webhook_benchmark(odoo, env, gateway, seconds):
    """Status webhook vs no-op route, on an odoo-bin with two workers."""
    token = gateway.sudo().webhook_token
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tools" / "odoo_bin.py"),
            f"--addons-path={odoo_addons_path(odoo)}",
            f"--database={DATABASE}",
            f"--db-filter=^{DATABASE}$",
            f"--http-port={port}",
            "--workers=2",
            "--max-cron-threads=0",
            "--log-level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _attempt in range(120):
            try:
                requests.get(f"{base}/web/health", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.5)
        # warm both routes (registry, workers)
        for path in ("sms_marketing/webhook", "sms_marketing_bench/noop"):
            requests.post(
                f"{base}/{path}/{token}/status", json={"id": "warm", "status": "sent"}, timeout=30
            )
        rates = {}
        for label, path in (
            ("no-op route", "sms_marketing_bench/noop"),
            ("status webhook", "sms_marketing/webhook"),
        ):
            rates[label] = wrk(f"{base}/{path}/{token}/status", WRK_SCRIPT, seconds)
        env.cr.rollback()  # a fresh snapshot, to see what the webhook processes wrote
        env.cr.execute(
            "SELECT count(*) FROM sms_marketing_trace WHERE gateway_id = %s AND state = "
            "'delivered'",
            [gateway.id],
        )
        delivered = env.cr.fetchone()[0]
        return rates, delivered
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--single-rows", type=int, default=100_000)
    parser.add_argument("--webhook-seconds", type=int, default=10)
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="provider latency for the concurrency run"
    )
    args = parser.parse_args()

    print(
        f"CPU reference: {cpu_reference():.2f} s (0.45 s in a fast hour here, 1.5 s in a slow one)"
    )
    fresh_database(DATABASE, modules="sms_marketing,sms_marketing_bench")
    odoo = setup_odoo(DATABASE)
    from odoo.modules.registry import Registry

    registry = Registry(DATABASE)
    with GatewayProcess() as server, registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["sms.marketing.gateway"].search([]).active = False
        batch = env["sms.marketing.gateway"].create(
            {"name": "Batch", **http_gateway_values(server.url, batch_size=500)}
        )
        single = env["sms.marketing.gateway"].create(
            {"name": "Single", **http_gateway_values(server.url), "concurrency": 1}
        )
        cr.commit()

        print(f"== batch gateway (500 per request), {args.rows:,} traces", flush=True)
        small = max(1, args.rows // 10)
        queue_traces(env, batch, small, "+86137")
        with PeakRss() as memory_small:
            dispatch_all(env)
        cr.execute("TRUNCATE sms_marketing_trace CASCADE")
        cr.commit()
        server.reset()
        queue_traces(env, batch, args.rows, "+86138")
        with PeakRss() as memory:
            seconds = dispatch_all(env)
        check_sent(env, batch, args.rows, server)
        ours = args.rows / seconds
        numbers = [f"+86139{n:07d}" for n in range(args.rows)]
        bodies = [
            (
                '{"messages": ['
                + ", ".join(message_json(n, i) for i, n in enumerate(numbers[s : s + 500]))
                + "]}",
                len(numbers[s : s + 500]),
            )
            for s in range(0, len(numbers), 500)
        ]
        raw = raw_ceiling(f"{server.url}/batch", bodies)
        print(f"  ours: {seconds:.2f} s, {ours:,.0f} SMS/s end to end (states written back)")
        print(f"  raw requests.Session ceiling (same requests, nothing written): {raw:,.0f} SMS/s")
        print(
            f"  peak RSS: {memory_small.peak:,.0f} MB for {small:,} traces, "
            f"{memory.peak:,.0f} MB for {args.rows:,}"
        )

        print(f"== one message per request, {args.single_rows:,} traces", flush=True)
        bodies = [(message_json(f"+86135{n:07d}", n), 1) for n in range(args.single_rows)]
        raw_single = raw_ceiling(f"{server.url}/send", bodies)
        print(f"  raw requests.Session ceiling, one connection: {raw_single:,.0f} SMS/s")

        def run(label, concurrency=1, processes=0, latency_server=None, rows=args.single_rows):
            target = latency_server or server
            cr.execute("TRUNCATE sms_marketing_trace CASCADE")
            single.write({"concurrency": concurrency, "http_url": f"{target.url}/send"})
            cr.commit()
            target.reset()
            workers = start_workers(odoo, processes) if processes else None
            queue_traces(env, single, rows, "+86134")
            if workers:
                seconds = run_workers(workers)
                cr.rollback()
            else:
                seconds = dispatch_all(env)
            check_sent(env, single, rows, target)
            return rows / seconds

        ours = run("1 connection")
        print(f"  ours, 1 connection: {ours:,.0f} SMS/s ({ours / raw_single:.0%} of the ceiling)")
        threads = run("4 connections", concurrency=4)
        print(
            f"  ours, 4 connections (threads): {threads:,.0f} SMS/s "
            f"({threads / raw_single:.0%}: the HTTP client is CPU-bound under the GIL here)"
        )
        two = run("2 dispatchers", processes=2)
        print(
            f"  ours, 2 dispatcher processes (2 cron workers): {two:,.0f} SMS/s "
            f"({two / raw_single:.0%} of the ceiling)"
        )
        with GatewayProcess(delay=args.latency) as slow:
            rows = max(200, args.single_rows // 20)
            slow_bodies = [(message_json(f"+86133{n:07d}", n), 1) for n in range(rows)]
            raw_slow = raw_ceiling(f"{slow.url}/send", slow_bodies)
            one = run("latency, 1", latency_server=slow, rows=rows)
            eight = run("latency, 8", concurrency=8, latency_server=slow, rows=rows)
        print(
            f"  with {args.latency * 1000:.0f} ms of provider latency ({rows:,} traces): raw "
            f"ceiling {raw_slow:,.0f} SMS/s, ours 1 connection {one:,.0f}, "
            f"8 connections {eight:,.0f} ({eight / raw_slow:.1f}x)"
        )

        if args.skip_webhooks:
            return
        print(
            "== delivery-report webhooks (odoo-bin, 2 workers, wrk -t2 -c4, a connection each)",
            flush=True,
        )
        cr.execute("TRUNCATE sms_marketing_trace CASCADE")
        cr.commit()
        # traces the reports refer to (wrk posts reports for random ids among them)
        cr.execute(
            """
            INSERT INTO sms_marketing_trace (company_id, gateway_id, number, body, state,
                                             message_class, scheduled_at, attempts,
                                             provider_id, create_date)
            SELECT %s, %s, '+86136' || lpad(n::text, 7, '0'), 'x', 'sent', 'marketing',
                   now() at time zone 'utc', 1, 'LG' || n, now() at time zone 'utc'
              FROM generate_series(1, 500000) n
            """,
            [env.company.id, batch.id],
        )
        cr.commit()
        rates, delivered = webhook_benchmark(odoo, env, batch, args.webhook_seconds)
        cr.commit()
        for label, rate in rates.items():
            print(f"  {label}: {rate:,.0f} requests/s")
        print(
            f"  webhook / no-op: {rates['status webhook'] / rates['no-op route']:.0%} "
            f"({delivered:,} traces delivered by the reports)"
        )


if __name__ == "__main__":
    main()
