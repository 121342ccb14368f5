from odoo import api, fields, models
from odoo.tools import SQL

#: A campaign needs this many SMS sent to be ranked best or worst.
RANK_MIN_SENT = 20


class SmsMarketingDashboard(models.AbstractModel):
    """The SMS Marketing dashboard's figures, all from the daily summary
    (``sms.marketing.trace.daily``) in a handful of aggregates: the period's totals and
    rates, the figures of each day, the best and worst campaigns, and the gateways'
    health and cost per delivered SMS."""

    _name = "sms.marketing.dashboard"
    _description = "SMS Marketing Dashboard"

    @api.model
    def get_dashboard(self, days=30):
        """Figures of the last ``days`` days for the user's companies.

        :return: ``{"totals": {...}, "series": [{"day", "sent", "delivered", "clicked",
            "revenue"}], "best": [...], "worst": [...], "gateways": [...], "currency",
            "labels": {...}}``
        """
        Report = self.env["sms.marketing.trace.report"]
        Report.check_access("read")
        days = max(int(days or 30), 1)
        # the summary's days are UTC days (see sms.marketing.trace.daily)
        today = fields.Date.today()
        since = fields.Date.subtract(today, days=days - 1)
        companies = self.env.companies.ids
        where = SQL("day >= %s AND company_id = ANY(%s)", since, companies)
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                SELECT COALESCE(sum(sent), 0), COALESCE(sum(delivered), 0),
                       COALESCE(sum(failed) + sum(undelivered), 0), COALESCE(sum(clicked), 0),
                       COALESCE(sum(opted_out), 0), COALESCE(sum(converted), 0),
                       COALESCE(sum(revenue), 0), COALESCE(sum(cost), 0),
                       COALESCE(sum(excluded), 0)
                  FROM sms_marketing_trace_daily WHERE %s
                """,
                where,
            )
        )
        sent, delivered, failed, clicked, optouts, converted, revenue, cost, excluded = (
            cr.fetchone()
        )

        def rate(top, bottom, factor=100.0):
            return round(top * factor / bottom, 2) if bottom else 0.0

        totals = {
            "sent": sent,
            "delivered": delivered,
            "failed": failed,
            "clicked": clicked,
            "optouts": optouts,
            "converted": converted,
            "revenue": round(revenue, 2),
            "cost": round(cost, 2),
            "excluded": excluded,
            "delivery_rate": rate(delivered, sent),
            "click_rate": rate(clicked, sent),
            "optout_rate": rate(optouts, sent),
            "conversion_rate": rate(converted, sent),
            "cost_per_delivered": rate(cost, delivered, 1.0),
            "roi": rate(revenue - cost, cost),
        }
        cr.execute(
            SQL(
                """
                SELECT d::date, COALESCE(sum(t.sent), 0), COALESCE(sum(t.delivered), 0),
                       COALESCE(sum(t.clicked), 0), COALESCE(sum(t.revenue), 0)
                  FROM generate_series(%s::date, %s::date, interval '1 day') d
             LEFT JOIN sms_marketing_trace_daily t
                    ON t.day = d::date AND t.company_id = ANY(%s)
              GROUP BY d ORDER BY d
                """,
                since,
                today,
                companies,
            )
        )
        series = [
            {"day": fields.Date.to_string(day), "sent": s, "delivered": d, "clicked": c,
             "revenue": round(r, 2)}
            for day, s, d, c, r in cr.fetchall()
        ]  # fmt: skip
        cr.execute(
            SQL(
                """
                SELECT campaign_id, sum(sent), sum(clicked), sum(converted), sum(revenue),
                       sum(cost), sum(clicked)::float / sum(sent)
                  FROM sms_marketing_trace_daily
                 WHERE %s AND campaign_id IS NOT NULL AND automation_id IS NULL
              GROUP BY campaign_id HAVING sum(sent) >= %s
                """,
                where,
                RANK_MIN_SENT,
            )
        )
        ranked = sorted(cr.fetchall(), key=lambda row: (row[6], row[4]), reverse=True)
        campaigns = {
            c.id: c.name
            for c in self.env["sms.marketing.campaign"].browse([row[0] for row in ranked]).exists()
        }

        def campaign(row):
            return {
                "id": row[0],
                "name": campaigns.get(row[0], "-"),
                "sent": row[1],
                "clicked": row[2],
                "converted": row[3],
                "revenue": round(row[4], 2),
                "click_rate": rate(row[2], row[1]),
            }

        best = [campaign(row) for row in ranked[:5]]
        worst = [campaign(row) for row in ranked[::-1][:5] if row not in ranked[:5]]
        cr.execute(
            SQL(
                """
                SELECT gateway_id, sum(sent), sum(delivered), sum(failed) + sum(undelivered),
                       sum(cost)
                  FROM sms_marketing_trace_daily
                 WHERE %s AND gateway_id IS NOT NULL
              GROUP BY gateway_id ORDER BY sum(sent) DESC
                """,
                where,
            )
        )
        rows = cr.fetchall()
        gateways = {
            g.id: g for g in self.env["sms.marketing.gateway"].sudo().browse([r[0] for r in rows])
        }
        gateway_health = [
            {
                "id": gateway_id,
                "name": gateways[gateway_id].name if gateway_id in gateways else "-",
                "provider": gateways[gateway_id].provider if gateway_id in gateways else "",
                "up": not (
                    gateway_id in gateways
                    and gateways[gateway_id].down_until
                    and gateways[gateway_id].down_until > fields.Datetime.now()
                ),
                "sent": g_sent,
                "delivery_rate": rate(g_delivered, g_sent),
                "failed": g_failed,
                "cost_per_delivered": rate(g_cost, g_delivered, 1.0),
            }
            for gateway_id, g_sent, g_delivered, g_failed, g_cost in rows
        ]
        return {
            "days": days,
            "totals": totals,
            "series": series,
            "best": best,
            "worst": worst,
            "gateways": gateway_health,
            "currency": self.env.company.currency_id.symbol or "",
            "labels": {
                "title": self.env._("Last %s days", days),
                "sent": self.env._("SMS Sent"),
                "delivery_rate": self.env._("Delivery Rate"),
                "clicked": self.env._("Clicks"),
                "click_rate": self.env._("Click Rate"),
                "revenue": self.env._("Revenue"),
                "optout_rate": self.env._("Opt-out Rate"),
                "cost": self.env._("Cost"),
                "cost_per_delivered": self.env._("Cost per Delivered SMS"),
                "roi": self.env._("ROI"),
                "best": self.env._("Best Campaigns"),
                "worst": self.env._("Campaigns to Improve"),
                "gateways": self.env._("Gateway Health"),
                "gateway": self.env._("Gateway"),
                "campaign": self.env._("Campaign"),
                "failed": self.env._("Failed"),
                "up": self.env._("Up"),
                "down": self.env._("Down"),
                "per_day": self.env._("SMS per day"),
                "delivered": self.env._("Delivered"),
                "none": self.env._("No SMS in this period yet."),
                "analysis": self.env._("Open the Analysis"),
            },
        }
