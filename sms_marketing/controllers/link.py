import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

from ..core import useragent

_logger = logging.getLogger(__name__)


class SmsMarketingLink(http.Controller):
    """Short links of SMS campaigns: ``/r/<code>/t/<token>``.

    One ``link.tracker`` serves a campaign's URL for all its recipients; the token (random,
    per trace) says who clicked. A human click is recorded on ``link.tracker.click`` and on
    the trace (its first click); bots and link-preview fetchers (which open links as soon as
    a message arrives on some phones and chat apps) and unknown tokens are redirected
    without counting anything.
    """

    @http.route(
        "/r/<string:code>/t/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        save_session=False,
        readonly=False,
    )
    def sms_marketing_click(self, code, token, **kwargs):
        env = request.env
        link_code = env["link.tracker.code"].sudo().search([("code", "=", code)], limit=1)
        if not link_code:
            raise NotFound()
        link = link_code.link_id
        httprequest = request.httprequest
        if not useragent.is_bot(httprequest.user_agent.string, httprequest.method):
            self._record_click(link, code, token)
        return request.redirect(link.redirected_url, code=302, local=False)

    @http.route(
        "/r/_c/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        save_session=False,
        readonly=False,
    )
    def sms_marketing_cart(self, token, **kwargs):
        """``{{ cart_url }}``: the recipient's open cart (the recovery link of their last
        abandoned cart), else the company's website. A human click counts on the trace
        like a short link's (link codes are letters and digits: ``_c`` is never one)."""
        env = request.env
        trace = env["sms.marketing.trace"].sudo().search([("link_token", "=", token)], limit=1)
        if not trace:
            raise NotFound()
        httprequest = request.httprequest
        if not useragent.is_bot(httprequest.user_agent.string, httprequest.method):
            trace._sms_marketing_record_click()
        target = trace.partner_id.sms_cart_url or trace.company_id.website or trace.get_base_url()
        return request.redirect(target, code=302, local=False)

    def _record_click(self, link, code, token):
        env = request.env
        trace = env["sms.marketing.trace"].sudo().search([("link_token", "=", token)], limit=1)
        if (
            not trace
            or not link.campaign_id
            or trace.campaign_id.utm_campaign_id != link.campaign_id
        ):
            return
        env["link.tracker.click"].sudo().add_click(
            code,
            ip=request.httprequest.remote_addr,
            country_code=request.geoip.country_code,
            sms_marketing_trace_id=trace.id,
        )
        trace._sms_marketing_record_click()
