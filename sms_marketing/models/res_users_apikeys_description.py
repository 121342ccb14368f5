from odoo import fields, models

from odoo.addons.base.models.res_users import check_identity

from .sms_marketing_api_request import API_SCOPE


class ResUsersApikeysDescription(models.TransientModel):
    """Odoo's "New API Key" dialog, with the option of a key for the SMS Marketing
    integrator API only: such a key (scope ``sms_marketing``) is refused by Odoo's RPC, so a
    key leaked from a shop cannot read the rest of the database."""

    _inherit = "res.users.apikeys.description"

    sms_marketing_only = fields.Boolean(
        string="SMS Marketing API Only",
        help="The key opens /sms_marketing/api/v1/ only, not Odoo's XML-RPC / JSON-RPC.",
    )

    @check_identity
    def make_key(self):
        if not self.sms_marketing_only:
            return super().make_key()
        self.check_access_make_key()
        description = self.sudo()
        key = self.env["res.users.apikeys"]._generate(
            API_SCOPE, description.name, self.expiration_date
        )
        description.unlink()
        return {
            "type": "ir.actions.act_window",
            "res_model": "res.users.apikeys.show",
            "name": self.env._("API Key Ready"),
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_key": key},
        }
