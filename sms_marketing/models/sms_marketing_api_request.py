import hashlib

from odoo import api, fields, models
from odoo.tools import SQL

#: Scope of the API keys made for the integrator API only: such a key opens
#: ``/sms_marketing/api/v1/`` and nothing else (Odoo's RPC accepts unscoped keys only).
API_SCOPE = "sms_marketing"


class SmsMarketingApiRequest(models.Model):
    """Answers of integrator API requests sent with an ``Idempotency-Key`` header.

    The first request with a key records its answer in the same transaction as its effects;
    a retry with the same key (and the same body) gets the recorded answer again, and a
    concurrent one waits on the unique index until the first commits. A key reused with
    another body is refused. Answers are kept 24 hours (see :meth:`_gc_requests`).

    The table ``sms_marketing_api_rate`` next to it counts requests per API key and minute
    for the rate limit (``sms_marketing.api_rate_limit``, requests per minute, 0: none).
    """

    _name = "sms.marketing.api.request"
    _description = "Integrator API Request"
    _log_access = False

    user_id = fields.Many2one("res.users", required=True, readonly=True, ondelete="cascade")
    endpoint = fields.Char(required=True, readonly=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    request_hash = fields.Char(readonly=True)
    status = fields.Integer(readonly=True)
    response = fields.Text(readonly=True)
    create_date = fields.Datetime(readonly=True, default=fields.Datetime.now)

    _sql_constraints = [
        (
            "key_unique",
            "UNIQUE(user_id, endpoint, idempotency_key)",
            "An idempotency key is used once per user and endpoint.",
        )
    ]

    def init(self):
        self.env.cr.execute(
            """
            CREATE TABLE IF NOT EXISTS sms_marketing_api_rate (
                bucket varchar NOT NULL,
                window_start timestamp NOT NULL,
                hits integer NOT NULL DEFAULT 1,
                PRIMARY KEY (bucket, window_start)
            )
            """
        )

    @api.model
    def _claim(self, endpoint, key, body):
        """Reserve ``key`` for this request: ``None`` when it is new (the caller then calls
        :meth:`_store`), else ``(status, response)`` recorded for it, or ``False`` when the
        key was used with another body."""
        digest = hashlib.sha256(body).hexdigest()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO sms_marketing_api_request
                       (user_id, endpoint, idempotency_key, request_hash, create_date)
                VALUES (%s, %s, %s, %s, now() at time zone 'utc')
                ON CONFLICT (user_id, endpoint, idempotency_key) DO NOTHING
             RETURNING id
                """,
                self.env.uid,
                endpoint,
                key,
                digest,
            )
        )
        if self.env.cr.fetchone():
            return None
        self.env.cr.execute(
            SQL(
                "SELECT request_hash, status, response FROM sms_marketing_api_request"
                " WHERE user_id = %s AND endpoint = %s AND idempotency_key = %s",
                self.env.uid,
                endpoint,
                key,
            )
        )
        request_hash, status, response = self.env.cr.fetchone()
        if request_hash != digest:
            return False
        return status, response

    @api.model
    def _store(self, endpoint, key, status, response):
        self.env.cr.execute(
            SQL(
                "UPDATE sms_marketing_api_request SET status = %s, response = %s"
                " WHERE user_id = %s AND endpoint = %s AND idempotency_key = %s",
                status,
                response,
                self.env.uid,
                endpoint,
                key,
            )
        )

    @api.autovacuum
    def _gc_requests(self):
        self.env.cr.execute(
            """
            DELETE FROM sms_marketing_api_request
             WHERE create_date < now() at time zone 'utc' - interval '24 hours';
            DELETE FROM sms_marketing_api_rate
             WHERE window_start < now() at time zone 'utc' - interval '1 hour';
            """
        )
