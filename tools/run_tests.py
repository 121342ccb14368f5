#!/usr/bin/env python3
"""The project's one test command (``make test``).

Runs, in order, and keeps going after a failure so one run shows everything:

1. ``ruff check`` and ``ruff format --check`` (the core's nested config bans odoo imports);
2. pylint-odoo's mandatory checks on the addon (``.pylintrc-mandatory``);
3. the pure-Python suite (``tests/``, plain pytest, no Odoo);
4. the Odoo suite: a fresh database, the addon and its sales bridges installed with
   ``--test-enable`` and ``--test-tags /sms_marketing,/sms_marketing_sale,...``
   (``at_install`` then ``post_install`` tests, HttpCase and tours in headless Chromium).

Each lint step counts as one check; pytest and Odoo count their tests. The last line is
``N passed, M failed``. The exit status is non-zero if anything failed **or if the Odoo
suite did not run** (Odoo not importable, Chromium or PostgreSQL missing, no test ran, a
test skipped): a skipped Odoo suite is a failure. ``--pure`` runs steps 1-3 only, for a
developer who explicitly asks for that; it still prints that the Odoo suite was not run.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pg

REPO = Path(__file__).resolve().parent.parent
LOG_DIR = REPO / ".test-logs"
ADDON = "sms_marketing"
#: The addon and its bridges to Odoo's sales and website shop, installed and tested together.
ADDONS = (ADDON, "sms_marketing_sale", "sms_marketing_website_sale")
# Odoo looks for these in the same order (odoo/tests/common.py: _find_executable).
CHROME_NAMES = ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable")

RESULT_RE = re.compile(
    r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)
SKIP_RE = re.compile(r" (?:INFO|WARNING) \S+ odoo\.addons\.\S+: skipped (.+)")
LOG_LEVEL_RE = re.compile(r"^\S+ \S+ \d+ (ERROR|CRITICAL|WARNING) \S+ (\S+): (.*)")


class Tally:
    """Counts of passed and failed checks and tests, with one line per step."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.steps = []

    def add(self, name, passed, failed, note=""):
        self.passed += passed
        self.failed += failed
        status = "ok" if not failed else "FAILED"
        self.steps.append(f"  {status:6} {name}: {passed} passed, {failed} failed {note}".rstrip())


def banner(text):
    print(f"\n=== {text} ===", flush=True)


def run(cmd, **kwargs):
    print("$", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO, check=False, **kwargs)


def lint(tally):
    banner("ruff")
    for name, cmd in (
        ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
        ("ruff format --check", [sys.executable, "-m", "ruff", "format", "--check", "."]),
    ):
        ok = run(cmd).returncode == 0
        tally.add(name, int(ok), int(not ok))
    banner("pylint-odoo (mandatory checks)")
    proc = run(
        [
            sys.executable,
            "-m",
            "pylint",
            "--rcfile=.pylintrc-mandatory",
            *ADDONS,
        ]
    )
    ok = proc.returncode == 0
    tally.add("pylint-odoo", int(ok), int(not ok))


def pure_suite(tally):
    banner("pure-Python suite (tests/)")
    LOG_DIR.mkdir(exist_ok=True)
    junit = LOG_DIR / "pure.xml"
    junit.unlink(missing_ok=True)
    proc = run([sys.executable, "-m", "pytest", "tests", f"--junitxml={junit}"])
    if not junit.exists():
        tally.add("pure suite", 0, 1, "(pytest did not run)")
        return
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, failures = int(suite.get("tests")), int(suite.get("failures"))
    errors, skipped = int(suite.get("errors")), int(suite.get("skipped"))
    failed = failures + errors + skipped + (1 if proc.returncode and not failures else 0)
    note = f"({skipped} skipped count as failed)" if skipped else ""
    tally.add("pure suite", total - failures - errors - skipped, failed, note)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_preflight():
    """Return a list of reasons the Odoo suite cannot run here (empty when it can)."""
    problems = []
    probe = subprocess.run(
        [sys.executable, "-c", "import odoo.release as r; print(r.version)"],
        capture_output=True,
        text=True,
        check=False,
        env=odoo_env(),
    )
    if probe.returncode:
        problems.append("Odoo 18 is not importable (install it or set ODOO_PATH)")
    elif not probe.stdout.startswith("18."):
        problems.append(f"Odoo 18 is required, found {probe.stdout.strip()}")
    if not any(shutil.which(name) for name in CHROME_NAMES):
        problems.append("Chromium is not installed: tours cannot run (apt-get install chromium)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        problems.append("websocket-client is not installed: tours cannot run")
    if subprocess.run(["pg_isready", "-q"], check=False).returncode not in (0, None):
        problems.append("PostgreSQL is not accepting connections (see `make db`)")
    return problems


def odoo_env():
    env = dict(os.environ)
    if env.get("ODOO_PATH"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["ODOO_PATH"], env.get("PYTHONPATH")]))
    return env


def drop_database(name):
    import psycopg2

    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def odoo_suite(tally, database):
    banner("Odoo suite (fresh database, at_install + post_install, HttpCase and tours)")
    problems = odoo_preflight()
    if problems:
        for problem in problems:
            print(f"ERROR: {problem}")
        tally.add("Odoo suite", 0, 1, "(DID NOT RUN: " + "; ".join(problems) + ")")
        return
    drop_database(database)
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / "odoo.log"
    cmd = [
        sys.executable,
        str(REPO / "tools" / "odoo_bin.py"),
        f"--database={database}",
        f"--init={','.join(ADDONS)}",
        "--test-enable",
        f"--test-tags={','.join('/' + addon for addon in ADDONS)}",
        "--stop-after-init",
        "--log-level=test",
        f"--http-port={free_port()}",
        "--max-cron-threads=0",
    ]
    print("$", " ".join(cmd), flush=True)
    started = time.monotonic()
    results, skips, log_problems = [], [], []
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=odoo_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        for line in proc.stdout:
            log.write(line)
            if match := RESULT_RE.search(line):
                results.append(tuple(map(int, match.groups())))
            if match := SKIP_RE.search(line):
                skips.append(match.group(1))
            level = LOG_LEVEL_RE.match(line)
            # Show what matters as it happens; the whole log is in .test-logs/odoo.log.
            if level or "odoo.tests.result" in line or line.startswith(("Traceback", "FAIL")):
                print(line, end="", flush=True)
            if level and _is_problem(level):
                log_problems.append(line.strip())
        returncode = proc.wait()
    drop_database(database)
    elapsed = time.monotonic() - started
    if not results:
        tally.add("Odoo suite", 0, 1, f"(no test result found, exit {returncode}; see {log_path})")
        return
    failed, errors, total = results[-1]
    bad = failed + errors + len(skips)
    notes = [f"{elapsed:.0f}s"]
    if skips:
        notes.append(f"{len(skips)} skipped count as failed: {skips[:3]}")
    if total == 0:
        notes.append("no Odoo test ran")
        bad += 1
    tally.add("Odoo suite", total - failed - errors - len(skips), bad, "(" + "; ".join(notes) + ")")
    if log_problems:
        print("\nError and warning lines outside tests:")
        for line in log_problems[:20]:
            print("  ", line)
    tally.add(
        "Odoo log free of errors and addon warnings", int(not log_problems), int(bool(log_problems))
    )
    if returncode and not bad and not log_problems:
        tally.add("Odoo exit status", 0, 1, f"(exit {returncode})")


def _is_problem(level_match):
    """ERROR/CRITICAL anywhere is a problem, except lines logged by tests that expect them
    (their failures are counted by the test result); warnings count when they concern the
    addon (bad field parameters, missing access rules, view issues)."""
    level, logger, message = level_match.groups()
    from_tests = ".tests." in logger or logger == "odoo.tests.result"
    if level in ("ERROR", "CRITICAL"):
        return not from_tests
    return not from_tests and (ADDON in message or logger.startswith(f"odoo.addons.{ADDON}"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pure", action="store_true", help="lint and pure suite only")
    parser.add_argument(
        "--database",
        default=os.environ.get("TEST_DB", f"{ADDON}_test"),
        help="database created (and dropped) for the Odoo suite",
    )
    args = parser.parse_args()
    pg.load_env()
    tally = Tally()
    lint(tally)
    pure_suite(tally)
    if args.pure:
        print("\nNOTE: the Odoo suite was NOT run (--pure); run `make test` before pushing.")
    else:
        odoo_suite(tally, args.database)
    banner("summary")
    print("\n".join(tally.steps))
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
