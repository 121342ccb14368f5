import logging
import secrets
from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..core import compose as core_compose
from ..core import copycheck as core_copycheck
from ..core import encoding as core_encoding
from ..core import template as core_template
from .sms_marketing_trace import MESSAGE_CLASSES

_logger = logging.getLogger(__name__)

CAMPAIGN_STATES = [
    ("draft", "Draft"),
    ("scheduled", "Scheduled"),
    ("sending", "Sending"),
    ("paused", "Paused"),
    ("done", "Done"),
    ("canceled", "Canceled"),
]

#: Placeholders every campaign body may use: computed ones, then partner fields read as
#: they are. Nothing else can be reached from a template (no attribute access, no eval).
COMPUTED_PLACEHOLDERS = ("first_name", "name", "company", "cart_url", "coupon")
#: Placeholders rendered as a per-recipient tracked link (``/r/_c/<token>`` redirects to
#: the contact's open cart, see the events' ``recovery_url``)
TOKEN_PLACEHOLDERS = frozenset({"cart_url"})
CART_LINK_PATH = "/r/_c/"
PARTNER_PLACEHOLDERS = (
    "city",
    "zip",
    "street",
    "ref",
    "email",
    "function",
    "website",
    "commercial_company_name",
)
PLACEHOLDERS = COMPUTED_PLACEHOLDERS + PARTNER_PLACEHOLDERS


def placeholder_values(partner_values, name, company_name, base_url="", coupon=None):
    """The values of every placeholder for one recipient (previews, tests and the
    preparation all compose from these).

    :param partner_values: values of ``PARTNER_PLACEHOLDERS``, in that order
    :param base_url: the database's web address, for the tracked cart link
    :param coupon: the campaign's coupon code (``{{ coupon }}``)
    """
    return placeholder_maker(None, base_url, coupon)(partner_values, name, company_name)


def placeholder_maker(fields, base_url="", coupon=None):
    """:func:`placeholder_values` restricted to the placeholder names ``fields`` (all of
    them when ``None``), as a function of the same arguments: the preparation calls it a
    million times, and the template of a campaign uses one or two placeholders."""
    wanted = [
        (name, index)
        for index, name in enumerate(PARTNER_PLACEHOLDERS)
        if fields is None or name in fields
    ]
    with_name = fields is None or "name" in fields
    with_first = fields is None or "first_name" in fields
    with_company = fields is None or "company" in fields
    with_coupon = fields is None or "coupon" in fields
    # the same text for everyone: the composer puts each recipient's token in place of
    # the mark, and the redirect finds their cart from the token
    cart_link = (
        f"{base_url}{CART_LINK_PATH}{core_compose.TOKEN_MARK}"
        if fields is None or "cart_url" in fields
        else None
    )

    def make(partner_values, name, company_name):
        values = {key: partner_values[index] for key, index in wanted}
        if with_name:
            values["name"] = name
        if with_first:
            values["first_name"] = core_compose.first_name(name)
        if with_company:
            values["company"] = company_name
        if cart_link is not None:
            values["cart_url"] = cart_link
        if with_coupon:
            values["coupon"] = coupon
        return values

    return make


#: The sample token used by previews: the real one has the same length.
PREVIEW_TOKEN = "Xy3kQ9pL2mZ"
assert len(PREVIEW_TOKEN) == core_compose.TOKEN_LENGTH

AB_RULES = [
    ("leader", "Send the leading variant"),
    ("first", "Send the first variant"),
    ("wait", "Wait for a manager to choose"),
]


class SmsMarketingCampaign(models.Model):
    """An SMS campaign: a text (or A/B variants) sent to the union of segments.

    Launching hands the campaign to the preparation cron (``_cron_prepare``), which walks
    the audience in bounded batches of set-based SQL: each batch records an ``excluded``
    trace with its reason for everyone who will not get the message and queues a rendered
    trace for everyone else, so the dispatcher starts sending after the first batch. See
    ``sms_marketing_campaign_prepare.py``.
    """

    _name = "sms.marketing.campaign"
    _description = "SMS Campaign"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    user_id = fields.Many2one(
        "res.users", string="Responsible", default=lambda self: self.env.user, tracking=True
    )
    coupon_code = fields.Char(help="The code the message gives with {{ coupon }}.")
    automation_step_id = fields.Many2one(
        "sms.marketing.automation.step",
        string="Flow Step",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
        help="Set on the hidden campaign of an automation flow's send step.",
    )
    utm_campaign_id = fields.Many2one(
        "utm.campaign",
        string="UTM Campaign",
        ondelete="restrict",
        help="Campaign of the UTM parameters added to tracked links; created on launch when empty.",
    )
    message_class = fields.Selection(
        MESSAGE_CLASSES,
        required=True,
        default="marketing",
        tracking=True,
        help="Marketing messages need consent, respect opt-outs, quiet hours and the "
        "frequency cap and carry the opt-out footer. Transactional messages (service "
        "notices) skip those rules: only managers can send them.",
    )
    body = fields.Text(
        string="Message",
        help="Placeholders: {{ first_name }}, {{ name }}, {{ company }} and contact fields "
        "such as {{ city }}, each with an optional default: "
        '{{ first_name | default("friend") }}.',
    )
    segment_ids = fields.Many2many(
        "sms.marketing.segment",
        "sms_marketing_campaign_segment_rel",
        "campaign_id",
        "segment_id",
        string="Audience",
    )
    exclude_segment_ids = fields.Many2many(
        "sms.marketing.segment",
        "sms_marketing_campaign_exclude_segment_rel",
        "campaign_id",
        "segment_id",
        string="Excluded Segments",
    )
    gateway_id = fields.Many2one(
        "sms.marketing.gateway",
        domain="[('company_id', '=', company_id)]",
        help="Leave empty to route each message by country and message class.",
    )
    link_tracking = fields.Boolean(
        default=True,
        help="Replace every link by a short link that records each recipient's clicks.",
    )
    add_footer = fields.Boolean(
        string="Opt-out Footer",
        default=True,
        help="Append the company's opt-out footer in the recipient's language when the "
        "message does not already explain how to opt out.",
    )
    respect_quiet_hours = fields.Boolean(
        default=True,
        help="Hold marketing messages due outside the company's sending window until the "
        "next allowed minute in the recipient's time zone.",
    )
    apply_frequency_cap = fields.Boolean(
        string="Frequency Cap",
        default=True,
        help="Skip contacts who already received the company's maximum of marketing "
        "messages in its rolling window.",
    )
    scheduled_at = fields.Datetime(string="Send At", tracking=True, copy=False)
    state = fields.Selection(
        CAMPAIGN_STATES, required=True, default="draft", tracking=True, copy=False, index=True
    )
    launched_at = fields.Datetime(readonly=True, copy=False)
    done_at = fields.Datetime(readonly=True, copy=False)
    # preparation progress (see sms_marketing_campaign_prepare.py)
    prepare_phase = fields.Selection(
        [("all", "Everyone"), ("test", "A/B Test Group"), ("rest", "Winner to the Rest")],
        readonly=True,
        copy=False,
    )
    prepare_cursor = fields.Integer(readonly=True, copy=False)
    prepare_done = fields.Boolean(readonly=True, copy=False)
    audience_count = fields.Integer(readonly=True, copy=False)
    prepared_count = fields.Integer(readonly=True, copy=False)
    prepare_progress = fields.Float(compute="_compute_prepare_progress")
    # A/B testing
    ab_testing = fields.Boolean(string="A/B Test")
    variant_ids = fields.One2many("sms.marketing.variant", "campaign_id", copy=True)
    ab_test_percent = fields.Integer(
        string="Test Group (%)",
        default=20,
        help="Share of the audience that receives the variants; the winner goes to the rest.",
    )
    ab_test_hours = fields.Float(
        string="Test Duration (hours)",
        default=4.0,
        help="Time after the test group is queued before the winner is picked.",
    )
    ab_confidence = fields.Selection(
        [("0.90", "90%"), ("0.95", "95%"), ("0.99", "99%")],
        string="Confidence",
        default="0.95",
        required=True,
    )
    ab_metric = fields.Selection(
        [("click", "Click Rate"), ("conversion", "Conversion Rate")],
        string="Winner By",
        default="click",
        required=True,
        help="Click rate: unique human clicks per message sent. Conversion rate: messages "
        "credited with an order per message sent (give the test long enough for orders to "
        "come in).",
    )
    ab_rule = fields.Selection(
        AB_RULES,
        string="If No Clear Winner",
        default="leader",
        required=True,
        help="What happens when no variant is significantly better at the chosen confidence.",
    )
    ab_state = fields.Selection(
        [
            ("testing", "Testing"),
            ("waiting", "Waiting for a Decision"),
            ("decided", "Decided"),
        ],
        string="A/B Status",
        readonly=True,
        copy=False,
    )
    ab_decide_at = fields.Datetime(string="Decision Due", readonly=True, copy=False)
    ab_decided_at = fields.Datetime(string="Decided On", readonly=True, copy=False)
    ab_winner_id = fields.Many2one(
        "sms.marketing.variant", string="Winner", readonly=True, copy=False
    )
    ab_p_value = fields.Float(string="p-value", digits=(6, 5), readonly=True, copy=False)
    ab_z = fields.Float(string="z", digits=(6, 3), readonly=True, copy=False)
    ab_significant = fields.Boolean(string="Significant", readonly=True, copy=False)
    ab_decision = fields.Text(string="Decision", readonly=True, copy=False)

    _sql_constraints = [
        (
            "ab_test_percent_range",
            "CHECK(ab_test_percent > 0 AND ab_test_percent <= 100)",
            "The A/B test group must be between 1% and 100% of the audience.",
        ),
    ]

    # ------------------------------------------------------------------------------------
    # Constraints and ORM
    # ------------------------------------------------------------------------------------

    @api.constrains("body", "variant_ids", "ab_testing")
    def _check_bodies(self):
        for campaign in self:
            for body in campaign._get_bodies():
                campaign._parse_body(body)

    def write(self, vals):
        locked = {"body", "segment_ids", "exclude_segment_ids", "variant_ids", "ab_testing"}
        if locked & vals.keys() and self.filtered(lambda c: c.state in ("sending", "done")):
            raise UserError(
                self.env._(
                    "A campaign that is sending or done cannot change its message or "
                    "audience. Duplicate it instead."
                )
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sent(self):
        if self.filtered("launched_at"):
            raise UserError(
                self.env._(
                    "Campaigns that have sent messages are kept as a record: archive them instead."
                )
            )

    # ------------------------------------------------------------------------------------
    # Composition
    # ------------------------------------------------------------------------------------

    def _get_bodies(self):
        self.ensure_one()
        if self.ab_testing and self.variant_ids:
            return [variant.body or "" for variant in self.variant_ids]
        return [self.body or ""]

    def _parse_body(self, body):
        """Parse ``body`` and check its placeholders; raise a translated error."""
        try:
            template = core_template.Template(body or "")
            template.check(PLACEHOLDERS)
        except core_template.UnknownPlaceholderError as error:
            raise ValidationError(
                self.env._(
                    "Unknown placeholder(s) %(names)s. Available: %(available)s.",
                    names=", ".join(f"{{{{ {name} }}}}" for name in error.names),
                    available=", ".join(PLACEHOLDERS),
                )
            ) from error
        except core_template.TemplateSyntaxError as error:
            raise ValidationError(
                self.env._(
                    "The message has a malformed placeholder near “%(excerpt)s”. Write "
                    '{{ name }} or {{ name | default("text") }}.',
                    excerpt=error.detail,
                )
            ) from error
        return template

    def _get_gateway(self):
        """The gateway the campaign's messages are counted and priced with."""
        self.ensure_one()
        return self.gateway_id or self.env["sms.marketing.gateway"].sudo()._route(
            self.company_id, self.message_class
        )

    def _get_signature(self):
        return (self._get_gateway().sudo().sms_signature or "").strip()

    def _get_footers(self):
        """``{lang: footer}`` of the company, or None when no footer is added."""
        self.ensure_one()
        if self.message_class != "marketing" or not self.add_footer:
            return None
        locales = (
            self.env["sms.marketing.locale"]
            .sudo()
            .search([("company_id", "=", self.company_id.id)])
        )
        return {locale.lang_code: locale.optout_footer for locale in locales}

    def _get_short_links(self, body, create=False):
        """``{url: short_url}`` for the links of ``body`` (one ``link.tracker`` per campaign
        and URL). Without ``create``, links without a tracker yet get a stand-in of the same
        length (for counting and previews)."""
        self.ensure_one()
        urls = core_compose.find_urls(body)
        if not urls or not self.link_tracking:
            return {}
        Tracker = self.env["link.tracker"].sudo()
        medium = self.env.ref("utm.utm_medium_sms", raise_if_not_found=False) or self.env.ref(
            "utm.utm_medium_direct"
        )
        links = {}
        for url in urls:
            values = {
                "url": url,
                "campaign_id": self.utm_campaign_id.id,
                "medium_id": medium.id,
                "source_id": self._get_utm_source().id,
            }
            if create:
                tracker = Tracker.search_or_create([values])[0]
                links[url] = tracker.short_url
            else:
                links[url] = f"{Tracker.get_base_url()}/r/xxxxx"
        return links

    def _get_utm_source(self):
        return self.env.ref("sms_marketing.utm_source_sms_marketing")

    def _get_composer(self, body, create_links=False):
        self.ensure_one()
        return core_compose.Composer(
            body,
            short_links=self._get_short_links(body, create=create_links),
            signature=self._get_signature(),
            footers=self._get_footers(),
            default_lang=self.env.lang or "en_US",
            token_fields=TOKEN_PLACEHOLDERS,
        )

    def _check_links_allowed(self):
        for campaign in self:
            if campaign.message_class != "marketing" or campaign.link_tracking:
                continue
            if any(core_compose.find_urls(body) for body in campaign._get_bodies()):
                raise UserError(
                    self.env._(
                        "Links in marketing messages must be tracked (carriers flag raw "
                        "links as spam and clicks could not be measured). Enable Link "
                        "Tracking or remove the link."
                    )
                )

    # ------------------------------------------------------------------------------------
    # Live counter, cost and preview
    # ------------------------------------------------------------------------------------

    counter_chars = fields.Integer(string="Characters", compute="_compute_counter")
    counter_encoding = fields.Char(string="Encoding", compute="_compute_counter")
    counter_segments = fields.Integer(string="Segments", compute="_compute_counter")
    counter_remaining = fields.Integer(string="Left in Segment", compute="_compute_counter")
    counter_warning = fields.Text(compute="_compute_counter")
    reachable_count = fields.Integer(
        string="Reachable Now",
        compute="_compute_reachable_count",
        help="Contacts of the audience a marketing SMS can reach now (consent, opt-outs, "
        "blacklist and number checked; duplicates and the frequency cap are applied at send).",
    )
    estimated_cost = fields.Float(compute="_compute_estimated_cost", digits=(12, 2))
    currency_id = fields.Many2one("res.currency", compute="_compute_estimated_cost")
    preview_partner_id = fields.Many2one(
        "res.partner",
        string="Preview For",
        store=False,
        help="Show the message exactly as this contact will receive it.",
    )
    preview_body = fields.Text(string="Preview", compute="_compute_counter")
    copy_check_html = fields.Html(
        string="Copy Assistant", compute="_compute_copy_check_html", sanitize=False
    )
    best_send_time = fields.Boolean(
        string="Best Time Within 24 h",
        help="Send each marketing SMS at its contact's best hour in the next 24 hours (from "
        "their clicks and replies, else their RFM group's, inside the quiet hours); a tenth "
        "(three in ten of the contacts without history) go at another hour so the "
        "estimates keep learning.",
    )

    def _counter_for(self, body, values=None, lang=None):
        """Count ``body`` as it will be sent: signature, rendered placeholders, short links
        with their token, opt-out footer. Returns ``(text, SmsInfo, warning)``."""
        self.ensure_one()
        try:
            composer = self._get_composer(body or "")
            composer.template.check(PLACEHOLDERS)
        except core_template.TemplateError:
            return (
                body or "",
                core_encoding.analyze(body or ""),
                self.env._("The message has a placeholder error: fix it to see the count."),
            )
        if values is None:
            values = self._default_values()
        text = composer.compose(values, lang or self.env.lang, PREVIEW_TOKEN)
        info = core_encoding.analyze(text)
        warnings = []
        if composer.fields:
            warnings.append(
                self.env._(
                    "Personalised values are counted as for the preview contact (or their "
                    "default). A value longer than %(room)s characters adds a segment for "
                    "that recipient.",
                    room=info.remaining,
                )
            )
            if info.encoding == core_encoding.GSM7:
                warnings.append(
                    self.env._(
                        "A value with characters outside GSM-7 (Chinese, emoji, some "
                        "accents) switches that recipient's message to UCS-2, 70 "
                        "characters per segment."
                    )
                )
        return text, info, "\n".join(warnings)

    @api.depends(
        "body",
        "message_class",
        "add_footer",
        "link_tracking",
        "gateway_id",
        "company_id",
        "preview_partner_id",
        "coupon_code",
    )
    @api.depends_context("lang")
    def _compute_counter(self):
        for campaign in self:
            values, lang = campaign._preview_values(campaign.preview_partner_id)
            text, info, warning = campaign._counter_for(campaign.body, values, lang)
            campaign.preview_body = text
            campaign.counter_chars = info.length
            campaign.counter_encoding = "GSM-7" if info.encoding == core_encoding.GSM7 else "UCS-2"
            campaign.counter_segments = info.segments
            campaign.counter_remaining = info.remaining
            campaign.counter_warning = warning

    @api.depends(
        "body",
        "message_class",
        "add_footer",
        "company_id",
        "gateway_id",
        "ab_testing",
        "variant_ids.body",
    )
    @api.depends_context("lang")
    def _compute_copy_check_html(self):
        for campaign in self:
            campaign.copy_check_html = campaign._copy_check_html(campaign._get_bodies()[0])

    def _copy_check_html(self, body):
        """The copy assistant's verdicts on ``body``, worded in the user's language."""
        self.ensure_one()
        company = self.company_id or self.env.company
        region = core_copycheck.region_of(company.sms_default_country_id.code)
        results = core_copycheck.check(
            body,
            region=region,
            footer_added=self.message_class == "marketing" and self.add_footer,
            signature_added=bool(self._get_signature()),
            company=company.name or "",
        )
        rows = []
        for result in results:
            text = self._copy_check_text(result)
            rows.append(
                Markup('<li class="%s"><i class="fa %s me-2" role="img" title="%s"/>%s</li>')
                % (
                    "o_sms_copy_pass text-success" if result.passed else "o_sms_copy_hint",
                    "fa-check" if result.passed else "fa-lightbulb-o text-warning",
                    self.env._("Good") if result.passed else self.env._("Hint"),
                    text,
                )
            )
        return Markup('<ul class="list-unstyled mb-0 o_sms_copy_checks">%s</ul>') % Markup().join(
            rows
        )

    def _copy_check_text(self, result):
        """One verdict of the copy assistant as a sentence."""
        values, passed, rule = result.values, result.passed, result.rule
        if rule == "value":
            return (
                self.env._("The value comes first.")
                if passed
                else self.env._(
                    "Put the offer or the news in the first words: phones show only the beginning."
                )
            )
        if rule == "personal":
            return (
                self.env._("Personal: %s.", ", ".join(values["placeholders"]))
                if passed
                else self.env._("Greet the contact by name with {{ first_name }}.")
            )
        if rule == "urgency":
            return (
                self.env._('A reason to act now ("%s").', values["word"])
                if passed
                else self.env._("Say why now: a date, an end, a limited stock.")
            )
        if rule == "action":
            return (
                self.env._("A clear call to action.")
                if passed
                else self.env._(
                    "End with what to do: a link or a reply keyword (Reply YES, 回复1)."
                )
            )
        if rule == "length":
            if passed:
                return self.env._("One SMS segment.")
            if values["characters"]:
                return self.env._(
                    "These characters switch the whole message to UCS-2, 70 characters per "
                    "segment: %s",
                    values["characters"],
                )
            return self.env._(
                "%(segments)s segments: each contact costs %(segments)s SMS.",
                segments=values["segments"],
            )
        if rule == "optout":
            if passed:
                return self.env._("The opt-out instruction is there (or added by the campaign).")
            if values["region"] == core_copycheck.CN:
                return self.env._("Chinese carriers require 回复TD退订 in marketing SMS.")
            if values["region"] == core_copycheck.US:
                return self.env._("US carriers require the STOP instruction.")
            return self.env._("Tell how to opt out (Reply STOP).")
        if rule == "signature":
            if passed:
                return self.env._("The sender is identified.")
            if values["region"] == core_copycheck.CN:
                return self.env._(
                    "Chinese carriers require the sender's signature 【Brand】 at the start."
                )
            return self.env._(
                "Name your company ({{ company }}): EU rules require the sender to be known."
            )
        if rule == "shortener":
            return (
                self.env._("No public link shortener.")
                if passed
                else self.env._(
                    "Carriers filter public shorteners (%s): write the full link, the campaign "
                    "shortens and tracks it.",
                    ", ".join(values["hosts"]),
                )
            )
        if rule == "caps":
            return (
                self.env._("No shouting.")
                if passed
                else self.env._(
                    "Too many capitals (%s): filters and readers dislike shouting.",
                    ", ".join(values["words"]) or "ABC",
                )
            )
        # spam
        if passed:
            return self.env._("No words spam filters look for.")
        found = ", ".join(values["words"] + (["!!!"] if values["exclaims"] else []))
        return self.env._("Spam filters look for these: %s.", found)

    def action_view_analysis(self):
        """The campaign in the SMS analysis."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sms_marketing.sms_marketing_trace_report_action"
        )
        action["domain"] = [("campaign_id", "=", self.id)]
        action["context"] = {"group_by": ["day:day"]}
        return action

    @api.depends("segment_ids", "exclude_segment_ids", "company_id", "message_class", "state")
    def _compute_reachable_count(self):
        """Contacts the campaign would send to now, for its cost estimate: before launch
        only (afterwards its results count what happened, and an open form of a sending
        campaign, read again every few seconds, does not recount its whole audience)."""
        Segment = self.env["sms.marketing.segment"]
        Partner = self.env["res.partner"]
        Partner.flush_model()
        self.env["phone.blacklist"].flush_model()
        for campaign in self:
            if not campaign.segment_ids or campaign.state not in ("draft", "scheduled"):
                campaign.reachable_count = 0
                continue
            query = Partner._search(
                Segment._combine_domain(campaign.segment_ids, campaign.exclude_segment_ids)
            )
            self.env.cr.execute(
                SQL(
                    "SELECT count(*) FROM res_partner WHERE id IN %s AND %s",
                    query.subselect(),
                    Partner._sms_reachable_sql(
                        campaign.company_id, campaign.message_class == "marketing"
                    ),
                )
            )
            campaign.reachable_count = self.env.cr.fetchone()[0]

    @api.depends("counter_segments", "reachable_count", "gateway_id")
    def _compute_estimated_cost(self):
        for campaign in self:
            gateway = campaign._get_gateway()
            campaign.currency_id = gateway.currency_id or campaign.company_id.currency_id
            campaign.estimated_cost = (
                campaign.counter_segments * campaign.reachable_count * gateway.cost_per_segment
            )

    def _preview_values(self, partner):
        """Placeholder values and language of ``partner`` (the defaults and no language
        without a partner)."""
        self.ensure_one()
        rows = self._recipient_rows(partner.ids) if partner else None
        if not rows:
            return self._default_values(), None
        row = rows[0]
        return (
            placeholder_values(
                [row[name] for name in PARTNER_PLACEHOLDERS],
                row["name"],
                self.company_id.name,
                self.get_base_url(),
                self.coupon_code or None,
            ),
            row["lang"],
        )

    def _default_values(self):
        """Placeholder values without a contact: each placeholder's default."""
        return placeholder_values(
            [None] * len(PARTNER_PLACEHOLDERS),
            "",
            self.company_id.name,
            self.get_base_url(),
            self.coupon_code or None,
        )

    def _recipient_rows(self, partner_ids):
        """Placeholder columns of partners, as dicts (the preparation reads the same ones)."""
        self.env["res.partner"].flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT id, name, lang, %s FROM res_partner WHERE id = ANY(%s) ORDER BY id",
                SQL(", ").join(SQL.identifier(name) for name in PARTNER_PLACEHOLDERS),
                list(partner_ids),
            )
        )
        return self.env.cr.dictfetchall()

    # ------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------

    def _check_can_send(self):
        for campaign in self:
            if not campaign.segment_ids:
                raise UserError(self.env._("Choose the audience: at least one segment."))
            bodies = campaign._get_bodies()
            if not all(body.strip() for body in bodies):
                raise UserError(self.env._("Write the message before sending."))
            for body in bodies:
                campaign._parse_body(body)
            if campaign.ab_testing:
                if len(campaign.variant_ids) < 2:
                    raise UserError(self.env._("An A/B test needs at least two variants."))
                if sum(campaign.variant_ids.mapped("share")) <= 0:
                    raise UserError(self.env._("Give the variants a share of the test group."))
            if campaign.message_class == "transactional" and not self.env.user.has_group(
                "sms_marketing.group_sms_marketing_manager"
            ):
                raise AccessError(
                    self.env._(
                        "Transactional campaigns skip consent and opt-outs: only SMS Marketing "
                        "managers can send them."
                    )
                )
        self._check_links_allowed()
        if not all(campaign._get_gateway() for campaign in self):
            raise UserError(
                self.env._(
                    "No active gateway sends %(kind)s messages for this company.",
                    kind=self.message_class,
                )
            )

    def action_launch(self):
        """Send now: preparation starts at once in the background."""
        self._check_can_send()
        self.write({"scheduled_at": fields.Datetime.now(), "state": "scheduled"})
        self._start_sending()
        return True

    def action_schedule(self):
        self._check_can_send()
        for campaign in self:
            if not campaign.scheduled_at:
                raise UserError(self.env._("Choose when to send the campaign."))
        self.write({"state": "scheduled"})
        cron = self.env.ref("sms_marketing.ir_cron_sms_marketing_campaign")
        for campaign in self:
            cron._trigger(at=campaign.scheduled_at)
        return True

    def action_cancel(self):
        """Cancel a scheduled campaign, or stop a sending one: messages not yet handed to a
        gateway are canceled."""
        for campaign in self:
            if campaign.state not in ("draft", "scheduled", "sending", "paused"):
                raise UserError(self.env._("Only campaigns not yet done can be canceled."))
        self._set_queued_traces_state(("queued", "held"), "canceled")
        self.write({"state": "canceled"})
        return True

    def action_draft(self):
        for campaign in self:
            if campaign.state not in ("scheduled", "canceled") or campaign.launched_at:
                raise UserError(
                    self.env._("Only campaigns that never started can go back to draft.")
                )
        self.write({"state": "draft"})
        return True

    def action_pause(self):
        if self.filtered(lambda c: c.state != "sending"):
            raise UserError(self.env._("Only sending campaigns can be paused."))
        self._set_queued_traces_state(("queued",), "held")
        self.write({"state": "paused"})
        return True

    def action_resume(self):
        if self.filtered(lambda c: c.state != "paused"):
            raise UserError(self.env._("Only paused campaigns can be resumed."))
        self._check_can_send()
        self.write({"state": "sending"})
        self._set_queued_traces_state(("held",), "queued")
        self.env.ref("sms_marketing.ir_cron_sms_marketing_campaign")._trigger()
        self.env.ref("sms_marketing.ir_cron_sms_marketing_dispatch")._trigger()
        return True

    def _set_queued_traces_state(self, from_states, to_state):
        """Move the campaigns' unclaimed traces in one statement: a trace being claimed by a
        dispatcher at this moment is either sent or moved, never both."""
        if not self.ids:
            return
        self.env["sms.marketing.trace"].flush_model()
        self.env.cr.execute(
            SQL(
                """UPDATE sms_marketing_trace
                      SET state = %s
                    WHERE campaign_id = ANY(%s) AND state = ANY(%s)""",
                to_state,
                self.ids,
                list(from_states),
            )
        )
        self.env["sms.marketing.trace"].invalidate_model(["state"])

    def action_test(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send a Test"),
            "res_model": "sms.marketing.campaign.test",
            "view_mode": "form",
            "target": "new",
            "context": {"default_campaign_id": self.id},
        }

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        return [
            dict(vals, name=self.env._("%s (copy)", campaign.name))
            for campaign, vals in zip(self, vals_list, strict=True)
        ]

    # ------------------------------------------------------------------------------------
    # Results
    # ------------------------------------------------------------------------------------

    kpi_targeted = fields.Integer(string="Targeted", compute="_compute_kpis")
    kpi_excluded = fields.Integer(string="Excluded", compute="_compute_kpis")
    kpi_queued = fields.Integer(string="To Send", compute="_compute_kpis")
    kpi_sent = fields.Integer(string="Sent", compute="_compute_kpis")
    kpi_delivered = fields.Integer(string="Delivered", compute="_compute_kpis")
    kpi_undelivered = fields.Integer(string="Undelivered", compute="_compute_kpis")
    kpi_failed = fields.Integer(string="Failed", compute="_compute_kpis")
    kpi_unknown = fields.Integer(string="Outcome Unknown", compute="_compute_kpis")
    kpi_canceled = fields.Integer(string="Canceled", compute="_compute_kpis")
    kpi_clicked = fields.Integer(string="Clicked", compute="_compute_kpis")
    kpi_optouts = fields.Integer(string="Opt-outs", compute="_compute_kpis")
    kpi_replies = fields.Integer(string="Replies", compute="_compute_kpis")
    kpi_delivery_rate = fields.Float(string="Delivery Rate", compute="_compute_kpis")
    kpi_click_rate = fields.Float(string="Click Rate", compute="_compute_kpis")
    kpi_optout_rate = fields.Float(string="Opt-out Rate", compute="_compute_kpis")
    kpi_cost = fields.Float(string="Cost", compute="_compute_kpis", digits=(12, 2))
    kpi_send_progress = fields.Float(compute="_compute_kpis")
    kpi_conversions = fields.Integer(
        string="Conversions",
        compute="_compute_kpis",
        help="Messages credited with at least one order (last click within the click window, "
        "else last delivery within the view-through window).",
    )
    kpi_conversion_rate = fields.Float(string="Conversion Rate", compute="_compute_kpis")
    kpi_revenue = fields.Monetary(
        string="Revenue",
        compute="_compute_kpis",
        currency_field="company_currency_id",
        help="Net revenue of the orders credited to the campaign's messages (refunds "
        "deducted), in company currency.",
    )
    kpi_revenue_per_sms = fields.Monetary(
        string="Revenue per SMS", compute="_compute_kpis", currency_field="company_currency_id"
    )
    kpi_roi = fields.Float(
        string="ROI",
        compute="_compute_kpis",
        help="(Revenue - cost) / cost, in percent. The cost is in the gateways' currency.",
    )
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company Currency"
    )
    excluded_no_consent = fields.Integer(string="No Consent", compute="_compute_kpis")
    excluded_opted_out = fields.Integer(string="Opted Out", compute="_compute_kpis")
    excluded_blacklisted = fields.Integer(string="Blacklisted", compute="_compute_kpis")
    excluded_no_number = fields.Integer(string="No Number", compute="_compute_kpis")
    excluded_invalid_number = fields.Integer(string="Invalid Number", compute="_compute_kpis")
    excluded_not_mobile = fields.Integer(string="Not a Mobile", compute="_compute_kpis")
    excluded_duplicate = fields.Integer(string="Duplicate Number", compute="_compute_kpis")
    excluded_frequency_cap = fields.Integer(string="Frequency Cap Reached", compute="_compute_kpis")
    excluded_other_company = fields.Integer(string="Other Company", compute="_compute_kpis")

    def _kpi_rows(self, group_by_variant=False):
        """One SQL aggregate over the campaigns' traces (test sends left out): ``{key:
        dict}`` keyed by campaign id, or by variant id with ``group_by_variant``."""
        if not self.ids:
            return {}
        self.env["sms.marketing.trace"].flush_model()
        self.env["sms.marketing.inbound"].flush_model()
        key = SQL("t.variant_id") if group_by_variant else SQL("t.campaign_id")
        # grouped by state and reason (a few groups per campaign), summed below: one pass
        # over the traces with one hash lookup per row, instead of a filter per KPI per row;
        # without JIT, whose compilation costs more than this simple scan
        self.env.cr.execute("SET LOCAL jit = off")
        self.env.cr.execute(
            SQL(
                """
                SELECT %(key)s, t.state, t.exclusion_reason, count(*), count(t.clicked_at),
                       COALESCE(sum(t.cost), 0), count(t.converted_at),
                       COALESCE(sum(t.revenue), 0)
                  FROM sms_marketing_trace t
                 WHERE t.campaign_id = ANY(%(ids)s) AND NOT COALESCE(t.is_test, false)
              GROUP BY 1, 2, 3
                """,
                key=key,
                ids=self.ids,
            )
        )
        rows = {}
        for (
            key_id,
            state,
            reason,
            count,
            clicked,
            cost,
            converted,
            revenue,
        ) in self.env.cr.fetchall():
            row = rows.setdefault(key_id, defaultdict(int))
            row["targeted"] += count
            row["clicked"] += clicked
            row["cost"] += cost
            row["conversions"] += converted
            row["revenue"] += revenue
            bucket = KPI_STATE_BUCKETS.get(state)
            if bucket:
                row[bucket] += count
            if state in ("sent", "delivered", "undelivered"):
                row["sent"] += count
            if reason:
                row[reason] += count
        # replies to the campaign's messages; opt-outs: STOP replies within 7 days
        self.env.cr.execute(
            SQL(
                """
                SELECT %(key)s AS key,
                       count(*) AS replies,
                       count(DISTINCT i.sender) FILTER (
                           WHERE i.keyword_class = 'stop'
                             AND i.received_at <= t.sent_at + interval '7 days') AS optouts
                  FROM sms_marketing_inbound i
                  JOIN sms_marketing_trace t ON t.id = i.trace_id
                 WHERE t.campaign_id = ANY(%(ids)s) AND NOT COALESCE(t.is_test, false)
              GROUP BY 1
                """,
                key=key,
                ids=self.ids,
            )
        )
        for row in self.env.cr.dictfetchall():
            rows.setdefault(row["key"], {}).update(row)
        return rows

    @api.depends_context("uid")
    def _compute_kpis(self):
        rows = self._kpi_rows()
        for campaign in self:
            row = rows.get(campaign.id, {})
            get = lambda name, row=row: row.get(name) or 0  # noqa: E731
            sent = get("sent")
            campaign.kpi_targeted = get("targeted")
            campaign.kpi_excluded = get("excluded")
            campaign.kpi_queued = get("queued")
            campaign.kpi_sent = sent
            campaign.kpi_delivered = get("delivered")
            campaign.kpi_undelivered = get("undelivered")
            campaign.kpi_failed = get("failed")
            campaign.kpi_unknown = get("unknown")
            campaign.kpi_canceled = get("canceled")
            campaign.kpi_clicked = get("clicked")
            campaign.kpi_optouts = get("optouts")
            campaign.kpi_replies = get("replies")
            campaign.kpi_cost = get("cost")
            campaign.kpi_delivery_rate = 100.0 * get("delivered") / sent if sent else 0.0
            campaign.kpi_click_rate = 100.0 * get("clicked") / sent if sent else 0.0
            campaign.kpi_optout_rate = 100.0 * get("optouts") / sent if sent else 0.0
            campaign.kpi_conversions = get("conversions")
            campaign.kpi_conversion_rate = 100.0 * get("conversions") / sent if sent else 0.0
            campaign.kpi_revenue = get("revenue")
            campaign.kpi_revenue_per_sms = get("revenue") / sent if sent else 0.0
            campaign.kpi_roi = (
                100.0 * (get("revenue") - get("cost")) / get("cost") if get("cost") else 0.0
            )
            to_send = get("targeted") - get("excluded")
            campaign.kpi_send_progress = (
                100.0 * (to_send - get("queued")) / to_send if to_send else 0.0
            )
            for reason in EXCLUSION_FIELDS:
                campaign[f"excluded_{reason}"] = get(reason)

    @api.depends("prepared_count", "audience_count")
    def _compute_prepare_progress(self):
        for campaign in self:
            campaign.prepare_progress = (
                min(100.0, 100.0 * campaign.prepared_count / campaign.audience_count)
                if campaign.audience_count
                else (100.0 if campaign.prepare_done else 0.0)
            )

    def action_view_events(self):
        """Orders and refunds credited to the campaign's messages."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sms_marketing.sms_marketing_event_action"
        )
        action["domain"] = [("trace_id.campaign_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def action_view_traces(self):
        """Traces of the campaign, filtered by the ``trace_filter`` and ``reason`` keys of
        the context (the stat buttons)."""
        self.ensure_one()
        domain = [("campaign_id", "=", self.id), ("is_test", "=", False)]
        trace_filter = self.env.context.get("trace_filter")
        filters = {
            "excluded": [("state", "=", "excluded")],
            "queued": [("state", "in", ("queued", "sending", "held"))],
            "sent": [("state", "in", ("sent", "delivered", "undelivered"))],
            "delivered": [("state", "=", "delivered")],
            "undelivered": [("state", "=", "undelivered")],
            "failed": [("state", "=", "failed")],
            "unknown": [("state", "=", "unknown")],
            "clicked": [("clicked_at", "!=", False)],
            "replied": [("replied_at", "!=", False)],
            "converted": [("converted_at", "!=", False)],
        }
        domain += filters.get(trace_filter, [])
        if reason := self.env.context.get("reason"):
            domain += [("state", "=", "excluded"), ("exclusion_reason", "=", reason)]
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Messages of %s", self.name),
            "res_model": "sms.marketing.trace",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": domain,
            "context": {"create": False},
        }


#: Trace states counted under each KPI (``sent`` also counts delivered and undelivered).
KPI_STATE_BUCKETS = {
    "excluded": "excluded",
    "queued": "queued",
    "sending": "queued",
    "held": "queued",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "unknown": "unknown",
    "canceled": "canceled",
}

EXCLUSION_FIELDS = (
    "no_consent",
    "opted_out",
    "blacklisted",
    "no_number",
    "invalid_number",
    "not_mobile",
    "duplicate",
    "frequency_cap",
    "other_company",
)


class SmsMarketingVariant(models.Model):
    """One variant of an A/B(/n) test: its text, its share of the test group, its results."""

    _name = "sms.marketing.variant"
    _description = "SMS Campaign Variant"
    _order = "campaign_id, sequence, id"

    campaign_id = fields.Many2one(
        "sms.marketing.campaign", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, default="A")
    body = fields.Text(string="Message", required=True)
    share = fields.Integer(default=50, help="Relative share of the test group.")
    is_winner = fields.Boolean(compute="_compute_is_winner")
    counter_segments = fields.Integer(string="Segments", compute="_compute_counter")
    counter_encoding = fields.Char(string="Encoding", compute="_compute_counter")
    kpi_sent = fields.Integer(string="Sent", compute="_compute_kpis")
    kpi_delivered = fields.Integer(string="Delivered", compute="_compute_kpis")
    kpi_clicked = fields.Integer(string="Clicked", compute="_compute_kpis")
    kpi_click_rate = fields.Float(string="Click Rate", compute="_compute_kpis")
    kpi_optouts = fields.Integer(string="Opt-outs", compute="_compute_kpis")
    kpi_conversions = fields.Integer(string="Conversions", compute="_compute_kpis")
    kpi_conversion_rate = fields.Float(string="Conversion Rate", compute="_compute_kpis")
    kpi_revenue = fields.Monetary(
        string="Revenue", compute="_compute_kpis", currency_field="company_currency_id"
    )
    company_currency_id = fields.Many2one(related="campaign_id.company_id.currency_id")

    _sql_constraints = [("share_positive", "CHECK(share >= 0)", "Shares cannot be negative.")]

    @api.depends("campaign_id.ab_winner_id")
    def _compute_is_winner(self):
        for variant in self:
            variant.is_winner = variant.campaign_id.ab_winner_id == variant

    @api.depends("body", "campaign_id.message_class", "campaign_id.add_footer")
    def _compute_counter(self):
        for variant in self:
            campaign = variant.campaign_id
            if not campaign:
                variant.counter_segments, variant.counter_encoding = 0, False
                continue
            info = campaign._counter_for(variant.body)[1]
            variant.counter_segments = info.segments
            variant.counter_encoding = "GSM-7" if info.encoding == core_encoding.GSM7 else "UCS-2"

    def _compute_kpis(self):
        rows = {}
        for campaign in self.campaign_id:
            rows.update(campaign._kpi_rows(group_by_variant=True))
        for variant in self:
            row = rows.get(variant.id, {})
            sent = row.get("sent") or 0
            variant.kpi_sent = sent
            variant.kpi_delivered = row.get("delivered") or 0
            variant.kpi_clicked = row.get("clicked") or 0
            variant.kpi_optouts = row.get("optouts") or 0
            variant.kpi_click_rate = 100.0 * variant.kpi_clicked / sent if sent else 0.0
            variant.kpi_conversions = row.get("conversions") or 0
            variant.kpi_conversion_rate = 100.0 * variant.kpi_conversions / sent if sent else 0.0
            variant.kpi_revenue = row.get("revenue") or 0.0

    def action_choose_winner(self):
        """A manager picks the winner (campaigns whose rule is to wait for a decision)."""
        self.ensure_one()
        if not self.env.user.has_group("sms_marketing.group_sms_marketing_manager"):
            raise AccessError(self.env._("Only SMS Marketing managers choose an A/B winner."))
        campaign = self.campaign_id
        if campaign.ab_state not in ("testing", "waiting"):
            raise UserError(self.env._("This A/B test is already decided."))
        campaign._ab_apply_winner(
            self,
            self.env._(
                "%(variant)s chosen by %(user)s.", variant=self.name, user=self.env.user.name
            ),
        )
        return True


def new_link_token():
    """A per-recipient link token: 64 random bits, URL-safe, not derived from any id."""
    return secrets.token_urlsafe(8)
