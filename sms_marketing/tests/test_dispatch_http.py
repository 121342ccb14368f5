import os
import signal
import subprocess
import sys
import time
from collections import Counter

import odoo
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from .common import SmsMarketingDispatchCommon
from .local_gateway import LocalGateway, http_gateway_values

DUE_NOW = (
    "UPDATE sms_marketing_trace SET scheduled_at = now() at time zone 'utc' - interval '1s'"
    " WHERE id = %s"
)


class DispatchHttpCommon(SmsMarketingDispatchCommon):
    def start_gateway(self, batch_size=1, **options):
        server = LocalGateway(**options).start()
        self.addCleanup(server.stop)
        gateway = self.env["sms.marketing.gateway"].create(
            {
                "name": "Local HTTP",
                "sequence": 1,
                "timeout": 2.0,
                **http_gateway_values(server.url, batch_size),
            }
        )
        return server, gateway

    def numbers(self, count, start=0):
        return [f"+8613700{start + i:06d}" for i in range(count)]

    def queue_numbers(self, numbers):
        return self.env["sms.marketing.trace"].create(
            [{"number": number, "body": f"Hi {number}", "country_code": "CN"} for number in numbers]
        )


@tagged("post_install", "-at_install")
class TestDispatchHttp(DispatchHttpCommon):
    def test_batch_gateway_sends_500_per_request_and_records_ids(self):
        server, gateway = self.start_gateway(batch_size=500)
        traces = self.queue_numbers(self.numbers(1200))
        self.dispatch()
        self.assertEqual(server.requests, 3)
        self.assertEqual(sorted(server.numbers()), sorted(traces.mapped("number")))
        self.assertEqual(set(traces.mapped("state")), {"sent"})
        by_ref = {ref: provider_id for _to, ref, provider_id in server.received}
        for trace in traces:
            self.assertEqual(trace.provider_id, by_ref[str(trace.id)])
        self.assertEqual(traces.gateway_id, gateway)
        self.assertConnectionsClosed(server)

    def test_single_message_gateway_uses_concurrent_connections(self):
        server, gateway = self.start_gateway(delay=0.05)
        gateway.concurrency = 4
        traces = self.queue_numbers(self.numbers(40))
        self.dispatch()
        self.assertEqual(set(traces.mapped("state")), {"sent"})
        self.assertEqual(len(server.received), 40)
        self.assertGreater(server.max_concurrent, 1)
        self.assertLessEqual(server.max_concurrent, 4)
        self.assertConnectionsClosed(server)

    def assertConnectionsClosed(self, server):
        """The dispatcher leaves no connection open behind it (a provider limits those a
        client holds; left to the garbage collector, they stay open for a long time)."""
        deadline = time.monotonic() + 2
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(server.open_connections, 0)

    def test_rate_limit_paces_the_gateway(self):
        server, gateway = self.start_gateway()
        gateway.write({"rate_limit": 40.0, "concurrency": 1})
        self.queue_numbers(self.numbers(12))
        started = time.monotonic()
        self.dispatch()
        # 12 messages at 40/s cannot leave in less than 11 intervals of 25 ms
        self.assertGreaterEqual(time.monotonic() - started, 11 / 40)
        self.assertEqual(len(server.received), 12)

    def test_server_errors_retry_with_backoff_then_succeed(self):
        server, _gateway = self.start_gateway(fail_first=1)
        trace = self.queue_numbers(self.numbers(1))
        self.dispatch()
        self.assertEqual(
            (trace.state, trace.error_code, trace.attempts), ("queued", "server_error", 1)
        )
        self.assertGreater(trace.scheduled_at, trace.create_date)
        self.env.cr.execute(
            DUE_NOW,
            [trace.id],
        )
        self.dispatch()
        self.assertEqual((trace.state, trace.attempts), ("sent", 2))
        self.assertEqual(len(server.received), 1)

    def test_permanent_refusal_fails_at_once(self):
        number = self.numbers(1)[0]
        server, _gateway = self.start_gateway(refuse=[number])
        trace = self.queue_numbers([number])
        self.dispatch()
        self.assertEqual(trace.state, "failed")
        self.assertEqual(trace.attempts, 1)
        self.assertFalse(server.received)

    def test_read_timeout_is_never_resent(self):
        number = self.numbers(1)[0]
        _server, gateway = self.start_gateway(hang=[number])
        gateway.timeout = 0.5
        trace = self.queue_numbers([number])
        self.dispatch()
        self.assertEqual((trace.state, trace.error_code), ("unknown", "timeout"))
        self.assertEqual(self.dispatch(), 0)

    def test_exhausted_retries_fail_over_to_the_fallback(self):
        server, gateway = self.start_gateway(fail_first=100)
        backup_server, backup = self.start_gateway()
        backup.sequence = 50
        gateway.write({"fallback_id": backup.id, "max_attempts": 2})
        trace = self.queue_numbers(self.numbers(1))
        self.dispatch()
        self.assertEqual((trace.state, trace.gateway_id, trace.attempts), ("queued", gateway, 1))
        self.env.cr.execute(DUE_NOW, [trace.id])
        # second failure exhausts the gateway: the same run hands over to the fallback
        self.dispatch()
        self.assertEqual((trace.state, trace.gateway_id, trace.attempts), ("sent", backup, 1))
        self.assertEqual(len(backup_server.received), 1)
        self.assertFalse(server.received)
        self.assertEqual(server.requests, 2)

    def test_failures_without_fallback_end_failed_with_reason(self):
        _server, gateway = self.start_gateway(fail_first=100)
        gateway.max_attempts = 1
        trace = self.queue_numbers(self.numbers(1))
        self.dispatch()
        self.assertEqual((trace.state, trace.error_code), ("failed", "server_error"))


DISPATCH_WORKER = """
import sys, odoo
from odoo.tools import config
config.parse_config(["--addons-path=" + sys.argv[1], "--database=" + sys.argv[2],
                     "--log-level=warn"])
from odoo.modules.registry import Registry
registry = Registry(sys.argv[2])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    env["sms.marketing.dispatcher"]._cron_dispatch(time_budget=120, claim_size=int(sys.argv[3]))
"""


@tagged("post_install", "-at_install")
class TestDispatchProcesses(TransactionCase):
    """Real dispatcher processes against one local gateway, on committed data.

    The processes cannot see a test transaction, so these tests write through their own
    connection, commit, and delete what they created afterwards. The test transaction itself
    writes nothing (its row locks would block the processes).
    """

    def setUp(self):
        super().setUp()
        self.server = LocalGateway(delay=0.02).start()
        self.addCleanup(self.server.stop)
        self.real_cr = odoo.sql_db.db_connect(self.env.cr.dbname).cursor()
        self.addCleanup(self.real_cr.close)
        real_env = odoo.api.Environment(self.real_cr, odoo.SUPERUSER_ID, {})
        # traces queued by demo data would be sent by these processes too: out of the way
        self.real_cr.execute(
            "UPDATE sms_marketing_trace SET state = 'canceled' WHERE state = 'queued'"
        )
        self.gateway_id = (
            real_env["sms.marketing.gateway"]
            .create(
                {
                    "name": "Processes",
                    "sequence": -1000,  # routed before any other gateway
                    "concurrency": 1,
                    **http_gateway_values(self.server.url),
                }
            )
            .id
        )
        self.real_cr.commit()
        self.addCleanup(self.cleanup_committed)

    def cleanup_committed(self):
        self.real_cr.rollback()
        self.real_cr.execute(
            "DELETE FROM sms_marketing_trace WHERE gateway_id = %s OR number LIKE '+8613600%%'",
            [self.gateway_id],
        )
        self.real_cr.execute("DELETE FROM sms_marketing_gateway WHERE id = %s", [self.gateway_id])
        self.real_cr.execute(
            "DELETE FROM ir_config_parameter WHERE key = 'sms_marketing.lease_minutes'"
        )
        self.real_cr.commit()

    def queue_committed(self, count):
        numbers = [f"+8613600{i:06d}" for i in range(count)]
        self.real_cr.execute(
            """
            INSERT INTO sms_marketing_trace (company_id, number, country_code, body, state,
                                             message_class, scheduled_at, attempts)
            SELECT %s, n, 'CN', 'Hi', 'queued', 'marketing', now() at time zone 'utc', 0
              FROM unnest(%s::varchar[]) n
            """,
            [self.env.company.id, numbers],
        )
        self.real_cr.commit()
        return numbers

    def start_worker(self, claim_size):
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                DISPATCH_WORKER,
                config["addons_path"],
                self.env.cr.dbname,
                str(claim_size),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def states(self, numbers):
        self.real_cr.execute(
            "SELECT number, state FROM sms_marketing_trace WHERE number = ANY(%s)", [numbers]
        )
        return dict(self.real_cr.fetchall())

    def test_killed_dispatcher_sends_nothing_twice_and_loses_nothing(self):
        numbers = self.queue_committed(300)
        worker = self.start_worker(claim_size=50)
        deadline = time.monotonic() + 60
        while len(self.server.received) < 70 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        received_at_kill = Counter(self.server.numbers())
        self.assertGreaterEqual(sum(received_at_kill.values()), 70)
        # the killed run left a claimed batch 'sending': after the lease it is unknown
        self.real_cr.execute(
            "INSERT INTO ir_config_parameter (key, value)"
            " VALUES ('sms_marketing.lease_minutes', '0')"
        )
        self.real_cr.commit()
        finisher = self.start_worker(claim_size=50)
        self.assertEqual(finisher.wait(timeout=120), 0)
        received = Counter(self.server.numbers())
        self.assertEqual([n for n, count in received.items() if count > 1], [], "sent twice")
        states = self.states(numbers)
        self.assertEqual(
            set(states.values()) - {"sent", "unknown"}, set(), Counter(states.values())
        )
        for number in numbers:
            if states[number] == "sent":
                self.assertEqual(received[number], 1, number)
        self.assertTrue(
            [n for n in numbers if states[n] == "unknown"],
            "the interrupted batch is visibly unknown",
        )

    def test_two_dispatchers_at_once_send_each_message_exactly_once(self):
        numbers = self.queue_committed(400)
        workers = [self.start_worker(claim_size=20), self.start_worker(claim_size=20)]
        for worker in workers:
            self.assertEqual(worker.wait(timeout=120), 0)
        received = Counter(self.server.numbers())
        self.assertEqual(sorted(received), sorted(numbers))
        self.assertEqual(set(received.values()), {1})
        self.assertEqual(set(self.states(numbers).values()), {"sent"})
        self.assertGreater(self.server.max_concurrent, 1, "both processes really sent")
