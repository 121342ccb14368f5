#!/usr/bin/env python3
"""Run the local SMS gateway (``sms_marketing/tests/local_gateway.py``) as its own process.

    python3 bench/gateway_server.py [--delay SECONDS]

Prints the port it listens on (127.0.0.1), then serves until killed. Benchmarks run it in a
separate process so the server does not share Odoo's interpreter (and its GIL).
"""

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sms_marketing" / "tests"))

from local_gateway import LocalGateway


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument(
        "--threads",
        action="store_true",
        help="one process with threads instead of one per connection",
    )
    args = parser.parse_args()
    gateway = LocalGateway(delay=args.delay, processes=not args.threads).start()
    print(gateway.url.rsplit(":", 1)[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
