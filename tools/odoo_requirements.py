#!/usr/bin/env python3
"""Print Odoo 18's Python requirements, adapted to install from wheels on this Python.

Reads ``requirements.txt`` next to the ``odoo`` package found by ``import odoo`` (a source
checkout); prints nothing when Odoo was installed without it (its requirements are then
already installed). Adaptations: ``psycopg2`` → ``psycopg2-binary`` (no libpq headers
needed), no ``python-ldap`` (needs OpenLDAP headers; only the ``auth_ldap`` addon uses it),
``cbor2`` 5.6.2 (5.4.2 no longer builds with current setuptools), plus ``websocket-client``
that Odoo's browser tests need.
"""

import re
import sys
from pathlib import Path

from odoo_bin import import_odoo


def main():
    odoo = import_odoo()
    source = Path(odoo.__path__[0]).parent / "requirements.txt"
    if not source.exists():
        return
    for line in source.read_text().splitlines():
        if re.match(r"\s*python-ldap\b", line):
            continue
        line = re.sub(r"^psycopg2==", "psycopg2-binary==", line)
        line = re.sub(r"^cbor2==5\.4\.2", "cbor2==5.6.2", line)
        sys.stdout.write(line + "\n")
    sys.stdout.write("websocket-client\n")


if __name__ == "__main__":
    main()
