import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import phone as core_phone
from .sms_marketing_consent import (
    _LEDGER_TOKEN,
    _LEDGER_TOKEN_KEY,
    ACTION_TO_STATE,
    CONSENT_SOURCES,
)

_logger = logging.getLogger(__name__)

CONSENT_STATES = [
    ("unknown", "No Consent"),
    ("pending", "Pending Confirmation"),
    ("opted_in", "Opted In"),
    ("opted_out", "Opted Out"),
]
NUMBER_TYPES = [
    (core_phone.MOBILE, "Mobile"),
    (core_phone.FIXED_OR_MOBILE, "Fixed Line or Mobile"),
    (core_phone.FIXED_LINE, "Fixed Line"),
    (core_phone.VOIP, "VoIP"),
    (core_phone.OTHER, "Other"),
    (core_phone.INVALID, "Invalid"),
]
SMS_CAPABLE_TYPES = sorted(core_phone.SMS_CAPABLE_TYPES)
_CONSENT_FIELDS = frozenset({"sms_consent_state", "sms_consent_date", "sms_consent_source"})


class ResPartner(models.Model):
    """Contacts as SMS recipients: one clean number, consent with its proof, marketing tags.

    * ``sms_e164`` and its type, country and time zone are computed from ``mobile`` then
      ``phone`` by :mod:`..core.phone`, with the partner's country, else the company's default
      country, for numbers written without an international prefix.
    * ``sms_consent_*`` are computed from the consent ledger (the latest line by effective date
      wins), so the state can only change through :meth:`_sms_consent_apply`, which writes the
      ledger and keeps Odoo's phone blacklist in line with opt-outs.
    """

    _inherit = "res.partner"

    sms_e164 = fields.Char(
        string="SMS Number",
        compute="_compute_sms_number",
        store=True,
        index="btree_not_null",
        help="The number SMS are sent to, in international E.164 format, taken from Mobile "
        "then Phone (the first one that can receive SMS).",
    )
    sms_number_type = fields.Selection(
        NUMBER_TYPES, string="Number Type", compute="_compute_sms_number", store=True
    )
    sms_number_country_id = fields.Many2one(
        "res.country", string="Number Country", compute="_compute_sms_number", store=True
    )
    sms_tz = fields.Selection(
        "_tz_get_sms",
        string="SMS Time Zone",
        compute="_compute_sms_number",
        store=True,
        help="Time zone used for quiet hours: the contact's own time zone, else the one of "
        "their number.",
    )
    sms_consent_state = fields.Selection(
        CONSENT_STATES,
        string="SMS Consent",
        compute="_compute_sms_consent",
        store=True,
        index=True,
    )
    sms_consent_date = fields.Datetime(
        string="Consent Date", compute="_compute_sms_consent", store=True
    )
    sms_consent_source = fields.Selection(
        CONSENT_SOURCES, string="Consent Source", compute="_compute_sms_consent", store=True
    )
    sms_consent_ids = fields.One2many(
        "sms.marketing.consent", "partner_id", string="Consent History", readonly=True
    )
    sms_tag_ids = fields.Many2many(
        "sms.marketing.tag",
        "res_partner_sms_marketing_tag_rel",
        "partner_id",
        "tag_id",
        string="Marketing Tags",
    )
    sms_birthday = fields.Date(string="Birthday")

    @api.model
    def _tz_get_sms(self):
        return self.env["res.partner"]._fields["tz"].selection

    @api.depends("mobile", "phone", "country_id", "company_id.sms_default_country_id", "tz")
    def _compute_sms_number(self):
        default_region = self.env.company.sms_default_country_id.code
        for partner in self:
            region = (
                partner.country_id.code
                or partner.company_id.sms_default_country_id.code
                or default_region
            )
            info = core_phone.first_number([partner.mobile, partner.phone], region)
            partner.sms_e164 = info.e164 if info else False
            partner.sms_number_type = info.number_type if info else False
            partner.sms_number_country_id = (
                self.env["res.country"]._sms_get_by_code(info.region) if info else False
            )
            partner.sms_tz = partner.tz or (info.time_zone if info else False)

    @api.depends("sms_consent_ids")
    def _compute_sms_consent(self):
        # SQL: the latest line per partner, for whole batches (imports touch 100,000 partners).
        ids = [pid for pid in self._ids if isinstance(pid, int)]
        latest = {}
        if ids:
            self.env["sms.marketing.consent"].flush_model()
            self.env.cr.execute(
                SQL(
                    """
                    SELECT DISTINCT ON (partner_id) partner_id, action, consent_date, source
                      FROM sms_marketing_consent
                     WHERE partner_id = ANY(%s)
                  ORDER BY partner_id, consent_date DESC, id DESC
                    """,
                    ids,
                )
            )
            latest = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for partner in self:
            action, date, source = latest.get(partner._origin.id, (None, False, False))
            partner.sms_consent_state = ACTION_TO_STATE.get(action, "unknown")
            partner.sms_consent_date = date
            partner.sms_consent_source = source

    @api.model_create_multi
    def create(self, vals_list):
        self._sms_check_consent_vals(*vals_list)
        return super().create(vals_list)

    def write(self, vals):
        self._sms_check_consent_vals(vals)
        res = super().write(vals)
        if {"mobile", "phone"} & vals.keys():
            # A contact who opted out stays opted out when they change number.
            opted_out = self.filtered(lambda p: p.sms_consent_state == "opted_out" and p.sms_e164)
            if opted_out:
                opted_out._sms_sync_blacklist()
        return res

    @api.model
    def _sms_check_consent_vals(self, *vals_list):
        if any(_CONSENT_FIELDS & vals.keys() for vals in vals_list):
            raise UserError(
                self.env._(
                    "SMS consent changes only through the opt-in / opt-out actions, "
                    "which log proof."
                )
            )

    # ------------------------------------------------------------------
    # Consent: the one way in
    # ------------------------------------------------------------------

    def _sms_consent_set(self, action, source, evidence=None, consent_date=None):
        """Record the same consent change for every partner of ``self``.

        Convenience wrapper around :meth:`_sms_consent_apply`; see there for the arguments.
        """
        return self._sms_consent_apply(
            [
                {
                    "partner": partner,
                    "action": action,
                    "source": source,
                    "evidence": evidence,
                    "consent_date": consent_date,
                }
                for partner in self
            ]
        )

    @api.model
    def _sms_consent_apply(self, entries, log_blacklist=True):
        """Record consent changes in the ledger and bring partners and blacklist in line.

        This is the only way a partner's SMS consent changes: the state, date and source are
        computed from the ledger (latest effective date wins, so an old imported opt-in never
        overrides a newer opt-out), and numbers whose partner ends up opted out are added to
        ``phone.blacklist`` (removed again when they opt back in), so Odoo's own SMS respect it.

        :param list entries: dicts with ``partner`` (``res.partner`` record), ``action``
            (``opt_in``, ``request``, ``confirm`` or ``opt_out``), ``source`` (a key of
            ``CONSENT_SOURCES``), optional ``evidence`` (text: reason, message, file and row...)
            and optional ``consent_date`` (datetime when the consent was given; now if empty)
        :param bool log_blacklist: post the evidence on each blacklist entry's chatter (off
            for bulk imports, whose evidence is in the ledger)
        :return: the ``sms.marketing.consent`` lines created
        """
        if not entries:
            return self.env["sms.marketing.consent"]
        valid_sources = dict(CONSENT_SOURCES)
        now = fields.Datetime.now()
        vals_list = []
        for entry in entries:
            if entry["action"] not in ACTION_TO_STATE or entry["source"] not in valid_sources:
                raise UserError(
                    self.env._(
                        "Unknown consent action %(action)s or source %(origin)s.",
                        action=entry["action"],
                        origin=entry["source"],
                    )
                )
            partner = entry["partner"]
            consent_date = entry.get("consent_date") or now
            if consent_date > now:
                raise UserError(self.env._("A consent date cannot be in the future."))
            vals_list.append(
                {
                    "partner_id": partner.id,
                    "number": partner.sms_e164,
                    "action": entry["action"],
                    "source": entry["source"],
                    "evidence": entry.get("evidence") or False,
                    "consent_date": consent_date,
                    "user_id": self.env.uid,
                    "company_id": (partner.company_id or self.env.company).id,
                }
            )
        # sudo: users may not write the ledger directly (it is append-only proof); the token
        # proves the call comes from this method.
        lines = (
            self.env["sms.marketing.consent"]
            .sudo()
            .with_context(**{_LEDGER_TOKEN_KEY: _LEDGER_TOKEN})
            .create(vals_list)
        )
        lines.partner_id._sms_sync_blacklist(
            message=entries[0].get("evidence") if log_blacklist else None,
        )
        return lines.sudo(False)

    def _sms_sync_blacklist(self, message=None):
        """Blacklist the numbers of opted-out partners, un-blacklist those who opted back in."""
        blacklist = (
            self.env["phone.blacklist"]
            .sudo()
            .with_context(mail_create_nolog=True, tracking_disable=not message)
        )
        # sudo: the blacklist is administrators' data; consent changes by marketing users
        # (and keyword replies from anonymous senders) must still update it.
        out = self.filtered(lambda p: p.sms_consent_state == "opted_out" and p.sms_e164)
        back_in = self.filtered(lambda p: p.sms_consent_state == "opted_in" and p.sms_e164)
        if out:
            blacklist._add(list(set(out.mapped("sms_e164"))), message=message)
        if back_in:
            listed = blacklist.search([("number", "in", back_in.mapped("sms_e164"))])
            if listed:
                blacklist._remove(listed.mapped("number"), message=message)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def _sms_action_consent_wizard(self, action):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Opt In to SMS")
            if action == "opt_in"
            else self.env._("Opt Out of SMS"),
            "res_model": "sms.marketing.consent.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_partner_ids": self.ids,
                "default_action": action,
            },
        }

    def action_sms_opt_in(self):
        return self._sms_action_consent_wizard("opt_in")

    def action_sms_opt_out(self):
        return self._sms_action_consent_wizard("opt_out")
