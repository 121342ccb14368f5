"""A real HTTP SMS gateway on localhost, for tests and benchmarks (standard library only).

It speaks the JSON dialect the generic HTTP provider is configured for in
:func:`http_gateway_values`: ``POST /send`` takes one message ``{"to", "text", "from",
"ref"}`` and answers ``{"id": ...}``; ``POST /batch`` takes ``{"messages": [...]}`` and
answers ``{"results": [{"id", "ref"}, ...]}``. It records every message it accepted, counts
concurrent requests, and can misbehave on purpose: a delay per request, a number of 503
answers first, numbers to refuse, requests to leave unanswered (read timeout).
"""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalGateway:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is the base URL."""

    def __init__(self, delay=0.0, fail_first=0, refuse=(), hang=()):
        self.delay = delay
        self.fail_first = fail_first
        self.refuse = set(refuse)
        self.hang = set(hang)
        self.received = []  # (to, ref, id) of every accepted message
        self.requests = 0
        self.max_concurrent = 0
        self._concurrent = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
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
                    results = [gateway._accept(message) for message in messages]
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _accept(self, message):
        if message["to"] in self.refuse:
            return {"ref": message.get("ref"), "error": "number barred"}
        provider_id = f"LG{next(self._ids)}"
        with self._lock:
            self.received.append((message["to"], message.get("ref"), provider_id))
        return {"id": provider_id, "ref": message.get("ref")}

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

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
