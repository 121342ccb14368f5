import logging

from odoo import SUPERUSER_ID, http
from odoo.http import request

from ..core import gateways
from ..core.gateways import base as gw

_logger = logging.getLogger(__name__)


class SmsMarketingWebhook(http.Controller):
    """Delivery reports and inbound SMS pushed by the gateways.

    ``/sms_marketing/webhook/<token>/status`` and ``/inbound``: the token (secret, per
    gateway) selects the gateway, the provider's client verifies the signature where the
    provider signs (a forged or unsigned request gets 403 and changes nothing), parses the
    provider's format, and the dispatcher applies the result idempotently. The route stays
    thin: no ORM loops here.
    """

    @http.route(
        "/sms_marketing/webhook/<string:token>/<string:kind>",
        type="http",
        auth="none",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
        readonly=False,  # auth="none" routes default to a read-only cursor
    )
    def webhook(self, token, kind, **kwargs):
        if kind not in (gw.WEBHOOK_STATUS, gw.WEBHOOK_INBOUND) or not request.db:
            return request.make_response("not found", status=404)
        # Superuser: providers call without a session; the secret token authenticates them,
        # and consent changes they cause are recorded as made by the system (OdooBot).
        env = request.env(user=SUPERUSER_ID)
        gateway = env["sms.marketing.gateway"]._get_by_webhook_token(token)
        if not gateway:
            return request.make_response("forbidden", status=403)
        httprequest = request.httprequest
        body = httprequest.get_data(cache=True)
        webhook_request = gw.WebhookRequest(
            method=httprequest.method,
            url=httprequest.url,
            headers={key.lower(): value for key, value in httprequest.headers.items()},
            query=httprequest.args.to_dict(),
            form=httprequest.form.to_dict(),
            body=body,
        )
        client = gateway._get_webhook_client()
        try:
            client.verify_webhook(webhook_request, kind)
        except gateways.SignatureError as exc:
            _logger.warning("Refused %s webhook for gateway %s: %s", kind, gateway.id, exc)
            return request.make_response("forbidden", status=403)
        dispatcher = env["sms.marketing.dispatcher"].with_env(gateway.env)
        if not client.receives_webhooks:
            return request.make_response("not found", status=404)
        try:
            if kind == gw.WEBHOOK_STATUS:
                # Reports are idempotent and come by the thousand: no need to wait for the
                # disk at commit. A database crash may forget the last fraction of a second
                # of reports (those traces stay "sent"); inbound SMS, which change consent,
                # keep the default synchronous commit.
                dispatcher._apply_status_reports(
                    gateway, client.parse_status(webhook_request), durable=False
                )
            else:
                dispatcher._apply_inbound(gateway, client.parse_inbound(webhook_request))
        except (ValueError, KeyError, TypeError) as exc:
            _logger.warning("Malformed %s webhook for gateway %s: %s", kind, gateway.id, exc)
            return request.make_response("bad request", status=400)
        answer = client.webhook_response(kind)
        return request.make_response(
            answer.body, headers=[("Content-Type", answer.content_type)], status=answer.status
        )
