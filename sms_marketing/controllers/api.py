import hashlib
import json
import logging
import re

from odoo import SUPERUSER_ID, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request
from odoo.tools import SQL

from ..core import events as core_events
from ..core import shops as core_shops
from ..models.sms_marketing_api_request import API_SCOPE

_logger = logging.getLogger(__name__)

PREFIX = "/sms_marketing/api/v1"
#: Largest request body accepted (a batch of 1,000 orders with lines is about 1 MB).
MAX_BODY = 5 * 1024 * 1024
MAX_BATCH = 1000
_BEARER_RE = re.compile(r"^bearer\s+(\S+)$", re.IGNORECASE)


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json_response(status, payload, headers=None):
    return request.make_response(
        json.dumps(payload, ensure_ascii=False, default=str),
        headers=[("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
        status=status,
    )


class SmsMarketingApi(http.Controller):
    """The integrator API: JSON over HTTP under ``/sms_marketing/api/v1/``.

    Authenticated by Odoo's own API keys (``Authorization: Bearer <key>``), either keys made
    for this API only (scope ``sms_marketing``, refused by Odoo's RPC) or unscoped ones; the
    key's user's rights and companies apply. Every answer is JSON; errors are
    ``{"error": {"code", "message"}}`` with a stable code and a message in the user's
    language: 400 malformed, 401 no valid key, 403 no right, 404 unknown, 413 too large,
    422 invalid, 429 over the per-key rate limit. The routes stay thin: they authenticate,
    decode, and call one model method. Spec: ``docs/openapi.yaml``.
    """

    # ------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------

    def _handle(self, endpoint, handler, group="sms_marketing.group_sms_marketing_user"):
        """Authenticate, rate-limit, decode the body, honour ``Idempotency-Key``, call
        ``handler(env, company, payload)`` returning ``(status, payload)``."""
        try:
            env, token, company_id = self._authenticate()
            self._rate_limit(env, token)
            if not env.user.has_group(group):
                raise ApiError(403, "forbidden", env._("This API key's user lacks the right."))
            company = self._company(env, company_id)
            env = env(context=dict(env.context, allowed_company_ids=[company.id]))
            body = self._read_body(env)
            key = request.httprequest.headers.get("Idempotency-Key")
            if key:
                if len(key) > 255:
                    raise ApiError(400, "invalid_request", env._("Idempotency-Key is too long."))
                claimed = env["sms.marketing.api.request"]._claim(endpoint, key, body)
                if claimed is False:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        env._("This Idempotency-Key was used with another request body."),
                    )
                if claimed:
                    status, response = claimed
                    return request.make_response(
                        response,
                        headers=[
                            ("Content-Type", "application/json; charset=utf-8"),
                            ("Idempotent-Replayed", "true"),
                        ],
                        status=status,
                    )
            payload = (
                self._decode(env, body) if body or request.httprequest.method == "POST" else None
            )
            status, answer = handler(env, company, payload)
            text = json.dumps(answer, ensure_ascii=False, default=str)
            if key:
                env["sms.marketing.api.request"]._store(endpoint, key, status, text)
            return request.make_response(
                text, headers=[("Content-Type", "application/json; charset=utf-8")], status=status
            )
        except ApiError as exc:
            return _json_response(exc.status, {"error": {"code": exc.code, "message": exc.message}})
        except AccessError as exc:
            return _json_response(403, {"error": {"code": "forbidden", "message": str(exc)}})

    def _authenticate(self):
        """``(env, key, company id)``: the environment of the key's user, in its language,
        and the user's current company."""
        env = request.env
        header = request.httprequest.headers.get("Authorization", "")
        match = _BEARER_RE.match(header.strip())
        found = (
            env["res.users.apikeys"]._sms_marketing_check_key(match.group(1), API_SCOPE)
            if match
            else None
        )
        if not found:
            raise ApiError(
                401,
                "unauthorized",
                env._("Send a valid Odoo API key: Authorization: Bearer <key>."),
            )
        uid, company_id, lang = found
        request.update_env(user=uid)
        request.update_context(lang=lang or "en_US")
        return request.env, match.group(1), company_id

    def _company(self, env, company_id):
        """The company of the request: ``X-Company-Id`` when given (one of the user's),
        else the user's current one (what receiving events reads of it is cached:
        ``res.company._sms_marketing_event_settings``)."""
        wanted = request.httprequest.headers.get("X-Company-Id")
        if wanted:
            company = (
                env["res.company"].browse(int(wanted))
                if re.fullmatch("[0-9]{1,9}", wanted)
                else None
            )
            if not company or company not in env.user.company_ids:
                raise ApiError(
                    403, "forbidden", env._("This API key's user has no access to that company.")
                )
        else:
            company = env["res.company"].browse(company_id)
        return company

    def _rate_limit(self, env, token):
        limit = int(
            env["ir.config_parameter"].sudo().get_param("sms_marketing.api_rate_limit", 600)
        )
        if limit <= 0:
            return
        bucket = hashlib.sha256(token.encode()).hexdigest()[:32]
        # a cursor of its own, committed at once: the count is shared by every worker and
        # a request that fails later still counts; the row lock is held for one statement.
        # Its commit does not wait for the disk: a count lost in a crash costs nothing
        with env.registry.cursor() as cr:
            cr.execute("SET LOCAL synchronous_commit TO off")
            cr.execute(
                SQL(
                    """
                    INSERT INTO sms_marketing_api_rate (bucket, window_start)
                    VALUES (%s, date_trunc('minute', now() at time zone 'utc'))
                    ON CONFLICT (bucket, window_start)
                    DO UPDATE SET hits = sms_marketing_api_rate.hits + 1
                    RETURNING hits
                    """,
                    bucket,
                )
            )
            hits = cr.fetchone()[0]
        if hits > limit:
            raise ApiError(
                429,
                "rate_limited",
                env._("More than %s requests in a minute with this API key: retry later.", limit),
            )

    def _read_body(self, env):
        httprequest = request.httprequest
        if httprequest.content_length and httprequest.content_length > MAX_BODY:
            raise ApiError(
                413,
                "payload_too_large",
                env._("The request body exceeds %s MB.", MAX_BODY // (1024 * 1024)),
            )
        body = httprequest.get_data(cache=True)
        if len(body) > MAX_BODY:
            raise ApiError(
                413,
                "payload_too_large",
                env._("The request body exceeds %s MB.", MAX_BODY // (1024 * 1024)),
            )
        return body

    def _decode(self, env, body):
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApiError(
                400, "invalid_json", env._("The request body is not valid JSON.")
            ) from exc
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid_request", env._("The request body must be a JSON object."))
        return payload

    def _batch(self, env, payload, key):
        items = payload.get(key)
        if not isinstance(items, list) or not items:
            raise ApiError(400, "invalid_request", env._("%s must be a non-empty list.", key))
        if len(items) > MAX_BATCH:
            raise ApiError(413, "too_many_items", env._("At most %s items per request.", MAX_BATCH))
        return items

    # ------------------------------------------------------------------------------------
    # Endpoints
    # ------------------------------------------------------------------------------------

    @http.route(
        f"{PREFIX}/events",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_events(self, **kwargs):
        def handle(env, company, payload):
            events = self._batch(env, payload, "events")
            results = env["sms.marketing.event"]._ingest(events, "api", company=company)
            counts = dict.fromkeys(("created", "duplicate", "rejected"), 0)
            for result in results:
                counts[result["status"]] += 1
            return 200, {"results": results, **counts}

        return self._handle("events", handle)

    @http.route(
        f"{PREFIX}/contacts",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_contacts(self, **kwargs):
        def handle(env, company, payload):
            contacts = self._batch(env, payload, "contacts")
            results = env["sms.marketing.event"]._api_upsert_contacts(contacts, company)
            return 200, {"results": results}

        return self._handle("contacts", handle)

    @http.route(
        f"{PREFIX}/consent",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_consent(self, **kwargs):
        def handle(env, company, payload):
            Event = env["sms.marketing.event"]
            try:
                return 200, Event._api_consent(payload, company)
            except core_events.EventError as exc:
                raise ApiError(422, exc.code, Event._error_message(exc.code, exc.field)) from exc
            except UserError as exc:
                raise ApiError(409, "not_eligible", str(exc)) from exc

        return self._handle("consent", handle)

    @http.route(
        f"{PREFIX}/messages",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_messages(self, **kwargs):
        def handle(env, company, payload):
            try:
                trace = env["sms.marketing.trace"]._api_send(payload, company)
            except ValueError as exc:
                code, field = exc.args
                message = (
                    env._("%s was not found.", field)
                    if code == "not_found"
                    else env._("That contact has no SMS number.")
                    if code == "no_number"
                    else env._("The template is not valid: %s.", field)
                    if code == "invalid_template"
                    else env["sms.marketing.event"]._error_message(code, field)
                )
                raise ApiError(404 if code == "not_found" else 422, code, message) from exc
            return 201, self._message(trace)

        return self._handle("messages", handle, group="sms_marketing.group_sms_marketing_manager")

    @http.route(
        f"{PREFIX}/flows",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_flows(self, **kwargs):
        def handle(env, company, payload):
            return 200, {"flows": env["sms.marketing.automation"]._api_list(company)}

        return self._handle("flows", handle)

    @http.route(
        f"{PREFIX}/flows/<int:flow_id>/enrollments",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_flow_enroll(self, flow_id, **kwargs):
        def handle(env, company, payload):
            contacts = self._batch(env, payload, "contacts")
            try:
                results = env["sms.marketing.automation"]._api_enroll(flow_id, contacts, company)
            except ValueError as exc:
                raise ApiError(404, "not_found", env._("No such flow.")) from exc
            except UserError as exc:
                raise ApiError(409, "not_eligible", str(exc)) from exc
            return 200, {"results": results}

        return self._handle("enrollments", handle)

    @http.route(
        f"{PREFIX}/messages/<int:trace_id>",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_message(self, trace_id, **kwargs):
        def handle(env, company, payload):
            trace = env["sms.marketing.trace"].search(
                [("id", "=", trace_id), ("origin", "=", "api")]
            )
            if not trace:
                raise ApiError(404, "not_found", env._("No such message."))
            return 200, self._message(trace)

        return self._handle("message", handle)

    def _message(self, trace):
        def iso(value):
            return value.isoformat() + "Z" if value else None

        return {
            "id": trace.id,
            "state": trace.state,
            "number": trace.number,
            "contact_id": trace.partner_id.id or None,
            "segments": trace.segments,
            "created_at": iso(trace.create_date),
            "sent_at": iso(trace.sent_at),
            "delivered_at": iso(trace.status_at) if trace.state == "delivered" else None,
            "error_code": trace.error_code or None,
            "error_message": trace.error_message or None,
            "provider_id": trace.provider_id or None,
        }

    # ------------------------------------------------------------------------------------
    # Shop webhooks
    # ------------------------------------------------------------------------------------

    @http.route(
        f"{PREFIX}/webhooks/<string:platform>/<string:token>",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def api_shop_webhook(self, platform, token, **kwargs):
        # Superuser: shops call without a session; the URL token selects the connection and
        # the HMAC signature with its secret authenticates the body.
        env = request.env(user=SUPERUSER_ID)
        if platform not in (core_shops.SHOPIFY, core_shops.WOOCOMMERCE):
            return _json_response(404, {"error": {"code": "not_found", "message": "not found"}})
        shop = env["sms.marketing.shop"]._get_by_token(platform, token)
        if not shop:
            return _json_response(404, {"error": {"code": "not_found", "message": "not found"}})
        httprequest = request.httprequest
        if httprequest.content_length and httprequest.content_length > MAX_BODY:
            return _json_response(
                413, {"error": {"code": "payload_too_large", "message": "too large"}}
            )
        body = httprequest.get_data(cache=True)
        headers = httprequest.headers
        # the form-encoded ping is parsed by werkzeug into the route's arguments
        ping = core_shops.is_woocommerce_ping(body) or (
            not body and str(kwargs.get("webhook_id", "")).isdigit()
        )
        if platform == core_shops.WOOCOMMERCE and ping:
            return _json_response(200, {"received": 0})
        signature = headers.get(
            "X-Shopify-Hmac-SHA256" if platform == core_shops.SHOPIFY else "X-WC-Webhook-Signature"
        )
        try:
            core_shops.verify(shop.secret, body, signature)
        except core_shops.ShopSignatureError as exc:
            _logger.warning("Refused %s webhook for shop %s: %s", platform, shop.id, exc)
            return _json_response(
                401, {"error": {"code": "unauthorized", "message": "bad signature"}}
            )
        if platform == core_shops.SHOPIFY:
            topic, delivery = headers.get("X-Shopify-Topic"), headers.get("X-Shopify-Webhook-Id")
        else:
            topic, delivery = (
                headers.get("X-WC-Webhook-Topic"),
                headers.get("X-WC-Webhook-Delivery-ID"),
            )
        try:
            duplicate, results = shop._receive(topic or "", json.loads(body), delivery)
        except (ValueError, TypeError, KeyError) as exc:
            _logger.warning("Malformed %s webhook for shop %s: %s", platform, shop.id, exc)
            return _json_response(
                400, {"error": {"code": "invalid_request", "message": "malformed"}}
            )
        return _json_response(
            200,
            {
                "duplicate": duplicate,
                "received": len(results),
                "rejected": sum(1 for result in results if result["status"] == "rejected"),
            },
        )
