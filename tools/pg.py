#!/usr/bin/env python3
"""Make sure a PostgreSQL server is reachable for Odoo, starting one if needed.

    python3 tools/pg.py          # idempotent: safe to run any number of times

In order of preference:

1. a server already reachable with the usual libpq settings (``PGHOST``, ``PGPORT``...) and a
   role for the current user: used as is;
2. as root with Debian's PostgreSQL packages: the system cluster is started (created if there
   is none) and a superuser role named after the current OS user is added (Odoo refuses to
   connect as ``postgres``);
3. otherwise: a private cluster in ``.demo/pg`` (socket in ``.demo/pg/run``, port 54329),
   whose settings are written to ``.demo/pg.env`` and picked up by every tool here.
"""

import getpass
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRIVATE = REPO / ".demo" / "pg"
ENV_FILE = REPO / ".demo" / "pg.env"
PRIVATE_PORT = "54329"


def load_env(environ=None):
    """Apply ``.demo/pg.env`` (written for a private cluster) unless PGHOST is already set."""
    environ = os.environ if environ is None else environ
    if ENV_FILE.exists() and not environ.get("PGHOST"):
        for line in ENV_FILE.read_text().splitlines():
            key, _sep, value = line.partition("=")
            if key:
                environ[key] = value
    return environ


def _can_connect():
    probe = subprocess.run(
        ["psql", "-d", "postgres", "-tAc", "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0


def _wait_ready(seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-q"], check=False).returncode == 0:
            return True
        time.sleep(0.5)
    return False


def _bin(name):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        sys.exit(f"PostgreSQL's {name} is not installed (apt-get install postgresql).")
    return found if isinstance(found, str) else found[-1]


def _as_postgres(*cmd):
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=False)


def _system_cluster():
    """Start Debian's cluster as root and give the current user a superuser role."""
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split()
    if not listing:
        version = Path(_bin("initdb")).parent.parent.name
        subprocess.run(["pg_createcluster", version, "main"], check=True)
        listing = [version, "main"]
    version, name = listing[0], listing[1]
    subprocess.run(["pg_ctlcluster", version, name, "start"], check=False)
    if not _wait_ready():
        sys.exit("PostgreSQL did not start; see /var/log/postgresql/.")
    user = getpass.getuser()
    _as_postgres("psql", "-q", "-c", f'CREATE ROLE "{user}" SUPERUSER LOGIN')


def _private_cluster():
    """A cluster owned by the current user, for machines where we are not root."""
    data = PRIVATE / "data"
    run = PRIVATE / "run"
    run.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [_bin("initdb"), "-D", str(data), "-A", "trust", "-U", getpass.getuser(), "-E", "UTF8"],
            check=True,
        )
    ENV_FILE.write_text(f"PGHOST={run}\nPGPORT={PRIVATE_PORT}\n")
    load_env()
    if subprocess.run(["pg_isready", "-q"], check=False).returncode != 0:
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(PRIVATE / "server.log"),
                "-o",
                f"-k {run} -p {PRIVATE_PORT} -c listen_addresses=''",
                "start",
            ],
            check=True,
        )
    if not _wait_ready():
        sys.exit(f"The private PostgreSQL did not start; see {PRIVATE / 'server.log'}.")


def ensure():
    load_env()
    if _can_connect():
        return
    if os.geteuid() == 0 and shutil.which("pg_lsclusters"):
        _system_cluster()
    else:
        _private_cluster()
    if not _can_connect():
        sys.exit("PostgreSQL is running but refuses connections for this user.")


if __name__ == "__main__":
    if not shutil.which("psql"):
        sys.exit("PostgreSQL client tools are missing (apt-get install postgresql).")
    ensure()
    print("PostgreSQL is ready.")
