from odoo.tests import TransactionCase, new_test_user

#: a simulator that delivers every SMS and never replies (tests decide who clicks, replies)
SIMULATOR_DELIVERS_ALL = {
    "simulator_delivered": 100,
    "simulator_undelivered": 0,
    "simulator_failed": 0,
    "simulator_reply_stop": 0,
    "simulator_reply_text": 0,
}


class SmsMarketingCommon(TransactionCase):
    """Fixtures shared by the addon's tests: one user per access level, a Chinese default
    country, and partners with test numbers. Nothing relies on demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.country_cn = cls.env.ref("base.cn")
        cls.country_us = cls.env.ref("base.us")
        cls.company.sms_default_country_id = cls.country_cn
        cls.user_employee = new_test_user(
            cls.env, login="sms_employee", groups="base.group_user", name="Employee Emma"
        )
        cls.user_marketing = new_test_user(
            cls.env,
            login="sms_user",
            groups="base.group_user,sms_marketing.group_sms_marketing_user",
            name="Marketer Mia",
        )
        cls.user_manager = new_test_user(
            cls.env,
            login="sms_manager",
            groups="base.group_user,sms_marketing.group_sms_marketing_manager",
            name="Manager Max",
        )
        cls.env["res.lang"]._activate_lang("zh_CN")
        cls.partner_cn = cls.env["res.partner"].create(
            {
                "name": "王伟",
                "mobile": "138 0013 8000",
                "country_id": cls.country_cn.id,
                "lang": "zh_CN",
            }
        )
        cls.partner_us = cls.env["res.partner"].create(
            {"name": "Jane Doe", "mobile": "+1 415 555 2671", "country_id": cls.country_us.id}
        )

    def assertLedger(self, partner, expected):
        """Assert the partner's ledger lines, oldest first, as (action, source) tuples."""
        lines = partner.sms_consent_ids.sorted(lambda line: (line.consent_date, line.id))
        self.assertEqual([(line.action, line.source) for line in lines], expected)

    def is_blacklisted(self, number):
        return bool(self.env["phone.blacklist"].sudo().search_count([("number", "=", number)]))


class SmsMarketingDispatchCommon(SmsMarketingCommon):
    """Fixtures for the dispatch engine: a simulator gateway with immediate events.

    The dispatcher claims and writes results through separate cursors (committed on their
    own); test mode makes those cursors share the test transaction, as in HttpCase.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.registry.test_cr is None:  # HttpCase already shares its cursor
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.env["sms.marketing.gateway"].search([]).active = False
        # whatever is already queued (demo data) is not these tests' business
        cls.env["sms.marketing.trace"].search([("state", "=", "queued")]).action_cancel()
        cls.simulator = cls.env["sms.marketing.gateway"].create(
            {
                "name": "Test simulator",
                "provider": "simulator",
                "simulator_report_delay": 0,
                "simulator_reply_delay": 0,
                "cost_per_segment": 0.04,
            }
        )
        cls.dispatcher = cls.env["sms.marketing.dispatcher"]

    def queue(self, partner_or_number, body="Hello", **values):
        """Queue one marketing trace to a partner (or a bare number)."""
        partner = partner_or_number if not isinstance(partner_or_number, str) else None
        number = partner.sms_e164 if partner else partner_or_number
        return self.env["sms.marketing.trace"].create(
            {
                "partner_id": partner.id if partner else False,
                "number": number,
                "body": body,
                **values,
            }
        )

    def dispatch(self):
        self.env.flush_all()  # the dispatcher reads through its own cursors
        done = self.dispatcher._cron_dispatch(time_budget=10)
        self.env.invalidate_all()
        return done

    def apply_events(self):
        self.env["sms.marketing.gateway.event"].flush_model()
        self.env.cr.execute(
            "UPDATE sms_marketing_gateway_event"
            " SET due_at = now() at time zone 'utc' - interval '1 second'"
        )
        self.env.invalidate_all()
        self.dispatcher._cron_events()
        self.env.invalidate_all()
