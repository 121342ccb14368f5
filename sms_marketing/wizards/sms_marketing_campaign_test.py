import re

from odoo import fields, models
from odoo.exceptions import UserError

from ..core import encoding as core_encoding
from ..core import phone as core_phone
from ..models.sms_marketing_campaign import new_link_token

_SPLIT_RE = re.compile(r"[\n,;，；]+")


class SmsMarketingCampaignTest(models.TransientModel):
    """Send a campaign's message to a few numbers or contacts now, as a test.

    Test messages are composed exactly like the real ones (placeholders of the chosen
    contact, footer, signature, short links), are queued for immediate dispatch, skip quiet
    hours and consent (the sender asked for them), are marked as tests and never counted in
    the campaign's results. Being traces of their own, they are sent once: the queue never
    sends a trace twice.
    """

    _name = "sms.marketing.campaign.test"
    _description = "SMS Campaign Test Send"

    campaign_id = fields.Many2one("sms.marketing.campaign", required=True, ondelete="cascade")
    partner_ids = fields.Many2many("res.partner", string="Contacts")
    numbers = fields.Text(help="Phone numbers, one per line or separated by commas.")
    variant_id = fields.Many2one(
        "sms.marketing.variant",
        domain="[('campaign_id', '=', campaign_id)]",
        help="A/B tests: the variant to test (the first one when empty).",
    )

    def _recipients(self):
        """``[(partner, e164, country)]`` of the wizard, or a UserError naming bad input."""
        company = self.campaign_id.company_id
        region = company.sms_default_country_id.code or company.country_id.code
        recipients, invalid = [], []
        for partner in self.partner_ids:
            if partner.sms_e164:
                recipients.append((partner, partner.sms_e164, partner.sms_number_country_id.code))
            else:
                invalid.append(partner.display_name)
        for raw in _SPLIT_RE.split(self.numbers or ""):
            if not raw.strip():
                continue
            info = core_phone.normalize(raw.strip(), region)
            if info and info.e164:
                recipients.append((self.env["res.partner"], info.e164, info.region))
            else:
                invalid.append(raw.strip())
        if invalid:
            raise UserError(
                self.env._("These recipients have no valid number: %s", ", ".join(invalid))
            )
        if not recipients:
            raise UserError(self.env._("Add at least one number or contact to test with."))
        return recipients

    def action_send(self):
        self.ensure_one()
        campaign = self.campaign_id
        for body in campaign._get_bodies():
            campaign._parse_body(body)
        campaign._check_links_allowed()
        if not campaign.utm_campaign_id:
            campaign.utm_campaign_id = (
                self.env["utm.campaign"].sudo().create({"name": campaign.name})
            )
        variant = self.variant_id or (campaign.variant_ids[:1] if campaign.ab_testing else None)
        body = variant.body if variant else campaign.body
        if not (body or "").strip():
            raise UserError(self.env._("Write the message before sending a test."))
        composer = campaign._get_composer(body, create_links=True)
        values_list = []
        for partner, number, country in self._recipients():
            values, lang = campaign._preview_values(partner)
            token = new_link_token() if composer.has_links else False
            text = composer.compose(values, lang, token or "")
            values_list.append(
                {
                    "company_id": campaign.company_id.id,
                    "partner_id": partner.id,
                    "campaign_id": campaign.id,
                    "variant_id": variant.id if variant else False,
                    "number": number,
                    "country_code": country,
                    "body": text,
                    "segments": core_encoding.analyze(text).segments,
                    "message_class": campaign.message_class,
                    "gateway_id": campaign.gateway_id.id,
                    "is_test": True,
                    "link_token": token,
                    "origin": self.env._("Test of %s", campaign.name),
                }
            )
        traces = self.env["sms.marketing.trace"].sudo().create(values_list)
        campaign._message_log(
            body=self.env._("Test sent to %s.", ", ".join(traces.mapped("number")))
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("%s test message(s) queued for sending now.", len(traces)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
