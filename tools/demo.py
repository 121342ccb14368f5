#!/usr/bin/env python3
"""``make demo``: a database with the addon and its demo data, served on localhost.

Creates ``sms_marketing_demo`` (override with ``DEMO_DB``) with the addon, its demo data
and Simplified Chinese loaded, or updates the addon in it if it exists, then serves Odoo on
http://localhost:8069 (``PORT``) until interrupted. Login ``admin`` / ``admin``. Safe to run
again: an existing database is kept and only updated.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pg

REPO = Path(__file__).resolve().parent.parent
ODOO = [sys.executable, str(REPO / "tools" / "odoo_bin.py")]


def module_state(database):
    """``installed``, another module state, or ``None`` when the database does not exist."""
    import psycopg2  # Odoo's own dependency; imported after pg.ensure() set the environment

    with psycopg2.connect(dbname="postgres") as conn, conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if not cr.fetchone():
            return None
    try:
        with psycopg2.connect(dbname=database) as conn, conn.cursor() as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name = 'sms_marketing'")
            row = cr.fetchone()
    except psycopg2.Error:
        return "missing"  # an empty or foreign database: --init will fill it
    return row[0] if row else "missing"


def port_free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main():
    pg.ensure()
    database = os.environ.get("DEMO_DB", "sms_marketing_demo")
    port = int(os.environ.get("PORT", "8069"))
    state = module_state(database)
    if state == "installed":
        print(f"Updating sms_marketing in {database}...", flush=True)
        steps = [["--update=sms_marketing"]]
    else:
        print(f"Creating {database} with sms_marketing and its demo data...", flush=True)
        # Chinese is added in a second step: loaded while creating the database it would
        # replace English as the only active language.
        steps = [["--init=sms_marketing"], ["--load-language=zh_CN"]]
    for step in steps:
        subprocess.run(
            [*ODOO, f"--database={database}", *step, "--stop-after-init", "--log-level=warn"],
            check=True,
        )
    if not port_free(port):
        sys.exit(f"Port {port} is in use: stop what runs there or set PORT=8070.")
    print(f"\nServing {database} on http://localhost:{port}  (login admin / admin)\n", flush=True)
    os.execv(
        sys.executable,
        [
            *ODOO,
            f"--database={database}",
            f"--db-filter=^{database}$",
            f"--http-port={port}",
        ],
    )


if __name__ == "__main__":
    main()
