#!/usr/bin/env python3
"""Benchmark: import a contact file of N rows through the import wizard (the ORM path).

    make bench-import                     # 100,000 rows
    python3 bench/import_contacts.py --rows 20000 --repeat 3

What it does, in a dedicated database (``sms_marketing_bench``, a copy of a template with the
addon and no demo data, left in place for inspection):

1. generates a deterministic CSV like a real export: Chinese, US and European numbers in
   national and international formats, 3% invalid numbers, 1% exact repeats, 0.2% conflicting
   repeats, tags from a pool of 20, consent opt-in / opt-out / empty with dates;
2. runs ``sms.marketing.import.action_import`` on it in one transaction (exactly what the
   button does) and commits, timing the whole;
3. runs it again on the same file (every row now matches an existing contact: the update
   path).

Each of ``--repeat`` attempts starts from a fresh copy of a template database. It prints
wall time (and the part spent in Odoo's own process), rows per second and peak memory (RSS
of this process, Odoo included) for each run, the median per kind, and checks that every
row is accounted for and that the invalid numbers are exactly those the generator made.
"""

import argparse
import base64
import csv
import io
import random
import resource
import statistics
import sys
import time

# common (first) puts the repository on the import path for sms_marketing.core
from common import cpu_reference, fresh_database, setup_odoo

from sms_marketing.core import phone as core_phone

TAGS = [f"Tag {i:02d}" for i in range(20)]


def generate(rows, seed=42):
    """Return ``(csv bytes, expectations)`` for ``rows`` data rows."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Phone", "Email", "Tags", "Consent", "Consent Source", "Consent Date"])
    expected = {"merged": 0, "conflict": 0}
    written = []
    serial = 0
    while len(written) < rows:
        roll = rng.random()
        if written and roll < 0.01:
            written.append(list(rng.choice(written)))  # exact repeat: merged
            expected["merged"] += 1
            continue
        if written and roll < 0.012 and len(written) < rows - 1:
            original = list(rng.choice(written))
            if original[1] in ("12345", "n/a"):
                continue
            clash = list(original)
            clash[0] = clash[0] + " Jr"
            written.append(clash)  # same number, different name: both rows rejected
            expected["conflict"] += 1
            continue
        serial += 1
        if roll < 0.04:
            number = rng.choice(["12345", "n/a"]) if serial % 2 else f"+86 1{serial:05d}"
        elif roll < 0.7:
            digits = f"{serial:08d}"
            number = rng.choice(
                [f"138 {digits[:4]} {digits[4:]}", f"+86 139{digits}", f"008615{digits}0"[:15]]
            )
        elif roll < 0.85:
            exchange = 200 + (serial // 10000) % 800  # unique per serial: no accidental twins
            number = f"+1 {rng.choice(['212', '415', '312'])} {exchange} {serial % 10000:04d}"
        else:
            number = f"+33 6 {serial:08d}"
        consent = rng.choice(["opt-in", "opt-in", "opt-out", ""])
        written.append(
            [
                f"Contact {serial}",
                number,
                f"contact{serial}@example.com" if rng.random() < 0.5 else "",
                ";".join(rng.sample(TAGS, rng.choice([0, 1, 2]))),
                consent,
                "web form" if consent else "",
                f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}" if consent else "",
            ]
        )
    for row in written:
        writer.writerow(row)
    # What the import must reject as invalid, by the same rules (repeats of invalid rows too).
    expected["invalid"] = sum(not core_phone.normalize(row[1], "CN").is_valid for row in written)
    return out.getvalue().encode(), expected


def run_import(odoo, database, data, country="CN"):
    from odoo.modules.registry import Registry

    registry = Registry(database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        env = env(user=admin.id, su=False)
        wizard = env["sms.marketing.import"].create(
            {
                "file": base64.b64encode(data),
                "filename": "bench_contacts.csv",
                "default_country_id": env.ref(f"base.{country.lower()}").id,
            }
        )
        started, cpu = time.perf_counter(), time.process_time()
        wizard.action_import()
        cr.commit()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        counts = wizard.read(
            ["created_count", "updated_count", "merged_count", "rejected_count", "consent_count"]
        )[0]
        reasons = {line.code: line.count for line in wizard.result_line_ids}
    return elapsed, cpu, counts, reasons


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="fresh runs; the median is shown")
    parser.add_argument("--database", default="sms_marketing_bench")
    args = parser.parse_args()

    odoo = setup_odoo(args.database)
    from odoo.modules.registry import Registry

    print(
        f"CPU reference: {cpu_reference():.2f} s (0.45 s in a fast hour here, 1.5 s in a slow one)"
    )
    data, expected = generate(args.rows)
    print(
        f"file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB; generated "
        f"{expected['invalid']} invalid numbers, {expected['merged']} repeats, "
        f"{expected['conflict']} conflicting repeats",
        flush=True,
    )
    timings = {"create": [], "update": []}
    for attempt in range(1, args.repeat + 1):
        Registry.delete(args.database)
        fresh_database(args.database)
        for label in ("create", "update"):
            elapsed, cpu, counts, reasons = run_import(odoo, args.database, data)
            timings[label].append(elapsed)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"run {attempt} {label}: {elapsed:.1f} s ({cpu:.1f} s CPU in Odoo, the rest in "
                f"PostgreSQL), {args.rows / elapsed:,.0f} rows/s, peak RSS {peak:,.0f} MB | "
                f"created {counts['created_count']:,}, updated {counts['updated_count']:,}, "
                f"merged {counts['merged_count']:,}, skipped {counts['rejected_count']:,} "
                f"{reasons}, consent changes {counts['consent_count']:,}",
                flush=True,
            )
            accounted = sum(
                counts[key]
                for key in ("created_count", "updated_count", "merged_count", "rejected_count")
            )
            if accounted != args.rows:
                sys.exit(f"rows lost: {args.rows} in the file, {accounted} accounted for")
            if reasons.get("invalid_number", 0) != expected["invalid"]:
                sys.exit(f"invalid numbers: expected {expected['invalid']}, got {reasons}")
    for label, values in timings.items():
        print(
            f"{label}: median {statistics.median(values):.1f} s over {len(values)} run(s) "
            f"for {args.rows:,} rows ({args.rows / statistics.median(values):,.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
