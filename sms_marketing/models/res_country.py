from odoo import api, models
from odoo.tools import ormcache


class ResCountry(models.Model):
    _inherit = "res.country"

    @api.model
    @ormcache("code")
    def _sms_get_id_by_code(self, code):
        # Cached: computing numbers for 100,000 imported contacts asks this for every one.
        return self.search([("code", "=", code)], limit=1).id

    @api.model
    def _sms_get_by_code(self, code):
        """Return the country with ISO code ``code`` (empty recordset if unknown or empty)."""
        return self.browse(self._sms_get_id_by_code(code)) if code else self.browse()
