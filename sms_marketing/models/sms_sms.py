import logging
from collections import defaultdict

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
    transactional trace and marks the SMS and its chatter notification *Processing*: it
    leaves the outgoing queue at once, so Odoo's queue can never send it a second time (the
    double send of odoo/odoo#285677 cannot happen), and our dispatcher sends it with retries
    and failover. Outcomes and delivery reports come back through
    :meth:`_sms_marketing_sync`, which updates the SMS and Odoo's trackers (chatter
    notification icons) exactly as Odoo's IAP reports would.
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
            # Out of Odoo's queue; the chatter shows them processing. Only the notifications
            # move here: the whole tracker update would also write the mailing of
            # mass_mailing_sms ("sending"), which our dispatcher's reports set "done"
            # meanwhile from another transaction, and Odoo's queue run would stop on a
            # serialization failure, leaving the rest of its queue for its next run. The
            # mailing traces move when our dispatcher reports (like IAP's "success" answer).
            queued.write({"state": "process", "failure_type": False})
            queued.sms_tracker_id._update_sms_notifications("process")
            Trace.create(vals_list)

    @api.model
    def _sms_marketing_sync(self, trace_ids):
        """Reflect trace outcomes on the SMS and trackers they carry (by SMS UUID).

        Grouped by outcome: Odoo's tracker updates (and mass_mailing_sms's, which look at
        the whole mailing each time) run once per outcome, not once per SMS.
        """
        traces = self.env["sms.marketing.trace"].sudo().browse(trace_ids)
        traces.invalidate_recordset(["state", "error_code", "error_message"])
        Tracker = self.env["sms.tracker"].sudo()
        uuids = traces.mapped("sms_uuid")
        all_sms = self.sudo().search([("uuid", "in", uuids)])
        trackers = Tracker.search([("sms_uuid", "in", uuids)])
        sms_by_uuid = {sms.uuid: sms.id for sms in all_sms}
        tracker_by_uuid = defaultdict(list)
        for tracker in trackers:
            tracker_by_uuid[tracker.sms_uuid].append(tracker.id)
        # (tracker update, SMS values) -> uuids
        groups = defaultdict(list)
        for trace in traces:
            if trace.state == "sent":
                key = (("state", "pending", False), ("pending", False, True))
            elif trace.state == "delivered":
                key = (("state", "sent", False), ("sent", False, True))
            elif trace.state == "undelivered":
                key = (("provider", "not_delivered", None), ("error", "unknown", True))
            elif trace.state in ("failed", "unknown"):
                failure_type = FAILURE_TYPES.get(trace.error_code, "unknown")
                if failure_type == "unknown":
                    error = trace.error_message or trace.error_code or "unknown"
                    key = (("provider", error, None), ("error", failure_type, False))
                else:
                    key = (("state", "error", failure_type), ("error", failure_type, False))
            else:
                continue
            groups[key].append(trace.sms_uuid)
        for ((kind, value, failure_type), (state, sms_failure, to_delete)), group in groups.items():
            group_trackers = Tracker.browse(
                [tid for uuid in group for tid in tracker_by_uuid.get(uuid, ())]
            )
            if kind == "state":
                group_trackers._action_update_from_sms_state(value, failure_type=failure_type)
            else:
                group_trackers._action_update_from_provider_error(value)
            values = {"state": state, "failure_type": sms_failure}
            if to_delete:
                values["to_delete"] = True
            self.sudo().browse([sms_by_uuid[uuid] for uuid in group if uuid in sms_by_uuid]).write(
                values
            )
        all_sms.mail_message_id._notify_message_notification_update()
