from odoo import http
from odoo.http import request


class Noop(http.Controller):
    """The baseline of the webhook benchmark: a route declared exactly like
    ``/sms_marketing/webhook/<token>/<kind>`` (database, read/write transaction, no session)
    that does nothing, so the comparison measures what our webhook adds to Odoo's own cost
    of serving a request."""

    @http.route(
        "/sms_marketing_bench/noop/<string:token>/<string:kind>",
        type="http",
        auth="none",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def noop(self, token, kind, **kwargs):
        return request.make_response(b'{"ok":true}', headers=[("Content-Type", "application/json")])
