from odoo import api, fields, models
from odoo.exceptions import UserError

# What each ledger action does to the partner's consent state.
ACTION_TO_STATE = {
    "opt_in": "opted_in",
    "confirm": "opted_in",
    "request": "pending",
    "opt_out": "opted_out",
}

CONSENT_SOURCES = [
    ("manual", "Manual"),
    ("form", "Web Form"),
    ("import", "Import"),
    ("keyword", "Keyword Reply"),
    ("api", "API"),
    ("order", "Order"),
    ("double_opt_in", "Double Opt-in"),
]


class SmsMarketingConsent(models.Model):
    """Append-only ledger of SMS consent changes: the proof behind every partner's state.

    Each line records who changed what, when, from which source and with which evidence
    (the inbound message, the imported file and row, the user and reason...). Lines are only
    written by :meth:`res.partner._sms_consent_apply`, which is also the only way a partner's
    consent state changes (the state is computed from the latest line). Nobody, not even an
    administrator, creates, edits or deletes lines through the ORM, and a database trigger
    refuses edits and deletions through SQL, so the ledger keeps its value as evidence.
    """

    _name = "sms.marketing.consent"
    _description = "SMS Consent Ledger"
    _order = "consent_date desc, id desc"
    _rec_name = "action"

    partner_id = fields.Many2one(
        "res.partner",
        string="Contact",
        index=True,
        ondelete="set null",
        readonly=True,
        help="Emptied if the contact is deleted: the line stays as proof for the number.",
    )
    number = fields.Char(readonly=True, index=True, help="E.164 number at the time of the change.")
    action = fields.Selection(
        [
            ("opt_in", "Opt-in"),
            ("request", "Double Opt-in Requested"),
            ("confirm", "Opt-in Confirmed"),
            ("opt_out", "Opt-out"),
        ],
        required=True,
        readonly=True,
    )
    source = fields.Selection(CONSENT_SOURCES, required=True, readonly=True)
    evidence = fields.Text(readonly=True)
    consent_date = fields.Datetime(
        string="Effective Date",
        required=True,
        readonly=True,
        default=fields.Datetime.now,
        help="When the consent was given or withdrawn. For imports this is the date declared "
        "in the file; the recording date is kept separately.",
    )
    create_date = fields.Datetime(string="Recorded On", readonly=True)
    user_id = fields.Many2one(
        "res.users",
        string="Recorded By",
        readonly=True,
        default=lambda self: self.env.user,
        ondelete="restrict",
    )
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        ondelete="restrict",
        help="Company of the contact when the change was recorded.",
    )

    def init(self):
        # Evidence must survive mistakes made outside the ORM too: only the foreign keys may be
        # emptied (when their contact is deleted); every other update and every delete fails.
        # A DBA handling an erasure request drops this trigger consciously.
        self.env.cr.execute(
            """
            CREATE OR REPLACE FUNCTION sms_marketing_consent_immutable() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                   AND NEW.partner_id IS NULL
                   AND (NEW.id, NEW.number, NEW.action, NEW.source, NEW.evidence,
                        NEW.consent_date, NEW.create_date, NEW.user_id, NEW.company_id)
                       IS NOT DISTINCT FROM
                       (OLD.id, OLD.number, OLD.action, OLD.source, OLD.evidence,
                        OLD.consent_date, OLD.create_date, OLD.user_id, OLD.company_id)
                THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'sms.marketing.consent lines are immutable (% refused)', TG_OP;
            END;
            $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS sms_marketing_consent_immutable ON sms_marketing_consent;
            CREATE TRIGGER sms_marketing_consent_immutable
                BEFORE UPDATE OR DELETE ON sms_marketing_consent
                FOR EACH ROW EXECUTE FUNCTION sms_marketing_consent_immutable();
            """
        )

    # Creation is refused to everybody: no super() to call.
    @api.model_create_multi
    def create(self, vals_list):  # pylint: disable=method-required-super
        # Access rights first: users get the usual access error.
        self.check_access("create")
        raise UserError(
            self.env._(
                "Consent lines are written by the consent buttons, imports and keyword "
                "replies only."
            )
        )

    def write(self, vals):
        if not vals:
            return super().write(vals)
        self.check_access("write")
        raise UserError(
            self.env._("The consent ledger is append-only: its lines cannot be changed.")
        )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_ledger(self):
        raise UserError(
            self.env._("The consent ledger is append-only: its lines cannot be deleted.")
        )
