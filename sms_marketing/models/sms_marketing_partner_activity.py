from odoo import fields, models
from odoo.tools import SQL


class SmsMarketingPartnerActivity(models.Model):
    """A contact's last order and last human click on an SMS link, one narrow row per
    contact: dormant-customer flows and behaviour segments read it through its index, and
    the writers (every order ingested, every click) touch a two-index table, not the
    contact row with its twenty indexes."""

    _name = "sms.marketing.partner.activity"
    _description = "SMS Contact Activity"
    _log_access = False
    _rec_name = "partner_id"

    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=False)
    last_order_at = fields.Datetime(readonly=True)
    last_click_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("partner_unique", "UNIQUE(partner_id)", "A contact has one activity row."),
    ]

    def init(self):
        # dormant customers: when their last order or click was (GREATEST ignores a NULL)
        self.env.cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_partner_activity_last_idx
                ON sms_marketing_partner_activity (GREATEST(last_order_at, last_click_at))
             WHERE last_order_at IS NOT NULL
            """
        )

    def _record(self, column, moments):
        """Keep the latest of ``moments`` (``{partner id: datetime}``) in ``column``
        (``last_order_at`` or ``last_click_at``), in one statement; rows are written in
        contact order, the one order every writer uses (two requests never deadlock)."""
        if not moments:
            return
        if column not in ("last_order_at", "last_click_at"):
            raise ValueError(column)
        partners = sorted(moments)
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_partner_activity (partner_id, %(column)s)
                SELECT p, m FROM unnest(%(partners)s::int[], %(moments)s::timestamp[]) a(p, m)
              ORDER BY p
                    ON CONFLICT (partner_id) DO UPDATE
                   SET %(column)s = GREATEST(sms_marketing_partner_activity.%(column)s,
                                             EXCLUDED.%(column)s)
                """,
                column=SQL.identifier(column),
                partners="{" + ",".join(map(str, partners)) + "}",
                moments="{" + ",".join(f'"{moments[p]}"' for p in partners) + "}",
            )
        )
        self.env["res.partner"].browse(partners).invalidate_recordset(
            ["sms_last_order_at", "sms_last_click_at"]
        )
