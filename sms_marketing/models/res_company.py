from collections import namedtuple

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, ValidationError

# Texts every new company starts with; administrators edit them per language afterwards.
DEFAULT_LOCALE_TEXTS = {
    "en_US": {
        "optout_footer": "Reply STOP to opt out",
        "stop_reply": "You are unsubscribed and will get no more messages. "
        "Reply START to subscribe again.",
        "start_reply": "You are subscribed. Reply STOP to opt out.",
        "help_reply": "Offers and news by SMS. Reply STOP to opt out, START to subscribe.",
        "double_optin_request": "Reply Y to confirm you want our offers by SMS. "
        "Reply STOP to opt out.",
    },
    "zh_CN": {
        "optout_footer": "回复TD退订",
        "stop_reply": "您已成功退订，将不再收到营销短信。回复Y可重新订阅。",
        "start_reply": "订阅成功。回复TD退订。",
        "help_reply": "优惠与资讯短信。回复TD退订，回复Y订阅。",
        "double_optin_request": "回复Y确认接收我们的优惠短信，回复TD退订。",
    },
}


#: The compliance policy fields, editable by SMS Marketing managers (see ``write``).
SMS_POLICY_FIELDS = frozenset(
    {
        "sms_consent_mode",
        "sms_quiet_hours",
        "sms_send_hour_start",
        "sms_send_hour_end",
        "sms_frequency_cap_count",
        "sms_frequency_cap_days",
        "sms_default_country_id",
        "sms_locale_ids",
    }
)


#: What :meth:`ResCompany._sms_marketing_event_settings` holds of a company.
EventSettings = namedtuple(
    "EventSettings",
    "currency_id currency_name rounding country_code click_days view_days",
)
#: The company fields it reads (a change clears it).
EVENT_SETTINGS_FIELDS = {
    "currency_id",
    "sms_default_country_id",
    "sms_attribution_click_days",
    "sms_attribution_view_days",
}


class ResCurrency(models.Model):
    _inherit = "res.currency"

    def write(self, vals):
        if {"name", "rounding"} & vals.keys():
            self.env.registry.clear_cache()  # res.company._sms_marketing_event_settings
        return super().write(vals)


class ResCompany(models.Model):
    """The SMS compliance policy of a company.

    These values are the single source of truth for consent, quiet hours, frequency capping
    and number parsing of the company's marketing SMS. Campaigns and automations read them at
    send time. Administrators edit them in the Settings app; SMS Marketing managers, who are
    not necessarily administrators, in SMS Marketing > Configuration > Compliance Policy.
    """

    _inherit = "res.company"

    sms_consent_mode = fields.Selection(
        [
            ("opt_in", "Strict opt-in"),
            ("opt_out", "Opt-out only (soft opt-in)"),
        ],
        string="SMS Consent Mode",
        default="opt_in",
        required=True,
        help="Strict opt-in: marketing SMS only reach contacts who explicitly opted in "
        "(required in China, the EU and for US carriers).\n"
        "Opt-out only: every contact with a valid mobile number may receive marketing SMS "
        "until they opt out (soft opt-in, allowed for existing customers in some regions).",
    )
    sms_quiet_hours = fields.Boolean(
        string="Respect Quiet Hours",
        default=True,
        help="Hold marketing SMS outside the sending window, in the recipient's time zone.",
    )
    sms_send_hour_start = fields.Float(
        string="Send From",
        default=8.0,
        help="Start of the daily sending window, in the recipient's local time.",
    )
    sms_send_hour_end = fields.Float(
        string="Send Until",
        default=20.0,
        help="End of the daily sending window, in the recipient's local time.",
    )
    sms_frequency_cap_count = fields.Integer(
        string="Max Marketing SMS",
        default=4,
        help="Maximum number of marketing SMS one contact may receive in the rolling window. "
        "0 disables the cap.",
    )
    sms_frequency_cap_days = fields.Integer(
        string="Rolling Window (days)",
        default=7,
    )
    sms_default_country_id = fields.Many2one(
        "res.country",
        string="Default Country for Numbers",
        default=lambda self: self.env.company.country_id,
        help="Country used to read phone numbers written without an international prefix, "
        "for contacts that have no country of their own.",
    )
    sms_attribution_click_days = fields.Integer(
        string="Click Window (days)",
        default=7,
        help="An order counts as a conversion of the last SMS its customer clicked within "
        "this many days before it.",
    )
    sms_attribution_view_days = fields.Integer(
        string="View-through Window (days)",
        default=1,
        help="Without a click, an order counts as a conversion of the last marketing SMS "
        "delivered to its customer within this many days before it. 0 turns view-through "
        "attribution off.",
    )
    sms_event_payload_days = fields.Integer(
        string="Keep Event Details (days)",
        default=730,
        help="Order lines and other details of customer events older than this are "
        "deleted; amounts, dates and attribution are kept for reports. 0 keeps them forever.",
    )
    sms_locale_ids = fields.One2many(
        "sms.marketing.locale",
        "company_id",
        string="SMS Language Texts",
    )

    @api.constrains("sms_send_hour_start", "sms_send_hour_end")
    def _check_sms_send_hours(self):
        for company in self:
            start, end = company.sms_send_hour_start, company.sms_send_hour_end
            if not (0 <= start < 24 and 0 < end <= 24):
                raise ValidationError(self.env._("Sending hours must lie between 00:00 and 24:00."))
            if start >= end:
                raise ValidationError(
                    self.env._(
                        "The sending window must start before it ends (for example 08:00 to 20:00)."
                    )
                )

    @api.constrains("sms_frequency_cap_count", "sms_frequency_cap_days")
    def _check_sms_frequency_cap(self):
        for company in self:
            if company.sms_frequency_cap_count < 0:
                raise ValidationError(self.env._("The frequency cap cannot be negative."))
            if company.sms_frequency_cap_days < 1:
                raise ValidationError(
                    self.env._("The frequency cap window must be at least one day.")
                )

    @api.constrains(
        "sms_attribution_click_days", "sms_attribution_view_days", "sms_event_payload_days"
    )
    def _check_sms_attribution(self):
        for company in self:
            if company.sms_attribution_click_days < 1:
                raise ValidationError(self.env._("The click window must be at least one day."))
            if company.sms_attribution_view_days < 0 or company.sms_event_payload_days < 0:
                raise ValidationError(
                    self.env._("Attribution and retention periods cannot be negative.")
                )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._sms_marketing_ensure_locales()
        return companies

    def write(self, vals):
        if EVENT_SETTINGS_FIELDS & vals.keys():
            self.env.registry.clear_cache()  # _sms_marketing_event_settings
        if (
            vals
            and not self.env.su
            and vals.keys() <= SMS_POLICY_FIELDS
            and self.env.user.has_group("sms_marketing.group_sms_marketing_manager")
            and not self.env.user.has_group("base.group_erp_manager")
        ):
            # SMS Marketing managers own the compliance policy without being allowed to edit
            # the rest of the company (name, VAT...): limited to the companies they belong
            # to, the policy fields alone are written as superuser.
            if self - self.env.user.company_ids:
                raise AccessError(
                    self.env._("You can only change the SMS policy of your own companies.")
                )
            return super(ResCompany, self.sudo()).write(vals)
        return super().write(vals)

    @api.model
    @tools.ormcache("company_id")
    def _sms_marketing_event_settings(self, company_id):
        """What receiving customer events reads of a company, cached in each worker (an
        API request would otherwise spend more on reading the company and its currency
        than on a single event); cleared when one of these fields, or the currency's name
        or rounding, changes."""
        company = self.sudo().browse(company_id)
        return EventSettings(
            currency_id=company.currency_id.id,
            currency_name=company.currency_id.name,
            rounding=company.currency_id.rounding,
            country_code=company.sms_default_country_id.code or None,
            click_days=company.sms_attribution_click_days or 7,
            view_days=company.sms_attribution_view_days or 0,
        )

    def _sms_marketing_ensure_locales(self):
        """Create the default texts (English, Simplified Chinese) where missing."""
        langs = (
            self.env["res.lang"]
            .with_context(active_test=False)
            .search([("code", "in", list(DEFAULT_LOCALE_TEXTS))])
        )
        values = []
        for company in self:
            existing = company.sudo().sms_locale_ids.lang_id
            values += [
                {
                    "company_id": company.id,
                    "lang_id": lang.id,
                    **DEFAULT_LOCALE_TEXTS[lang.code],
                }
                for lang in langs - existing
            ]
        # sudo: companies are created by administrators, but the hook also runs for users that
        # may create companies without SMS rights; the footers belong to the company itself.
        self.env["sms.marketing.locale"].sudo().create(values)

    @api.model
    def _sms_action_open_policy(self):
        """Open the current company's SMS compliance policy (menu entry for managers)."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("SMS Compliance Policy"),
            "res_model": "res.company",
            "res_id": self.env.company.id,
            "view_mode": "form",
            "views": [(self.env.ref("sms_marketing.res_company_view_form_sms_policy").id, "form")],
            "target": "current",
        }
