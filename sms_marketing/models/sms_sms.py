import logging

from odoo import api, models

from ..core import phone as core_phone

_logger = logging.getLogger(__name__)

# Our normalised errors, as Odoo's SMS failure types (sms.sms.failure_type).
FAILURE_TYPES = {
    "invalid_number": "sms_number_format",
    "unsupported_country": "sms_country_not_supported",
    "insufficient_funds": "sms_credit",
    "server_error": "sms_server",
    "timeout": "sms_server",
    "network": "sms_server",
    "auth_failed": "sms_acc",
    "blocked": "sms_blacklist",
}


class SmsSms(models.Model):
    """Odoo's own SMS queue, routed through our gateways when the company has one for
    transactional messages.

    ``_send`` (called by Odoo's queue cron and by "send now" flows) turns each SMS into a
    transactional trace and marks the SMS *Processing*: it leaves the outgoing queue at once,
    so Odoo's queue can never send it a second time (the double send of odoo/odoo#285677
    cannot happen), and our dispatcher sends it with retries and failover. Outcomes and
    delivery reports come back through :meth:`_sms_marketing_sync`, which updates the SMS and
    Odoo's trackers (chatter notification icons) exactly as Odoo's IAP reports would.
    Transactional SMS ignore marketing consent; Odoo's own blacklist rules still apply
    upstream where Odoo applies them.
    """

    _inherit = "sms.sms"

    def _send(self, unlink_failed=False, unlink_sent=True, raise_exception=False):
        routed = self._sms_marketing_routable()
        if routed:
            routed._sms_marketing_enqueue()
        rest = self - routed
        if rest:
            return super(SmsSms, rest)._send(
                unlink_failed=unlink_failed,
                unlink_sent=unlink_sent,
                raise_exception=raise_exception,
            )
        return None

    def _sms_marketing_company(self):
        return self.partner_id.company_id or self.env.company

    def _sms_marketing_routable(self):
        """The SMS of companies that have an active transactional gateway."""
        companies = (
            self.env["sms.marketing.gateway"]
            .sudo()
            .search([("use_transactional", "=", True)])
            .company_id
        )
        return self.filtered(lambda sms: sms._sms_marketing_company() in companies)

    def _sms_marketing_enqueue(self):
        """Queue these SMS as transactional traces; invalid numbers fail at once."""
        Trace = self.env["sms.marketing.trace"].sudo()
        vals_list, invalid = [], self.browse()
        for sms in self:
            company = sms._sms_marketing_company()
            region = (
                sms.partner_id.country_id.code
                or company.sms_default_country_id.code
                or company.country_id.code
            )
            info = core_phone.normalize(sms.number, region)
            if not info or not info.is_valid:
                invalid |= sms
                continue
            vals_list.append(
                {
                    "company_id": company.id,
                    "partner_id": sms.partner_id.id,
                    "number": info.e164,
                    "country_code": info.region,
                    "body": sms.body or "",
                    "message_class": "transactional",
                    "sms_uuid": sms.uuid,
                    "origin": "sms.sms",
                }
            )
        if invalid:
            invalid._update_sms_state_and_trackers("error", failure_type="sms_number_format")
        queued = self - invalid
        if queued:
            queued._update_sms_state_and_trackers("process")
            Trace.create(vals_list)

    @api.model
    def _sms_marketing_sync(self, trace_ids):
        """Reflect trace outcomes on the SMS and trackers they carry (by SMS UUID)."""
        traces = self.env["sms.marketing.trace"].sudo().browse(trace_ids)
        traces.invalidate_recordset(["state", "error_code", "error_message"])
        Tracker = self.env["sms.tracker"].sudo()
        all_sms = self.sudo().search([("uuid", "in", traces.mapped("sms_uuid"))])
        sms_by_uuid = {sms.uuid: sms for sms in all_sms}
        for trace in traces:
            sms = sms_by_uuid.get(trace.sms_uuid, self.browse())
            tracker = Tracker.search([("sms_uuid", "=", trace.sms_uuid)])
            if trace.state == "sent":
                tracker._action_update_from_sms_state("pending")
                sms.write({"state": "pending", "failure_type": False, "to_delete": True})
            elif trace.state == "delivered":
                tracker._action_update_from_sms_state("sent")
                sms.write({"state": "sent", "failure_type": False, "to_delete": True})
            elif trace.state == "undelivered":
                tracker._action_update_from_provider_error("not_delivered")
                sms.write({"state": "error", "failure_type": "unknown", "to_delete": True})
            elif trace.state in ("failed", "unknown"):
                failure_type = FAILURE_TYPES.get(trace.error_code, "unknown")
                if failure_type == "unknown":
                    tracker._action_update_from_provider_error(
                        trace.error_message or trace.error_code or "unknown"
                    )
                else:
                    tracker._action_update_from_sms_state("error", failure_type=failure_type)
                sms.write({"state": "error", "failure_type": failure_type})
        all_sms.mail_message_id._notify_message_notification_update()
