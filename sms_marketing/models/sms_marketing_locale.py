from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..core import phone as core_phone

# Where SMS are read in Chinese, for numbers whose contact has no language.
CHINESE_REGIONS = {"CN": "zh_CN", "HK": "zh_HK", "MO": "zh_HK", "TW": "zh_TW", "SG": "zh_CN"}


class SmsMarketingLocale(models.Model):
    """Compliance texts of one company in one language.

    Marketing SMS end with the opt-out footer in the recipient's language; lookups fall back
    from the exact language (``zh_CN``) to the same base language (``zh_TW`` → ``zh_CN``) and then
    to English, see :meth:`_get_for_lang`. One line per company and language.
    """

    _name = "sms.marketing.locale"
    _description = "SMS Language Texts"
    _order = "company_id, sequence, id"
    _rec_name = "lang_id"

    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.company,
    )
    lang_id = fields.Many2one(
        "res.lang",
        string="Language",
        required=True,
        context={"active_test": False},
        ondelete="cascade",
    )
    lang_code = fields.Char(related="lang_id.code")
    optout_footer = fields.Char(
        string="Opt-out Footer",
        required=True,
        help="Appended to marketing SMS whose text does not already tell how to opt out, "
        'for example "Reply STOP to opt out" or "回复TD退订".',
    )
    stop_reply = fields.Char(
        string="Opt-out Confirmation",
        help="Sent once when a contact replies a stop keyword (STOP, TD, 退订...).",
    )
    start_reply = fields.Char(
        string="Opt-in Confirmation",
        help="Sent when a contact replies a start keyword or confirms a double opt-in.",
    )
    help_reply = fields.Char(
        string="Help Answer", help="Sent when a contact replies HELP, INFO or 帮助."
    )
    double_optin_request = fields.Char(
        string="Double Opt-in Request",
        help="Asks a contact to confirm by replying Y before marketing SMS start.",
    )

    _sql_constraints = [
        (
            "company_lang_uniq",
            "unique(company_id, lang_id)",
            "Each language can only have one set of texts per company.",
        ),
    ]

    @api.constrains("optout_footer")
    def _check_optout_footer(self):
        for locale in self:
            if not locale.optout_footer.strip():
                raise ValidationError(self.env._("The opt-out footer cannot be empty."))

    @api.model
    def _get_for_partner(self, company, partner, number=None):
        """Texts for a recipient: their language, else the language of their number's
        country (a Chinese number without a contact gets Chinese), else English."""
        lang = partner.lang
        if not lang and number:
            info = core_phone.normalize(number)
            lang = CHINESE_REGIONS.get(info.region) if info and info.region else None
        return self._get_for_lang(company, lang)

    @api.model
    def _get_for_lang(self, company, lang_code):
        """Return the texts to use for ``lang_code`` in ``company`` (an empty record if none).

        :param company: ``res.company`` record
        :param str lang_code: Odoo language code of the recipient (``zh_CN``, ``en_GB``...) or
            ``False`` for "unknown", which uses English then the first line
        """
        locales = self.search([("company_id", "=", company.id)])
        code = lang_code or ""
        base = code.split("_")[0]
        for match in (
            lambda loc: loc.lang_code == code,
            lambda loc: loc.lang_code.split("_")[0] == base,
            lambda loc: loc.lang_code == "en_US",
        ):
            found = locales.filtered(match)
            if found:
                return found[0]
        return locales[:1]
