#!/usr/bin/env python3
"""Run Odoo 18 with this repository's addons on the addons path.

Odoo is found the way the rest of the project finds it: ``import odoo`` (an installed Odoo,
a ``.pth`` file, ``PYTHONPATH``), or the source tree named by ``ODOO_PATH``. Arguments are
passed to Odoo's command line unchanged; ``--addons-path`` is added when not given.

    python3 tools/odoo_bin.py -d mydb -i sms_marketing --stop-after-init
"""

import os
import sys
from pathlib import Path

import pg

REPO = Path(__file__).resolve().parent.parent


def import_odoo():
    """Import and return the ``odoo`` package, or exit with an explanation."""
    odoo_path = os.environ.get("ODOO_PATH")
    if odoo_path:
        sys.path.insert(0, odoo_path)
    try:
        import odoo
    except ImportError:
        sys.exit(
            "Odoo 18 is not importable: install it (pip install -e <odoo source>, or a .pth "
            "file) or set ODOO_PATH to an Odoo 18 source tree."
        )
    from odoo import release

    if release.version_info[0] != 18:
        sys.exit(f"Odoo 18 is required, found {release.version}.")
    return odoo


def addons_path(odoo):
    """The repository first, then Odoo's own addons folders."""
    package_dir = Path(odoo.__path__[0])
    paths = [REPO, package_dir / "addons", package_dir.parent / "addons"]
    return ",".join(str(path) for path in paths if path.is_dir())


def main(argv):
    pg.load_env()
    odoo = import_odoo()
    if not any(arg.startswith("--addons-path") for arg in argv):
        argv = [f"--addons-path={addons_path(odoo)}", *argv]
    sys.argv = ["odoo", *argv]
    import odoo.cli

    odoo.cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
