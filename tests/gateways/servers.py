"""Socket-level helpers shared by the gateway tests: a free port nobody listens on and a
provider that hangs up after reading the request (the answer never comes back)."""

import re
import socket
import threading


def free_port():
    """A local port with nothing listening on it: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HangUpServer:
    """A provider that reads one whole request, then closes the connection without a word:
    the request got there, the answer never came back."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _address = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                while length and len(body) < int(length.group(1)):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
            except OSError:
                return
            self.requests.append((head, body))

    def close(self):
        self.thread.join(5)
        self.listener.close()
