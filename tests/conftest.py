"""Pure-Python test configuration.

The tests in this folder exercise ``sms_marketing/core`` without Odoo. Importing
``sms_marketing.core`` normally runs the addon's ``__init__`` (which imports the
ORM layer), so when Odoo is not loaded we register a bare package object for
``sms_marketing`` whose search path is the addon folder: sub-packages then
import on their own, and any accidental ``import odoo`` inside ``core`` fails
loudly instead of being satisfied silently.
"""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent.parent / "sms_marketing"

if "sms_marketing" not in sys.modules:
    _spec = importlib.machinery.ModuleSpec("sms_marketing", None, is_package=True)
    _package = importlib.util.module_from_spec(_spec)
    _package.__path__ = [str(ADDON_DIR)]
    sys.modules["sms_marketing"] = _package


def pytest_sessionfinish(session, exitstatus):
    """Fail the pure suite if anything in it pulled in Odoo."""
    if "odoo" in sys.modules:
        session.exitstatus = 1
        sys.stderr.write("\nERROR: the pure-Python suite imported odoo\n")
