#!/usr/bin/env python3
"""``make test-quick``: the addon's Odoo tests through pytest-odoo, on an installed database.

The quick loop while developing: no database creation, no module install, just the tests
(each in its own rolled-back transaction) against ``DEMO_DB`` (default
``sms_marketing_demo``, created by ``make demo``). Python changes are picked up at once;
after changing views, data or fields, update the module first (``make demo`` does). Extra
arguments go to pytest, e.g. ``python3 tools/test_quick.py -k consent``.

HttpCase tests start Odoo's HTTP server (``--odoo-http``) on a free port. The full,
authoritative run is ``make test``, which installs on a fresh database.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pg
from odoo_bin import addons_path, import_odoo

REPO = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv):
    pg.load_env()
    odoo = import_odoo()
    database = os.environ.get("DEMO_DB", "sms_marketing_demo")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        # The project's pytest defaults keep pytest-odoo out of the pure suite: undo that.
        "-o",
        "addopts=-p no:cacheprovider",
        f"--odoo-database={database}",
        f"--odoo-addons-path={addons_path(odoo)}",
        "--odoo-log-level=warn",
        "--odoo-http",
        "--odoo-extra",
        f"http-port={free_port()}",
        "sms_marketing/tests",
        *argv,
    ]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
