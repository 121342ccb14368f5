from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

MODULE = "sms_marketing_website_sale"
PO_FILE = Path(__file__).resolve().parent.parent / "i18n" / "zh_CN.po"


@tagged("post_install", "-at_install")
class TestTranslations(TransactionCase):
    """Simplified Chinese ships complete: every string the addon shows is translated."""

    def test_zh_cn_translates_every_term(self):
        translated = {entry.msgid for entry in polib.pofile(str(PO_FILE)) if entry.msgstr}
        terms = {
            source
            for module, _type, _name, _res_id, source, _value, _comments in TranslationModuleReader(
                self.env.cr, modules=[MODULE]
            )
            if module == MODULE and source.strip()
        }
        self.assertTrue(terms)
        self.assertFalse(sorted(terms - translated), "terms without a zh_CN translation")
