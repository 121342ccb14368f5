"""Shared plumbing of the benchmarks: a fresh database per run, Odoo in this process.

Each benchmark works in its own database, copied from a template built once with the
addons it needs (no demo data), so every run starts from the same state in seconds.
"""

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "sms_marketing" / "tests"))

import conftest  # noqa: E402, F401  (makes sms_marketing.core importable without the ORM)
import pg  # noqa: E402
from odoo_bin import addons_path, import_odoo  # noqa: E402

BENCH_ADDONS = REPO / "bench" / "addons"


def odoo_addons_path(odoo):
    return f"{addons_path(odoo)},{BENCH_ADDONS}"


def _addons_fingerprint():
    """A hash of the addons' code: a template built from older code is rebuilt."""
    digest = hashlib.sha1()
    for folder in (REPO / "sms_marketing", BENCH_ADDONS):
        for path in sorted(folder.rglob("*")):
            if path.suffix in {".py", ".xml", ".csv", ".sql"} and "tests" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def fresh_database(database, modules="sms_marketing"):
    """(Re)create ``database`` as a copy of ``<database>_template`` (addons ``modules``
    installed without demo data; the template is rebuilt when the addons' code changed)."""
    pg.ensure()
    import psycopg2

    odoo = import_odoo()
    template = f"{database}_template"
    fingerprint = _addons_fingerprint()
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [template],
        )
        row = cr.fetchone()
        if not row or row[0] != fingerprint:
            print(f"building {template} (about a minute, when the code changed)...", flush=True)
            cr.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "tools" / "odoo_bin.py"),
                    f"--addons-path={odoo_addons_path(odoo)}",
                    f"--database={template}",
                    f"--init={modules}",
                    "--without-demo=all",
                    "--stop-after-init",
                    "--log-level=warn",
                ],
                check=True,
            )
            cr.execute(f'COMMENT ON DATABASE "{template}" IS %s', [fingerprint])
        cr.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cr.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    conn.close()


def setup_odoo(database):
    """Import Odoo, configure it for ``database``; returns the ``odoo`` package."""
    pg.load_env()
    odoo = import_odoo()
    odoo.tools.config.parse_config(
        [f"--addons-path={odoo_addons_path(odoo)}", f"--database={database}", "--log-level=warn"]
    )
    return odoo


def cpu_reference():
    """Seconds this machine takes for a fixed pure-Python loop (10 million multiply-adds).

    Printed by every benchmark: the shared virtual machines here change speed threefold from
    hour to hour, so figures are comparable only alongside this reference (about 0.45 s when
    the machine runs fast, 1.5 s in its slow hours).
    """
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i * i
    return time.perf_counter() - started


class PeakRss:
    """Samples this process's resident memory while a block runs; ``peak`` in MB."""

    def __init__(self, interval=0.05):
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def current():
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self.current()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())
