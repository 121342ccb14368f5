from odoo import api, fields, models
from odoo.tools import SQL

#: Rates of the reports: ``field: (numerator, denominator, factor)``.
RATES = {
    "delivery_rate": ("delivered", "sent", 100.0),
    "click_rate": ("clicked", "sent", 100.0),
    "conversion_rate": ("converted", "sent", 100.0),
    "optout_rate": ("opted_out", "sent", 100.0),
    "cost_per_delivered": ("cost", "delivered", 1.0),
    "revenue_per_sms": ("revenue", "sent", 1.0),
}


class SmsMarketingReportMixin(models.AbstractModel):
    """Rates and ROI of the SMS reports, right in groups: a rate of a group is its sums'
    ratio (delivered / sent of the whole group), not an average of the rows' rates, and
    the ROI is (revenue - cost) / cost. ``read_group`` asks for the sums it needs."""

    _name = "sms.marketing.report.mixin"
    _description = "SMS Report Rates"

    delivery_rate = fields.Float(string="Delivery Rate (%)", aggregator="avg", readonly=True)
    click_rate = fields.Float(string="Click Rate (%)", aggregator="avg", readonly=True)
    conversion_rate = fields.Float(string="Conversion Rate (%)", aggregator="avg", readonly=True)
    optout_rate = fields.Float(string="Opt-out Rate (%)", aggregator="avg", readonly=True)
    cost_per_delivered = fields.Float(aggregator="avg", readonly=True, digits=(16, 4))
    revenue_per_sms = fields.Float(
        string="Revenue per SMS", aggregator="avg", readonly=True, digits=(16, 4)
    )
    roi = fields.Float(string="ROI (%)", aggregator="avg", readonly=True)

    @api.model
    def _rates_sql(self):
        """The rates and ROI of one row, as the view's columns."""
        columns = [
            SQL(
                "CASE WHEN %(bottom)s > 0 THEN %(top)s * %(factor)s / %(bottom)s END AS %(name)s",
                bottom=SQL.identifier(denominator),
                top=SQL.identifier(numerator),
                factor=factor,
                name=SQL.identifier(name),
            )
            for name, (numerator, denominator, factor) in RATES.items()
        ]
        columns.append(SQL("CASE WHEN cost > 0 THEN (revenue - cost) * 100 / cost END AS roi"))
        return SQL(", ").join(columns)

    @api.model
    def read_group(self, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
        names = {spec.split(":")[0] for spec in fields}
        wanted = [name for name in (*RATES, "roi") if name in names]
        if not wanted:
            return super().read_group(domain, fields, groupby, offset, limit, orderby, lazy)
        needed = {part for name in wanted for part in RATES.get(name, ("revenue", "cost"))[:2]}
        extra = [f"{name}:sum" for name in needed - names]
        groups = super().read_group(
            domain, list(fields) + extra, groupby, offset, limit, orderby, lazy
        )
        for group in groups:
            for name in wanted:
                if name == "roi":
                    cost, revenue = group.get("cost") or 0.0, group.get("revenue") or 0.0
                    group[name] = (revenue - cost) * 100.0 / cost if cost else 0.0
                    continue
                numerator, denominator, factor = RATES[name]
                bottom = group.get(denominator) or 0
                group[name] = (group.get(numerator) or 0) * factor / bottom if bottom else 0.0
        return groups
