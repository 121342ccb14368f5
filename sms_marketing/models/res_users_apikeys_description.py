import collections
import hashlib

from odoo import fields, models
from odoo.tools import SQL

from odoo.addons.base.models import res_users as apikeys
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


#: (database, sha256 of a key) -> the stored hash it was verified against, most recent last
_verified = collections.OrderedDict()
_VERIFIED_MAX = 2048


class ResUsersApikeys(models.Model):
    _inherit = "res.users.apikeys"

    def _sms_marketing_check_key(self, key, scope):
        """``(user id, company id, language)`` of the user of a valid API key of ``scope``
        (or unscoped), else None; like Odoo's ``_check_credentials``, without its 6,000
        PBKDF2 rounds on every request of an integrator: a key already verified against the
        stored hash found now is accepted when that hash is still the one stored. The row is
        read on every call, so a revoked or expired key, or a deactivated user, is refused
        at once. The user's company and language come with it: an API request needs no
        other read of the user."""
        index = key[: apikeys.INDEX_SIZE]
        self.env.cr.execute(
            SQL(
                """
                SELECT k.user_id, k.key, u.company_id, p.lang
                  FROM res_users_apikeys k
                  JOIN res_users u ON u.id = k.user_id
                  JOIN res_partner p ON p.id = u.partner_id
                 WHERE u.active AND k.index = %s AND (k.scope IS NULL OR k.scope = %s)
                   AND (k.expiration_date IS NULL
                        OR k.expiration_date >= now() AT TIME ZONE 'utc')
                """,
                index,
                scope,
            )
        )
        digest = (self.env.cr.dbname, hashlib.sha256(key.encode()).hexdigest())
        known = _verified.get(digest)
        for user_id, stored, company_id, lang in self.env.cr.fetchall():
            if stored == known or apikeys.KEY_CRYPT_CONTEXT.verify(key, stored):
                _verified[digest] = stored
                _verified.move_to_end(digest)
                while len(_verified) > _VERIFIED_MAX:
                    _verified.popitem(last=False)
                return user_id, company_id, lang
        return None
