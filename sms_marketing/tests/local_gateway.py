"""A real HTTP SMS gateway on localhost, for tests and benchmarks (standard library only).

It speaks the JSON dialect the generic HTTP provider is configured for in
:func:`http_gateway_values`: ``POST /send`` takes one message ``{"to", "text", "from",
"ref"}`` and answers ``{"id": ...}``; ``POST /batch`` takes ``{"messages": [...]}`` and
answers ``{"results": [{"id", "ref"}, ...]}``. It records every message it accepted, counts
concurrent requests and (threads mode) open connections, and can misbehave on purpose: a
delay per request, a number of 503 answers first, numbers to refuse, requests to leave
unanswered (read timeout).
"""

import itertools
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from socketserver import ForkingMixIn


class _QuietOnHangUp:
    """A client that hangs up before its answer is written (a test kills a dispatcher on
    purpose) is not a server error: nothing is printed. Any other error still is."""

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ThreadingGatewayServer(_QuietOnHangUp, ThreadingHTTPServer):
    """One thread per connection (the tests' default)."""


class ForkingHTTPServer(_QuietOnHangUp, ForkingMixIn, HTTPServer):
    """One process per connection: like a real provider's API, the server side of a
    benchmark then uses every core instead of one interpreter's."""

    max_children = 64


class LocalGateway:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is the base URL."""

    def __init__(self, delay=0.0, fail_first=0, refuse=(), hang=(), processes=False):
        self.delay = delay
        self.fail_first = fail_first
        self.refuse = set(refuse)
        self.hang = set(hang)
        self.received = []  # (to, ref, id) of every accepted message
        self.requests = 0
        self.max_concurrent = 0
        self.open_connections = 0  # clients' connections held open now (threads mode)
        self._concurrent = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = None
        # With ``processes``, each connection's process appends what it accepted to a shared
        # log (one short write per request, atomic with O_APPEND) instead of memory.
        self.processes = processes
        self._log = None
        if processes:
            handle, self._log = tempfile.mkstemp(prefix="local_gateway_", suffix=".log")
            os.close(handle)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port=0):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in separate writes: without TCP_NODELAY, Nagle's
            # algorithm and delayed ACKs stall every keep-alive answer by 40 ms
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def setup(self):
                result = super().setup()
                with gateway._lock:
                    gateway.open_connections += 1
                return result

            def finish(self):
                try:
                    return super().finish()
                finally:
                    with gateway._lock:
                        gateway.open_connections -= 1

            def do_GET(self):
                # GET /stats: what the gateway saw (for benchmarks driving it from outside)
                with gateway._lock:
                    received = gateway._logged() if gateway.processes else gateway.received
                    stats = {
                        "requests": gateway.requests,
                        "messages": len(received),
                        "distinct": len({to for to, _ref, _id in received}),
                        "max_concurrent": gateway.max_concurrent,
                    }
                self._answer(200, stats)

            def do_DELETE(self):
                # DELETE /stats: start counting afresh
                with gateway._lock:
                    gateway.received.clear()
                    gateway.requests = gateway.max_concurrent = 0
                    if gateway.processes:
                        open(gateway._log, "w", encoding="utf-8").close()
                self._answer(200, {"ok": True})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/noop":  # the raw ceiling: answer without looking
                    return self._answer(200, {"id": "x"})
                with gateway._lock:
                    gateway.requests += 1
                    gateway._concurrent += 1
                    gateway.max_concurrent = max(gateway.max_concurrent, gateway._concurrent)
                    failing = gateway.fail_first > 0
                    if failing:
                        gateway.fail_first -= 1
                try:
                    if gateway.delay:
                        time.sleep(gateway.delay)
                    if failing:
                        return self._answer(503, {"error": "busy, try later"})
                    payload = json.loads(body)
                    messages = payload["messages"] if self.path == "/batch" else [payload]
                    if any(message["to"] in gateway.hang for message in messages):
                        time.sleep(30)  # the client gives up first: a read timeout
                        return None
                    results = gateway._accept_all(messages)
                    if self.path == "/batch":
                        return self._answer(200, {"results": results})
                    result = results[0]
                    return self._answer(400 if "error" in result else 200, result)
                finally:
                    with gateway._lock:
                        gateway._concurrent -= 1

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server_class = ForkingHTTPServer if self.processes else ThreadingGatewayServer
        self._server = server_class(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _accept_all(self, messages):
        results, accepted = [], []
        prefix = f"LG{os.getpid()}-" if self.processes else "LG"
        with self._lock:  # once per request: ids stay unique, the log stays ordered
            for message in messages:
                if message["to"] in self.refuse:
                    results.append({"ref": message.get("ref"), "error": "number barred"})
                    continue
                provider_id = f"{prefix}{next(self._ids)}"
                accepted.append((message["to"], message.get("ref"), provider_id))
                results.append({"id": provider_id, "ref": message.get("ref")})
            if self.processes:
                lines = "".join(f"{to}\t{ref}\t{pid}\n" for to, ref, pid in accepted)
                with open(self._log, "a", encoding="utf-8") as log:
                    log.write(lines)
            else:
                self.received += accepted
        return results

    def _logged(self):
        with open(self._log, encoding="utf-8") as log:
            return [tuple(line.rstrip("\n").split("\t")) for line in log if line.strip()]

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._log:
            os.unlink(self._log)

    def numbers(self):
        with self._lock:
            return [to for to, _ref, _id in self.received]


def http_gateway_values(url, batch_size=1):
    """Values of an ``sms.marketing.gateway`` (generic HTTP provider) for :class:`LocalGateway`."""
    batch = batch_size > 1
    return {
        "provider": "http",
        "http_url": f"{url}/batch" if batch else f"{url}/send",
        "http_content_type": "application/json",
        "http_message_template": (
            '{"to": "{{to}}", "text": "{{body}}", "from": "{{sender}}", "ref": "{{ref}}"}'
        ),
        "http_batch_size": batch_size,
        "http_batch_template": '{"messages": {{messages}}}',
        "http_result_path": "$.results" if batch else "$",
        "http_id_path": "$.id",
        "http_ref_path": "$.ref",
        "http_error_path": "$.error",
        "batch_size": batch_size,
    }
