import json
import logging
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, ormcache

from ..core import gateways
from ..core.gateways import base as gw_base

_logger = logging.getLogger(__name__)

PROVIDERS = [
    ("simulator", "Simulator"),
    ("twilio", "Twilio"),
    ("vonage", "Vonage"),
    ("aliyun", "Alibaba Cloud SMS"),
    ("tencent", "Tencent Cloud SMS"),
    ("http", "Generic HTTP"),
    ("smpp", "SMPP 3.4"),
]


def _json(value):
    return json.loads(value) if value else None


def _float(value):
    return float(value or 0)


#: How each provider's client settings are read from the gateway's fields:
#: ``{provider: {setting key: (field name, converter or None)}}``. The only place that knows
#: the providers' settings; everything else goes through :meth:`_get_client`.
CLIENT_SETTINGS = {
    "simulator": {
        "report_delay": ("simulator_report_delay", _float),
        "reply_delay": ("simulator_reply_delay", _float),
        "seed": ("simulator_seed", None),
    },
    "twilio": {
        "account_sid": ("twilio_account_sid", None),
        "auth_token": ("twilio_auth_token", None),
        "messaging_service_sid": ("twilio_messaging_service_sid", None),
    },
    "vonage": {
        "api_key": ("vonage_api_key", None),
        "api_secret": ("vonage_api_secret", None),
        "signature_secret": ("vonage_signature_secret", None),
        "signature_method": ("vonage_signature_method", None),
    },
    "aliyun": {
        "access_key_id": ("aliyun_access_key_id", None),
        "access_key_secret": ("aliyun_access_key_secret", None),
        "sign_name": ("aliyun_sign_name", None),
        "template_code": ("aliyun_template_code", None),
        "template_param_name": ("aliyun_template_param_name", None),
        "region": ("aliyun_region", None),
    },
    "tencent": {
        "secret_id": ("tencent_secret_id", None),
        "secret_key": ("tencent_secret_key", None),
        "sdk_app_id": ("tencent_sdk_app_id", None),
        "sign_name": ("tencent_sign_name", None),
        "template_id": ("tencent_template_id", None),
        "region": ("tencent_region", None),
    },
    "http": {
        "url": ("http_url", None),
        "method": ("http_method", None),
        "headers": ("http_headers", _json),
        "content_type": ("http_content_type", None),
        "message_template": ("http_message_template", None),
        "batch_size": ("http_batch_size", None),
        "batch_template": ("http_batch_template", None),
        "result_path": ("http_result_path", None),
        "id_path": ("http_id_path", None),
        "ref_path": ("http_ref_path", None),
        "error_path": ("http_error_path", None),
        "webhook_secret": ("http_webhook_secret", None),
        "signature_header": ("http_signature_header", None),
        "status_items_path": ("http_status_items_path", None),
        "status_id_path": ("http_status_id_path", None),
        "status_value_path": ("http_status_value_path", None),
        "status_ref_path": ("http_status_ref_path", None),
        "status_map": ("http_status_map", _json),
        "inbound_items_path": ("http_inbound_items_path", None),
        "inbound_from_path": ("http_inbound_from_path", None),
        "inbound_text_path": ("http_inbound_text_path", None),
        "inbound_id_path": ("http_inbound_id_path", None),
    },
    "smpp": {
        "host": ("smpp_host", None),
        "port": ("smpp_port", None),
        "system_id": ("smpp_system_id", None),
        "password": ("smpp_password", None),
        "system_type": ("smpp_system_type", None),
    },
}

#: Providers whose status callback URL is given with each message (the rest configure it
#: once in the provider's console, or have none).
CALLBACK_PER_MESSAGE = {"twilio", "vonage"}


class SmsMarketingGateway(models.Model):
    """An SMS provider account the company sends through, and how to route to it.

    Administrators configure credentials (visible to administrators only), routing (priority,
    countries, message classes, fallback) and pacing (rate, batch size, concurrency). The
    dispatcher picks the first healthy gateway matching a message (:meth:`_route`), builds its
    client with :meth:`_get_client` and records failures in the gateway's health, which takes
    a failing gateway out of routing for a cool-down so traffic fails over.
    """

    _name = "sms.marketing.gateway"
    _description = "SMS Gateway"
    _order = "sequence, id"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(
        string="Priority", default=10, help="Lower numbers are tried first when routing."
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    provider = fields.Selection(PROVIDERS, required=True, default="simulator")
    use_marketing = fields.Boolean(string="Marketing Messages", default=True)
    use_transactional = fields.Boolean(
        string="Transactional Messages",
        default=True,
        help="Also send Odoo's own SMS (chatter, SMS templates, stock, CRM...) through this "
        "gateway instead of Odoo's IAP service.",
    )
    country_ids = fields.Many2many(
        "res.country",
        string="Countries",
        help="Send only to numbers of these countries; empty means every country.",
    )
    fallback_id = fields.Many2one(
        "sms.marketing.gateway",
        string="Fallback Gateway",
        domain="[('id', '!=', id), ('company_id', '=', company_id)]",
        help="Messages this gateway keeps failing to send (after the retries) are handed over "
        "to the fallback.",
    )
    sender = fields.Char(
        help="Sender shown on phones: a number (+14155552671), a registered alphanumeric "
        "sender id, or the approved signature for Chinese providers (【Brand】)."
    )
    sms_signature = fields.Char(
        string="Message Signature",
        help="Text put at the start of every campaign message, such as 【Brand】, which "
        "Chinese carriers require. Leave empty when the provider adds it from its own "
        "approved sign name (Alibaba Cloud, Tencent Cloud) or for other countries.",
    )
    base_url = fields.Char(
        string="API Base URL", help="Leave empty for the provider's official endpoint."
    )
    rate_limit = fields.Float(
        string="Rate Limit (msg/s)",
        default=0.0,
        help="Most messages per second sent through this gateway; 0 means no limit.",
    )
    batch_size = fields.Integer(
        default=500,
        help="Messages per request for providers with a batch API (capped by the provider).",
    )
    concurrency = fields.Integer(
        default=4,
        help="Parallel requests for providers that take one message per request.",
    )
    timeout = fields.Float(string="Timeout (s)", default=10.0)
    max_attempts = fields.Integer(
        default=5, help="Sending attempts before a temporary error becomes final."
    )
    cost_per_segment = fields.Float(digits=(12, 5))
    currency_id = fields.Many2one(
        "res.currency", default=lambda self: self.env.company.currency_id, required=True
    )
    webhook_token = fields.Char(
        copy=False,
        readonly=True,
        groups="base.group_system",
        default=lambda self: secrets.token_urlsafe(24),
        help="Secret part of the webhook URLs: only the provider knows it.",
    )
    status_webhook_url = fields.Char(compute="_compute_webhook_urls", groups="base.group_system")
    inbound_webhook_url = fields.Char(compute="_compute_webhook_urls", groups="base.group_system")
    health_failures = fields.Integer(readonly=True, copy=False, default=0)
    down_until = fields.Datetime(readonly=True, copy=False)
    last_error = fields.Char(readonly=True, copy=False)

    # -- simulator ----------------------------------------------------------------------------
    simulator_report_delay = fields.Float(string="Report Delay (s)", default=5.0)
    simulator_reply_delay = fields.Float(string="Reply Delay (s)", default=30.0)
    simulator_seed = fields.Char(default="sms_marketing")
    simulator_delivered = fields.Integer(string="Delivered %", default=85)
    simulator_undelivered = fields.Integer(string="Undelivered %", default=4)
    simulator_failed = fields.Integer(string="Failed %", default=2)
    simulator_reply_stop = fields.Integer(string="Reply STOP %", default=3)
    simulator_reply_text = fields.Integer(string="Reply Text %", default=6)
    # -- twilio -------------------------------------------------------------------------------
    twilio_account_sid = fields.Char(string="Account SID", groups="base.group_system")
    twilio_auth_token = fields.Char(string="Auth Token", groups="base.group_system")
    twilio_messaging_service_sid = fields.Char(
        string="Messaging Service SID", groups="base.group_system"
    )
    # -- vonage -------------------------------------------------------------------------------
    vonage_api_key = fields.Char(string="API Key", groups="base.group_system")
    vonage_api_secret = fields.Char(string="API Secret", groups="base.group_system")
    vonage_signature_secret = fields.Char(string="Signature Secret", groups="base.group_system")
    vonage_signature_method = fields.Selection(
        [
            ("md5hash", "MD5 hash"),
            ("md5", "MD5 HMAC"),
            ("sha1", "SHA1 HMAC"),
            ("sha256", "SHA256 HMAC"),
            ("sha512", "SHA512 HMAC"),
        ],
        string="Signature Method",
        default="md5hash",
        groups="base.group_system",
    )
    # -- alibaba cloud ------------------------------------------------------------------------
    aliyun_access_key_id = fields.Char(string="AccessKey ID", groups="base.group_system")
    aliyun_access_key_secret = fields.Char(string="AccessKey Secret", groups="base.group_system")
    aliyun_sign_name = fields.Char(string="Alibaba Signature", groups="base.group_system")
    aliyun_template_code = fields.Char(string="Template Code", groups="base.group_system")
    aliyun_template_param_name = fields.Char(
        string="Template Parameter", default="content", groups="base.group_system"
    )
    aliyun_region = fields.Char(default="cn-hangzhou", groups="base.group_system")
    # -- tencent cloud ------------------------------------------------------------------------
    tencent_secret_id = fields.Char(string="SecretId", groups="base.group_system")
    tencent_secret_key = fields.Char(string="SecretKey", groups="base.group_system")
    tencent_sdk_app_id = fields.Char(string="SmsSdkAppId", groups="base.group_system")
    tencent_sign_name = fields.Char(string="Tencent Signature", groups="base.group_system")
    tencent_template_id = fields.Char(string="Template", groups="base.group_system")
    tencent_region = fields.Char(default="ap-guangzhou", groups="base.group_system")
    # -- generic http -------------------------------------------------------------------------
    http_url = fields.Char(string="Send URL", groups="base.group_system")
    http_method = fields.Selection(
        [("POST", "POST"), ("GET", "GET")],
        string="Method",
        default="POST",
        groups="base.group_system",
    )
    http_headers = fields.Text(string="Headers (JSON)", groups="base.group_system")
    http_content_type = fields.Char(
        string="Content Type", default="application/json", groups="base.group_system"
    )
    http_message_template = fields.Text(
        string="Message Template",
        default='{"to": "{{to}}", "text": "{{body}}", "from": "{{sender}}", "ref": "{{ref}}"}',
        groups="base.group_system",
    )
    http_batch_size = fields.Integer(
        string="HTTP Batch Size", default=1, groups="base.group_system"
    )
    http_batch_template = fields.Text(
        string="Batch Template", default='{"messages": {{messages}}}', groups="base.group_system"
    )
    http_result_path = fields.Char(string="Result Path", default="$", groups="base.group_system")
    http_id_path = fields.Char(string="Message Id Path", default="$.id", groups="base.group_system")
    http_ref_path = fields.Char(string="Reference Path", groups="base.group_system")
    http_error_path = fields.Char(string="Error Path", groups="base.group_system")
    http_webhook_secret = fields.Char(string="Webhook Secret", groups="base.group_system")
    http_signature_header = fields.Char(
        string="Signature Header", default="X-Signature", groups="base.group_system"
    )
    http_status_items_path = fields.Char(default="$", groups="base.group_system")
    http_status_id_path = fields.Char(default="$.id", groups="base.group_system")
    http_status_value_path = fields.Char(default="$.status", groups="base.group_system")
    http_status_ref_path = fields.Char(groups="base.group_system")
    http_status_map = fields.Text(
        string="Status Map (JSON)",
        default='{"sent": "sent", "delivered": "delivered", "undelivered": "undelivered", '
        '"failed": "failed"}',
        groups="base.group_system",
    )
    http_inbound_items_path = fields.Char(default="$", groups="base.group_system")
    http_inbound_from_path = fields.Char(default="$.from", groups="base.group_system")
    http_inbound_text_path = fields.Char(default="$.text", groups="base.group_system")
    http_inbound_id_path = fields.Char(default="$.id", groups="base.group_system")
    # -- smpp ---------------------------------------------------------------------------------
    smpp_host = fields.Char(string="SMPP Host", groups="base.group_system")
    smpp_port = fields.Integer(string="SMPP Port", default=2775, groups="base.group_system")
    smpp_system_id = fields.Char(string="System ID", groups="base.group_system")
    smpp_password = fields.Char(string="SMPP Password", groups="base.group_system")
    smpp_system_type = fields.Char(string="System Type", groups="base.group_system")

    _sql_constraints = [
        ("webhook_token_uniq", "unique(webhook_token)", "Webhook tokens must be unique."),
    ]

    @api.depends("webhook_token")
    def _compute_webhook_urls(self):
        base = self.get_base_url()
        for gateway in self:
            prefix = f"{base}/sms_marketing/webhook/{gateway.webhook_token}"
            gateway.status_webhook_url = f"{prefix}/status"
            gateway.inbound_webhook_url = f"{prefix}/inbound"

    @api.constrains("fallback_id")
    def _check_fallback_cycle(self):
        for gateway in self:
            seen, current = set(), gateway
            while current:
                if current.id in seen:
                    raise ValidationError(
                        self.env._("Fallback gateways cannot form a loop (%s).", gateway.name)
                    )
                seen.add(current.id)
                current = current.fallback_id

    @api.constrains("http_headers", "http_status_map")
    def _check_json_fields(self):
        for gateway in self.sudo():
            for fname in ("http_headers", "http_status_map"):
                try:
                    _json(gateway[fname])
                except ValueError as exc:
                    raise ValidationError(
                        self.env._(
                            "%(field)s must be valid JSON: %(error)s",
                            field=self._fields[fname].string,
                            error=exc,
                        )
                    ) from exc

    @api.constrains("rate_limit", "batch_size", "concurrency", "max_attempts", "timeout")
    def _check_pacing(self):
        for gateway in self:
            if gateway.rate_limit < 0 or gateway.timeout <= 0:
                raise ValidationError(self.env._("Rate limit and timeout cannot be negative."))
            if min(gateway.batch_size, gateway.concurrency, gateway.max_attempts) < 1:
                raise ValidationError(
                    self.env._("Batch size, concurrency and attempts must be at least 1.")
                )

    # ------------------------------------------------------------------
    # Client
    # ------------------------------------------------------------------

    def _get_client_settings(self):
        """Plain settings for this gateway's client (see ``core/gateways``).

        :return: dict of settings; credentials included, so never log it
        """
        self.ensure_one()
        # sudo: credentials are administrators' fields; the dispatcher (any user's queue)
        # needs them to send, never to show them.
        gateway = self.sudo()
        settings = {"sender": gateway.sender or None}
        if gateway.base_url:
            settings["base_url"] = gateway.base_url
        for key, (fname, convert) in CLIENT_SETTINGS[gateway.provider].items():
            value = gateway[fname]
            settings[key] = convert(value) if convert else (value or None)
        if gateway.provider == "simulator":
            settings["mix"] = {
                outcome: gateway[f"simulator_{outcome}"] for outcome in gateways.simulator.OUTCOMES
            }
        if gateway.provider in CALLBACK_PER_MESSAGE:
            settings["status_callback"] = gateway.status_webhook_url
        return {key: value for key, value in settings.items() if value is not None}

    def _get_client(self, session=None):
        """A ready client for this gateway; raises ``UserError`` for unusable settings."""
        self.ensure_one()
        try:
            return gateways.create_client(
                self.provider,
                self._get_client_settings(),
                session=session,
                timeout=self.timeout,
            )
        except gateways.GatewayConfigError as exc:
            raise ValidationError(
                self.env._(
                    "Gateway %(name)s is not configured correctly: %(error)s",
                    name=self.name,
                    error=exc,
                )
            ) from exc

    @api.model
    def _get_by_webhook_token(self, token):
        """The active gateway whose webhook token is ``token``, with its company in the
        environment (``self.env.company``), or an empty recordset."""
        if not token or len(token) < 16:
            return self.browse()
        gateway_id, company_id = self._webhook_gateway(token)
        if not gateway_id:
            return self.browse()
        return self.with_company(company_id).browse(gateway_id)

    @api.model
    @ormcache("token")
    def _webhook_gateway(self, token):
        # Cached: every delivery report asks, and reading the gateway record would cost more
        # than applying the report; cleared whenever a gateway changes (write).
        gateway = self.sudo().search([("webhook_token", "=", token)], limit=1)
        if gateway and gw_base.constant_time_equal(gateway.webhook_token, token):
            return gateway.id, gateway.company_id.id
        return None, None

    def _get_webhook_client(self):
        """A client for parsing webhooks, reused across requests until the gateway changes
        (building one per report would cost more than applying the report)."""
        self.ensure_one()
        return self._webhook_client(self.id)

    @api.model
    @ormcache("gateway_id")
    def _webhook_client(self, gateway_id):
        # Clients are stateless for webhooks: verify and parse only.
        return self.browse(gateway_id)._get_client()

    @api.model_create_multi
    def create(self, vals_list):
        gateways_created = super().create(vals_list)
        self.env.registry.clear_cache()
        return gateways_created

    def write(self, vals):
        res = super().write(vals)
        # health counters change on the hot path through SQL, not here; any other change
        # (token, credentials, activation) must reach the webhook caches of every worker
        self.env.registry.clear_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res

    def _effective_batch_size(self):
        """Messages per request: the gateway's setting, capped by what the provider takes."""
        limit = gateways.get_client_class(self.provider).batch_limit(self._get_client_settings())
        return max(1, min(self.batch_size, limit))

    # ------------------------------------------------------------------
    # Routing and health
    # ------------------------------------------------------------------

    @api.model
    def _route(self, company, message_class, country_code=None, exclude=None):
        """The gateway to send a message through, or an empty recordset.

        :param company: ``res.company`` of the message
        :param str message_class: ``marketing`` or ``transactional``
        :param str country_code: ISO code of the destination number
        :param exclude: gateways not to use (those that already failed this message)
        """
        flag = "use_marketing" if message_class == "marketing" else "use_transactional"
        now = fields.Datetime.now()
        candidates = self.search([("company_id", "=", company.id), (flag, "=", True)])
        for gateway in candidates - (exclude or self.browse()):
            if gateway.down_until and gateway.down_until > now:
                continue
            if gateway.country_ids and country_code not in gateway.country_ids.mapped("code"):
                continue
            return gateway
        return self.browse()

    def _record_health(self, ok, error=None):
        """Count consecutive failures; after 5, take the gateway out of routing for a while.

        SQL: health is updated from the dispatcher's hot path and by concurrent workers; a
        single statement keeps the counter exact without locking the gateway row for long.
        """
        if not self:
            return
        if ok:
            self.env.cr.execute(
                SQL(
                    "UPDATE sms_marketing_gateway SET health_failures = 0, down_until = NULL"
                    " WHERE id = ANY(%s) AND health_failures != 0",
                    self.ids,
                )
            )
        else:
            self.env.cr.execute(
                SQL(
                    """
                    UPDATE sms_marketing_gateway
                       SET health_failures = COALESCE(health_failures, 0) + 1,
                           last_error = %(error)s,
                           down_until = CASE WHEN COALESCE(health_failures, 0) + 1 >= 5
                                             THEN %(until)s ELSE down_until END
                     WHERE id = ANY(%(ids)s)
                    """,
                    error=(error or "")[:250],
                    until=fields.Datetime.now() + timedelta(minutes=2),
                    ids=self.ids,
                )
            )
        self.invalidate_recordset(["health_failures", "down_until", "last_error"])

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_test_connection(self):
        """Build the client (validates settings) and report; sends nothing."""
        self.ensure_one()
        client = self._get_client()
        client.close()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("The settings of %s are complete.", self.name),
            },
        }

    def action_regenerate_token(self):
        for gateway in self:
            gateway.sudo().webhook_token = secrets.token_urlsafe(24)
