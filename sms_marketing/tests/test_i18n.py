import re
from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

PO_FILE = Path(__file__).resolve().parent.parent / "i18n" / "zh_CN.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|<\w+")


@tagged("post_install", "-at_install")
class TestTranslations(TransactionCase):
    """Simplified Chinese ships complete: every string the addon shows is translated."""

    def test_zh_cn_translates_every_term_with_the_same_placeholders(self):
        po = polib.pofile(str(PO_FILE))
        translated = {entry.msgid: entry.msgstr for entry in po if entry.msgstr}
        terms = {
            source
            for module, _type, _name, _res_id, source, _value, _comments in TranslationModuleReader(
                self.env.cr, modules=["sms_marketing"]
            )
            if module == "sms_marketing" and source.strip()
        }
        missing = sorted(terms - translated.keys())
        self.assertFalse(missing, f"{len(missing)} terms lack a zh_CN translation: {missing[:10]}")
        for msgid, msgstr in translated.items():
            with self.subTest(msgid=msgid):
                self.assertEqual(
                    sorted(PLACEHOLDER.findall(msgid)), sorted(PLACEHOLDER.findall(msgstr))
                )

    def test_chinese_user_sees_chinese_errors(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        env = self.env(context=dict(self.env.context, lang="zh_CN"))
        message = env._("Choose a CSV or XLSX file to import.")
        self.assertNotEqual(message, "Choose a CSV or XLSX file to import.")
        self.assertRegex(message, "[\u4e00-\u9fff]")
