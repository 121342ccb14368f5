"""Automation flows: a trigger enrolls contacts, ordered steps (send, wait, branch, tag,
activity, exit) move each enrollment along, a goal ends it.

A send step owns a hidden campaign (``sms.marketing.campaign.automation_step_id``): its
traces are prepared by the campaigns' own code (consent, exclusions, quiet hours,
frequency cap, links, footer) into the one send queue, and its KPIs are the step's. The
engine is in ``sms_marketing_automation_run.py``.
"""

from markupsafe import Markup

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..core import events as core_events
from .sms_marketing_trace import MESSAGE_CLASSES

#: Fields of flows and steps that decide which customer events the flows react to
#: (a change clears ``_event_listeners``).
EVENT_LISTENER_FIELDS = {"active", "state", "trigger", "trigger_event_type", "goal_event_type"}
STEP_LISTENER_FIELDS = {"active", "automation_id", "step_type", "condition"}

TRIGGERS = [
    ("contact_created", "Contact created"),
    ("consent", "Consent given"),
    ("event", "Customer event"),
    ("date", "Date every year"),
    ("segment", "Entering a segment"),
    ("keyword", "Inbound keyword"),
    ("dormant", "Dormant for N days"),
    ("manual", "Manual or API"),
]
STEP_TYPES = [
    ("send", "Send SMS"),
    ("wait", "Wait"),
    ("branch", "Branch"),
    ("tag_add", "Add Tag"),
    ("tag_remove", "Remove Tag"),
    ("activity", "Activity for the Salesperson"),
    ("double_optin", "Ask to Confirm (Double Opt-in)"),
    ("exit", "Exit"),
]
WAIT_MODES = [
    ("duration", "For a duration"),
    ("time_of_day", "Until a time of day (recipient's time zone)"),
    ("date", "Until days before/after a date field"),
]
WAIT_UNITS = [("minutes", "Minutes"), ("hours", "Hours"), ("days", "Days")]
CONDITIONS = [
    ("clicked", "Clicked the last SMS"),
    ("replied", "Replied to the last SMS"),
    ("ordered", "Ordered since entering"),
    ("has_tag", "Has tag"),
    ("in_segment", "In segment"),
    ("amount_above", "Trigger amount above"),
    ("opted_in", "Has given consent"),
]
ENROLLMENT_STATES = [
    ("active", "In Progress"),
    ("done", "Completed"),
    ("goal", "Goal Reached"),
    ("exited", "Exited"),
]
EXIT_REASONS = [
    ("opted_out", "Opted out"),
    ("blacklisted", "Blacklisted"),
    ("contact_removed", "Contact archived or deleted"),
    ("exit_step", "Exit step"),
    ("flow_stopped", "Flow stopped"),
    ("manual", "Removed by a user"),
]
#: Counts of the diagram that only send steps have.
SEND_COUNTS = ("sent", "delivered", "clicked", "converted")
PASS_OUTCOMES = [
    ("passed", "Passed"),
    ("yes", "Yes"),
    ("no", "No"),
    ("skipped", "Already passed"),
]


def PASS_OUTCOMES_SELECTION(env):
    """The outcomes with their labels in the user's language."""
    return env["sms.marketing.automation.step.count"]._fields["outcome"]._description_selection(env)


EVENT_TYPE_SELECTION = [
    (code, code.replace("_", " ").capitalize()) for code in core_events.EVENT_TYPES
]


class SmsMarketingAutomation(models.Model):
    _name = "sms.marketing.automation"
    _description = "SMS Automation Flow"
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(required=True, translate=False, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("paused", "Paused"), ("stopped", "Stopped")],
        default="draft",
        required=True,
        tracking=True,
        copy=False,
    )
    message_class = fields.Selection(
        MESSAGE_CLASSES,
        default="marketing",
        required=True,
        tracking=True,
        help="Transactional flows (order confirmations) skip marketing consent, quiet hours "
        "and the frequency cap; only SMS Marketing managers may mark a flow so.",
    )
    gateway_id = fields.Many2one(
        "sms.marketing.gateway", help="Leave empty to route like campaigns of the same class."
    )
    coupon_code = fields.Char(help="The code the flow's messages give with {{ coupon }}.")
    # trigger
    trigger = fields.Selection(TRIGGERS, required=True, default="event", tracking=True)
    trigger_event_type = fields.Selection(EVENT_TYPE_SELECTION, default="order")
    trigger_event_name = fields.Char(help="For custom events: the event's name.")
    trigger_min_amount = fields.Float(
        string="Minimum Amount", help="Only events of at least this amount (company currency)."
    )
    trigger_product = fields.Char(
        string="Product", help="Only events with a line of this product (its SKU or name)."
    )
    trigger_date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date Field",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')),"
        " ('store', '=', True)]",
        ondelete="cascade",
        default=lambda self: self.env.ref(
            "sms_marketing.field_res_partner__sms_birthday", raise_if_not_found=False
        ),
    )
    trigger_segment_id = fields.Many2one("sms.marketing.segment", string="Segment")
    trigger_keyword = fields.Char(
        string="Keyword", help='The reply that enrolls the contact, e.g. "Y" or "JOIN".'
    )
    trigger_days = fields.Integer(string="Dormant Days", default=90)
    # goal and re-entry
    goal_event_type = fields.Selection(
        EVENT_TYPE_SELECTION,
        string="Goal",
        help="An event of this type after entering ends the enrollment: its conversion.",
    )
    reentry = fields.Selection(
        [("once", "Once ever"), ("period", "Once per period"), ("always", "Every time")],
        default="once",
        required=True,
    )
    reentry_days = fields.Integer(string="Period (days)", default=30)
    # test mode
    test_partner_ids = fields.Many2many(
        "res.partner", string="Test Contacts", help="Contacts a test run enrolls."
    )
    last_scan_at = fields.Datetime(readonly=True, copy=False)
    step_ids = fields.One2many("sms.marketing.automation.step", "automation_id", copy=True)
    enrollment_ids = fields.One2many("sms.marketing.automation.enrollment", "automation_id")
    # KPIs (SQL aggregates)
    kpi_enrolled = fields.Integer(string="Enrolled", compute="_compute_kpis")
    kpi_active = fields.Integer(string="In Progress", compute="_compute_kpis")
    kpi_done = fields.Integer(string="Completed", compute="_compute_kpis")
    kpi_goal = fields.Integer(string="Goal Reached", compute="_compute_kpis")
    kpi_exited = fields.Integer(string="Exited", compute="_compute_kpis")
    kpi_optouts = fields.Integer(string="Opt-outs", compute="_compute_kpis")
    kpi_conversion_rate = fields.Float(string="Conversion Rate", compute="_compute_kpis")
    kpi_revenue = fields.Monetary(
        string="Revenue", compute="_compute_kpis", currency_field="company_currency_id"
    )
    kpi_sent = fields.Integer(string="SMS Sent", compute="_compute_kpi_sends")
    kpi_cost = fields.Float(string="Cost", compute="_compute_kpi_sends", digits=(12, 2))
    company_currency_id = fields.Many2one(related="company_id.currency_id")

    @api.constrains("trigger", "trigger_date_field_id", "trigger_segment_id", "trigger_keyword")
    def _check_trigger(self):
        for flow in self:
            if flow.trigger == "date" and not flow.trigger_date_field_id:
                raise ValidationError(self.env._("Choose the date field of a yearly trigger."))
            if flow.trigger == "segment" and not flow.trigger_segment_id:
                raise ValidationError(self.env._("Choose the segment that enrolls contacts."))
            if flow.trigger == "keyword" and not (flow.trigger_keyword or "").strip():
                raise ValidationError(self.env._("Write the keyword that enrolls contacts."))
            if flow.reentry == "period" and flow.reentry_days <= 0:
                raise ValidationError(self.env._("The re-entry period must be at least a day."))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("message_class") == "transactional":
                self._check_manager()
        flows = super().create(vals_list)
        self.env.registry.clear_cache()  # _event_listeners
        return flows

    def write(self, vals):
        if vals.get("message_class") == "transactional":
            self._check_manager()
        result = super().write(vals)
        if EVENT_LISTENER_FIELDS & vals.keys():
            self.env.registry.clear_cache()  # _event_listeners
        if {"message_class", "gateway_id", "name", "company_id", "coupon_code"} & vals.keys():
            self.step_ids._sync_campaign()
        if {"trigger", "trigger_segment_id"} & vals.keys():
            # another segment: its members all enter at the next scan
            self.env["sms.marketing.automation.member"].search(
                [("automation_id", "in", self.ids)]
            ).unlink()
            self.last_scan_at = False
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()  # _event_listeners
        return result

    @api.model
    @tools.ormcache()
    def _event_listeners(self):
        """What the flows of every company listen to in customer events, as
        ``(goal event types, whether a branch waits for an order, trigger event types)``
        of the flows that can react: read on each batch of events, so cached in each
        worker, and cleared (in every worker) when a flow or a step changes."""
        self.flush_model(list(EVENT_LISTENER_FIELDS))
        self.env["sms.marketing.automation.step"].flush_model(list(STEP_LISTENER_FIELDS))
        self.env.cr.execute(
            """
            SELECT (SELECT array_agg(DISTINCT goal_event_type)
                      FROM sms_marketing_automation
                     WHERE active AND state IN ('running', 'paused')
                       AND goal_event_type IS NOT NULL),
                   EXISTS (SELECT 1 FROM sms_marketing_automation_step s
                             JOIN sms_marketing_automation a ON a.id = s.automation_id
                            WHERE s.active AND s.step_type = 'branch'
                              AND s.condition = 'ordered' AND a.active
                              AND a.state IN ('running', 'paused')),
                   (SELECT array_agg(DISTINCT trigger_event_type)
                      FROM sms_marketing_automation
                     WHERE active AND state = 'running' AND trigger = 'event')
            """
        )
        goals, ordered, triggers = self.env.cr.fetchone()
        return frozenset(goals or ()), bool(ordered), frozenset(triggers or ())

    def _check_manager(self):
        if not self.env.user.has_group("sms_marketing.group_sms_marketing_manager"):
            raise UserError(
                self.env._("Only SMS Marketing managers may mark a flow as transactional.")
            )

    def _compute_kpis(self):
        """The flow's figures, from its counts (see ``sms.marketing.automation.count``)."""
        flows = self.filtered("id")
        (self - flows).update(
            dict.fromkeys(
                [
                    name
                    for name, field in self._fields.items()
                    if name.startswith("kpi_") and field.compute == "_compute_kpis"
                ],
                0,
            )
        )
        if not flows:
            return
        self.env.flush_all()
        # the flow's figures as counted when enrollments moved (see .count), not a scan of
        # its history
        self.env.cr.execute(
            """
            SELECT automation_id, figure, sum(count), sum(amount)
              FROM sms_marketing_automation_count
             WHERE automation_id = ANY(%s)
          GROUP BY automation_id, figure
            """,
            [flows.ids],
        )
        figures = {}
        for flow_id, figure, count, amount in self.env.cr.fetchall():
            figures[(flow_id, figure)] = (count, amount or 0.0)
        for flow in flows:
            enrolled, done, goal, exited, optouts = (
                figures.get((flow.id, figure), (0, 0))[0]
                for figure in ("enrolled", "done", "goal", "exited", "opted_out")
            )
            flow.update(
                {
                    "kpi_enrolled": enrolled,
                    "kpi_active": max(enrolled - done - goal - exited, 0),
                    "kpi_done": done,
                    "kpi_goal": goal,
                    "kpi_exited": exited,
                    "kpi_optouts": optouts,
                    "kpi_conversion_rate": 100.0 * goal / enrolled if enrolled else 0.0,
                    "kpi_revenue": figures.get((flow.id, "goal"), (0, 0.0))[1],
                }
            )

    def _compute_kpi_sends(self):
        """SMS sent by the flow's steps and their cost (tests aside)."""
        flows = self.filtered("id")
        (self - flows).update({"kpi_sent": 0, "kpi_cost": 0.0})
        if not flows:
            return
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT s.automation_id,
                   count(*) FILTER (WHERE t.state IN ('sent', 'delivered', 'undelivered',
                                                     'unknown')),
                   COALESCE(sum(t.cost), 0)
              FROM sms_marketing_automation_step s
              JOIN sms_marketing_trace t ON t.campaign_id = s.campaign_id
             WHERE s.automation_id = ANY(%s) AND NOT COALESCE(t.is_test, false)
          GROUP BY s.automation_id
            """,
            [flows.ids],
        )
        sends = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for flow in flows:
            sent, cost = sends.get(flow.id, (0, 0.0))
            flow.update({"kpi_sent": sent, "kpi_cost": cost})

    # ------------------------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------------------------

    def action_start(self):
        for flow in self:
            if not flow.step_ids:
                raise UserError(self.env._("Add at least one step before starting the flow."))
            for step in flow.step_ids.filtered(lambda s: s.step_type == "send"):
                step.campaign_id._parse_body(step.body)
        self.write({"state": "running"})
        self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")._trigger()

    def action_pause(self):
        self.write({"state": "paused"})

    def action_stop(self):
        """Stop for good: every enrollment in progress exits."""
        self.write({"state": "stopped"})
        self.env.flush_all()
        Count = self.env["sms.marketing.automation.count"]
        self.env.cr.execute(
            SQL(
                """
                UPDATE sms_marketing_automation_enrollment e
                   SET state = 'exited', exit_reason = 'flow_stopped', due_at = NULL,
                       done_at = now() AT TIME ZONE 'utc'
                 WHERE automation_id = ANY(%s) AND state = 'active'
                %s
                """,
                self.ids,
                Count._returning(),
            )
        )
        Count._add(self.env.cr.fetchall())
        self.env["sms.marketing.automation.enrollment"].invalidate_model()

    def action_test(self):
        """Run the flow for its test contacts: waits last a minute, SMS are tests."""
        self.ensure_one()
        if not self.test_partner_ids:
            raise UserError(self.env._("Choose the test contacts first."))
        if self.state not in ("running", "draft", "paused"):
            raise UserError(self.env._("A stopped flow cannot be tested."))
        self._enroll_partners(self.test_partner_ids.ids, "test", test=True)
        self.env.ref("sms_marketing.ir_cron_sms_marketing_automation")._trigger()

    def get_diagram(self):
        """The flow as a tree for the diagram: each path (main, or a side of a branch) a
        list of boxes with their live counts; a branch box carries its two sides."""
        self.ensure_one()
        steps = self.step_ids.filtered("active").sorted(lambda s: (s.sequence, s.id))
        types = dict(
            self.env["sms.marketing.automation.step"]
            ._fields["step_type"]
            ._description_selection(self.env)
        )
        count_names = [
            "waiting",
            "passed",
            "yes",
            "no",
            "sent",
            "delivered",
            "clicked",
            "converted",
            "exited",
        ]
        labels = {
            name: self.env["sms.marketing.automation.step"]
            ._fields[f"count_{name}"]
            .get_description(self.env)["string"]
            for name in count_names
        }

        def path(parent, side):
            boxes = []
            for step in steps.filtered(
                lambda s: s.parent_id.id == parent and (s.branch or False) == side
            ):
                box = {
                    "id": step.id,
                    "name": step.name,
                    "type": step.step_type,
                    "type_label": types.get(step.step_type),
                    "counts": [
                        {"key": name, "label": labels[name], "value": step[f"count_{name}"]}
                        for name in count_names
                        if name in ("waiting", "passed", "exited")
                        or (step.step_type == "send" and name in SEND_COUNTS)
                        or (step.step_type == "branch" and name in ("yes", "no"))
                    ],
                }
                if step.step_type == "branch":
                    box["yes"] = path(step.id, "yes")
                    box["no"] = path(step.id, "no")
                boxes.append(box)
            return boxes

        return {
            "trigger": dict(self._fields["trigger"]._description_selection(self.env)).get(
                self.trigger
            ),
            "goal": self.kpi_goal,
            "revenue": self.kpi_revenue,
            "currency": self.company_currency_id.symbol or "",
            "labels": {
                "trigger": self.env._("Trigger"),
                "goal": self.env._("Goal reached"),
                "yes": self.env._("Yes"),
                "no": self.env._("No"),
                "end": self.env._("End"),
                "empty": self.env._("No steps yet: add them in the Steps tab."),
            },
            "steps": path(False, False),
        }

    def action_view_enrollments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sms_marketing.sms_marketing_automation_enrollment_action"
        )
        action["domain"] = [("automation_id", "=", self.id)]
        action["context"] = {"default_automation_id": self.id}
        return action

    def action_enroll_contacts(self):
        """The dialog that adds chosen contacts to this flow (manual enrollment)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Add Contacts to the Flow"),
            "res_model": "sms.marketing.automation.enroll",
            "view_mode": "form",
            "target": "new",
            "context": {"default_automation_id": self.id},
        }

    def _enroll_manual(self, partners, source="manual"):
        """Enroll ``partners`` by hand or through the API: one entry per call (the flow's
        re-entry rule decides whether a contact already in it enters again), marketing
        flows never take opted-out contacts. Return the enrollments created."""
        self.ensure_one()
        self.check_access("write")
        if self.state == "stopped":
            raise UserError(self.env._("A stopped flow takes no new contacts."))
        key = f"{source[0]}{fields.Datetime.now():%Y%m%d%H%M%S%f}"
        ids = self.sudo()._enroll_partners(partners.ids, key)
        return self.env["sms.marketing.automation.enrollment"].browse(ids)

    @api.model
    def _api_enroll(self, flow_id, raw_contacts, company):
        """``POST /flows/<id>/enrollments``: contacts matched (or created, without consent)
        like the contacts endpoint's, then enrolled.

        :return: one dict per contact: ``{"index", "status": "enrolled", "id",
            "contact_id"}``, ``{"index", "status": "not_enrolled", "contact_id", "code"}``
            (already in the flow, or opted out) or a rejection as the contacts endpoint's
        :raises ValueError: ``("not_found", "flow")`` for an unknown flow
        """
        flow = self.search([("id", "=", flow_id), ("company_id", "=", company.id)])
        if not flow:
            raise ValueError("not_found", "flow")
        results = self.env["sms.marketing.event"]._api_upsert_contacts(raw_contacts, company)
        matched = {r["index"]: r["id"] for r in results if r["status"] in ("created", "updated")}
        Partner = self.env["res.partner"]
        enrollments = flow._enroll_manual(Partner.browse(sorted(set(matched.values()))), "api")
        by_partner = {e.partner_id.id: e.id for e in enrollments}
        answers = []
        for result in results:
            index = result["index"]
            if index not in matched:
                answers.append(result)
                continue
            partner_id = matched[index]
            if partner_id in by_partner:
                answers.append(
                    {
                        "index": index,
                        "status": "enrolled",
                        "id": by_partner.pop(partner_id),
                        "contact_id": partner_id,
                    }
                )
            else:
                partner = Partner.browse(partner_id)
                answers.append(
                    {
                        "index": index,
                        "status": "not_enrolled",
                        "contact_id": partner_id,
                        "code": "opted_out"
                        if flow.message_class == "marketing"
                        and partner.sms_consent_state == "opted_out"
                        else "already_enrolled",
                    }
                )
        return answers

    @api.model
    def _api_list(self, company):
        """``GET /flows``: the company's flows an integrator may enroll contacts into."""
        return [
            {"id": flow.id, "name": flow.name, "state": flow.state, "trigger": flow.trigger}
            for flow in self.search(
                [("company_id", "=", company.id), ("state", "in", ("draft", "running", "paused"))],
                order="id",
            )
        ]


class SmsMarketingAutomationStep(models.Model):
    _name = "sms.marketing.automation.step"
    _description = "SMS Automation Step"
    _order = "sequence, id"

    automation_id = fields.Many2one(
        "sms.marketing.automation", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="automation_id.company_id", store=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(compute="_compute_name", store=True, readonly=False)
    step_type = fields.Selection(STEP_TYPES, required=True, default="send")
    parent_id = fields.Many2one(
        "sms.marketing.automation.step",
        string="Branch Step",
        ondelete="cascade",
        domain="[('automation_id', '=', automation_id), ('step_type', '=', 'branch')]",
        help="The branch step this step belongs to; empty for the main path.",
    )
    branch = fields.Selection(
        [("yes", "Yes"), ("no", "No")], help="The side of the branch this step is on."
    )
    # send
    campaign_id = fields.Many2one(
        "sms.marketing.campaign", readonly=True, copy=False, ondelete="set null"
    )
    body = fields.Text(help="Placeholders as in campaigns ({{ first_name }}, {{ cart_url }}...).")
    ab_testing = fields.Boolean(
        string="A/B Variants",
        related="campaign_id.ab_testing",
        readonly=False,
        help="Split the contacts reaching this step between variants by their shares; "
        "each variant's sends, clicks and conversions are counted.",
    )
    variant_ids = fields.One2many(related="campaign_id.variant_ids", readonly=False)
    counter_text = fields.Char(string="Counter", compute="_compute_counter")
    preview_body = fields.Text(string="Preview", compute="_compute_counter")
    # wait
    wait_mode = fields.Selection(WAIT_MODES, default="duration")
    wait_amount = fields.Integer(default=1)
    wait_unit = fields.Selection(WAIT_UNITS, default="days")
    wait_hour = fields.Float(string="Time of Day", default=10.0)
    wait_date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date Field",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')),"
        " ('store', '=', True)]",
        ondelete="cascade",
    )
    wait_offset_days = fields.Integer(
        string="Days After", help="Negative: days before the date (e.g. -3)."
    )
    # branch
    condition = fields.Selection(CONDITIONS, default="clicked")
    window_hours = fields.Float(
        string="Within (hours)",
        default=24.0,
        help="The branch waits this long for the condition (its time-out), then decides.",
    )
    tag_id = fields.Many2one("sms.marketing.tag")
    segment_id = fields.Many2one("sms.marketing.segment")
    amount = fields.Float()
    # activity
    activity_type_id = fields.Many2one("mail.activity.type")
    activity_summary = fields.Char()
    # counts
    count_waiting = fields.Integer(string="Waiting", compute="_compute_counts")
    count_passed = fields.Integer(string="Passed", compute="_compute_counts")
    count_yes = fields.Integer(string="Yes", compute="_compute_counts")
    count_no = fields.Integer(string="No", compute="_compute_counts")
    count_exited = fields.Integer(string="Exited", compute="_compute_counts")
    count_sent = fields.Integer(string="Sent", compute="_compute_counts")
    count_delivered = fields.Integer(string="Delivered", compute="_compute_counts")
    count_clicked = fields.Integer(string="Clicked", compute="_compute_counts")
    count_converted = fields.Integer(string="Converted", compute="_compute_counts")

    @api.depends("step_type", "wait_amount", "wait_unit", "condition")
    def _compute_name(self):
        labels = dict(self._fields["step_type"]._description_selection(self.env))
        for step in self:
            if not step.name:
                step.name = labels.get(step.step_type)

    @api.depends("body", "step_type", "automation_id.message_class", "automation_id.coupon_code")
    @api.depends_context("lang")
    def _compute_counter(self):
        """The campaigns' counter and preview, on the message as it will be sent (signature,
        short links, opt-out footer)."""
        Campaign = self.env["sms.marketing.campaign"]
        for step in self:
            if step.step_type != "send":
                step.counter_text = step.preview_body = False
                continue
            flow = step.automation_id
            campaign = step.campaign_id or Campaign.new(
                {
                    "name": flow.name or "-",
                    "company_id": (flow.company_id or self.env.company).id,
                    "message_class": flow.message_class or "marketing",
                    "coupon_code": flow.coupon_code,
                    "add_footer": flow.message_class != "transactional",
                }
            )
            text, info, _warning = campaign._counter_for(step.body or "")
            step.preview_body = text
            step.counter_text = self.env._(
                "%(chars)s characters, %(encoding)s, %(segments)s SMS segment(s)",
                chars=info.length,
                encoding="GSM-7" if info.encoding == "gsm7" else "UCS-2",
                segments=info.segments,
            )

    @api.constrains("parent_id", "branch", "step_type", "wait_date_field_id", "wait_mode")
    def _check_structure(self):
        for step in self:
            if step.parent_id and (
                step.parent_id.step_type != "branch"
                or step.parent_id.automation_id != step.automation_id
                or not step.branch
            ):
                raise ValidationError(
                    self.env._("A step inside a branch needs its branch step and a side.")
                )
            if (
                step.step_type == "wait"
                and step.wait_mode == "date"
                and not step.wait_date_field_id
            ):
                raise ValidationError(self.env._("Choose the date field the wait counts from."))
            if step.step_type in ("tag_add", "tag_remove") and not step.tag_id:
                raise ValidationError(self.env._("Choose the tag to add or remove."))

    @api.constrains("body", "step_type")
    def _check_body(self):
        for step in self.filtered(lambda s: s.step_type == "send"):
            if not (step.body or "").strip():
                raise ValidationError(self.env._("A send step needs its message."))
            step.campaign_id._parse_body(step.body)

    @api.model_create_multi
    def create(self, vals_list):
        steps = super().create(vals_list)
        steps._sync_campaign()
        self.env.registry.clear_cache()  # the flows' _event_listeners
        return steps

    def write(self, vals):
        result = super().write(vals)
        if {"body", "step_type", "name", "active"} & vals.keys():
            self._sync_campaign()
        if STEP_LISTENER_FIELDS & vals.keys():
            self.env.registry.clear_cache()  # the flows' _event_listeners
        return result

    def _sync_campaign(self):
        """The hidden campaign of each send step, created or brought in line."""
        Campaign = self.env["sms.marketing.campaign"].sudo()
        for step in self.filtered(lambda s: s.step_type == "send"):
            flow = step.automation_id
            values = {
                "name": f"{flow.name} / {step.name or step.id}",
                "body": step.body or "",
                "company_id": flow.company_id.id,
                "message_class": flow.message_class,
                "gateway_id": flow.gateway_id.id,
                "coupon_code": flow.coupon_code,
                "respect_quiet_hours": flow.message_class == "marketing",
                "apply_frequency_cap": flow.message_class == "marketing",
                "add_footer": flow.message_class == "marketing",
            }
            if step.campaign_id:
                step.campaign_id.with_context(sms_marketing_automation_sync=True).write(values)
            else:
                utm = self.env["utm.campaign"].sudo().create({"name": values["name"]})
                values.update(automation_step_id=step.id, utm_campaign_id=utm.id, active=False)
                step.campaign_id = Campaign.with_context(sms_marketing_automation_sync=True).create(
                    values
                )

    def unlink(self):
        """Removing a step moves the enrollments waiting at it to the next one. A step with
        history (contacts passed it, SMS) is archived instead, so the flow's figures stay
        whole."""
        for step in self:
            step.automation_id._move_enrollments(step)
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT DISTINCT step_id FROM sms_marketing_automation_step_count
             WHERE step_id = ANY(%s)
            UNION SELECT s.id FROM sms_marketing_automation_step s
                    JOIN sms_marketing_trace t ON t.campaign_id = s.campaign_id
                   WHERE s.id = ANY(%s)
            """,
            [self.ids, self.ids],
        )
        kept = self.browse(row[0] for row in self.env.cr.fetchall())
        kept.write({"active": False})
        (kept | self.child_ids).filtered("active").write({"active": False})
        # the hidden campaigns of the others go with them (cascade)
        result = super(SmsMarketingAutomationStep, self - kept).unlink()
        self.env.registry.clear_cache()  # the flows' _event_listeners
        return result

    child_ids = fields.One2many("sms.marketing.automation.step", "parent_id")

    def _compute_counts(self):
        steps = self.filtered("id")
        for step in self - steps:
            step.update(dict.fromkeys(self._count_fields(), 0))
        if not steps:
            return
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            """
            SELECT step_id, count(*) FILTER (WHERE state = 'active'),
                   count(*) FILTER (WHERE state = 'exited')
              FROM sms_marketing_automation_enrollment
             WHERE step_id = ANY(%s) AND NOT is_test GROUP BY step_id
            """,
            [steps.ids],
        )
        at_step = {row[0]: row[1:] for row in cr.fetchall()}
        cr.execute(
            """
            SELECT step_id, outcome, sum(count) FROM sms_marketing_automation_step_count
             WHERE step_id = ANY(%s) GROUP BY step_id, outcome
            """,
            [steps.ids],
        )
        outcomes = {(step_id, outcome): total for step_id, outcome, total in cr.fetchall()}
        cr.execute(
            """
            SELECT s.id,
                   count(*) FILTER (WHERE t.state IN ('sent', 'delivered', 'undelivered',
                                                     'unknown')),
                   count(*) FILTER (WHERE t.state = 'delivered'),
                   count(*) FILTER (WHERE t.clicked_at IS NOT NULL),
                   count(*) FILTER (WHERE t.converted_at IS NOT NULL)
              FROM sms_marketing_automation_step s
              JOIN sms_marketing_trace t ON t.campaign_id = s.campaign_id
             WHERE s.id = ANY(%s) AND NOT COALESCE(t.is_test, false)
          GROUP BY s.id
            """,
            [steps.ids],
        )
        traces = {row[0]: row[1:] for row in cr.fetchall()}
        for step in steps:
            waiting, exited = at_step.get(step.id, (0, 0))
            sent, delivered, clicked, converted = traces.get(step.id, (0, 0, 0, 0))
            step.update(
                {
                    "count_waiting": waiting,
                    "count_exited": exited,
                    "count_passed": sum(
                        outcomes.get((step.id, outcome), 0) for outcome in ("passed", "yes", "no")
                    ),
                    "count_yes": outcomes.get((step.id, "yes"), 0),
                    "count_no": outcomes.get((step.id, "no"), 0),
                    "count_sent": sent,
                    "count_delivered": delivered,
                    "count_clicked": clicked,
                    "count_converted": converted,
                }
            )

    def _count_fields(self):
        return [name for name in self._fields if name.startswith("count_")]

    def action_view_enrollments(self):
        """The enrollments behind a count of the diagram (``count`` in the context)."""
        self.ensure_one()
        action = self.automation_id.action_view_enrollments()
        which = self.env.context.get("count", "waiting")
        if which == "passed":
            domain = [("passed_step_ids", "in", [self.id])]
        elif which in ("yes", "no"):
            domain = [("passed_outcome", "=", f"{self.id}:{which}")]
        elif which == "exited":
            domain = [("step_id", "=", self.id), ("state", "=", "exited")]
        elif which in ("sent", "delivered", "clicked", "converted"):
            trace_domain = {
                "sent": [("state", "in", ("sent", "delivered", "undelivered", "unknown"))],
                "delivered": [("state", "=", "delivered")],
                "clicked": [("clicked_at", "!=", False)],
                "converted": [("converted_at", "!=", False)],
            }[which]
            traces = self.env["sms.marketing.trace"].search(
                [("campaign_id", "=", self.campaign_id.id), *trace_domain]
            )
            domain = [("id", "in", traces.automation_enrollment_id.ids)]
        else:
            domain = [("step_id", "=", self.id), ("state", "=", "active")]
        action["domain"] = domain
        action["name"] = self.name
        return action


class SmsMarketingAutomationEnrollment(models.Model):
    _name = "sms.marketing.automation.enrollment"
    _description = "SMS Automation Enrollment"
    _order = "id desc"
    _rec_name = "partner_id"

    automation_id = fields.Many2one(
        "sms.marketing.automation", required=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    # looked up by contact through the unique (partner_id, automation_id, entry_key) index
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", readonly=True)
    step_id = fields.Many2one(
        "sms.marketing.automation.step", string="Current Step", readonly=True, ondelete="set null"
    )
    state = fields.Selection(ENROLLMENT_STATES, default="active", required=True, readonly=True)
    exit_reason = fields.Selection(EXIT_REASONS, readonly=True)
    entry_key = fields.Char(required=True, readonly=True)
    entered_at = fields.Datetime(readonly=True, required=True)
    step_at = fields.Datetime(
        string="At Step Since", readonly=True, help="When the contact reached the current step."
    )
    due_at = fields.Datetime(readonly=True, help="When the current step is due.")
    done_at = fields.Datetime(readonly=True)
    is_test = fields.Boolean(readonly=True, default=False)
    trigger_event_id = fields.Many2one("sms.marketing.event", readonly=True, ondelete="set null")
    goal_event_id = fields.Many2one("sms.marketing.event", readonly=True, ondelete="set null")
    goal_revenue = fields.Float(readonly=True, digits=(16, 2))
    error = fields.Char(readonly=True)
    history = fields.Json(
        string="Steps Passed (data)",
        readonly=True,
        copy=False,
        help="The steps passed, in order: [step id, outcome, when], one list each. A step "
        "is never done twice for an enrollment: the engine looks here first.",
    )
    history_html = fields.Html(string="History", compute="_compute_history_html", sanitize=False)
    passed_step_ids = fields.Many2many(
        "sms.marketing.automation.step",
        string="Steps Passed",
        compute="_compute_passed_step_ids",
        search="_search_passed_step_ids",
    )
    passed_outcome = fields.Char(
        compute="_compute_passed_step_ids",
        search="_search_passed_outcome",
        help='Search only: "<step id>:<outcome>", e.g. the "yes" side of a branch.',
    )
    trace_ids = fields.One2many("sms.marketing.trace", "automation_enrollment_id")

    def init(self):
        cr = self.env.cr
        # the due work is its own queue: the cron's claim reads this index only
        cr.execute(
            """
            CREATE INDEX IF NOT EXISTS sms_marketing_automation_enrollment_due_idx
                ON sms_marketing_automation_enrollment (automation_id, due_at)
             WHERE state = 'active';
            CREATE UNIQUE INDEX IF NOT EXISTS sms_marketing_automation_enrollment_entry_idx
                ON sms_marketing_automation_enrollment (partner_id, automation_id, entry_key);
            CREATE INDEX IF NOT EXISTS sms_marketing_automation_enrollment_step_idx
                ON sms_marketing_automation_enrollment (step_id) WHERE step_id IS NOT NULL;
            """
        )

    @api.depends("history")
    def _compute_passed_step_ids(self):
        Step = self.env["sms.marketing.automation.step"]
        for enrollment in self:
            enrollment.passed_step_ids = Step.browse(
                {item[0] for item in enrollment.history or []}
            ).exists()
            enrollment.passed_outcome = False

    def _search_passed_step_ids(self, operator, value):
        if operator not in ("in", "="):
            raise UserError(self.env._("Search the steps passed with 'is in'."))
        ids = [value] if isinstance(value, int) else list(value)
        return [
            (
                "id",
                "in",
                SQL(
                    """SELECT e.id FROM sms_marketing_automation_enrollment e
                        WHERE e.automation_id IN (SELECT automation_id
                                                    FROM sms_marketing_automation_step
                                                   WHERE id = ANY(%(ids)s))
                          AND EXISTS (SELECT 1 FROM jsonb_array_elements(e.history) item
                                       WHERE (item->>0)::int = ANY(%(ids)s))""",
                    ids=ids,
                ),
            )
        ]

    def _search_passed_outcome(self, operator, value):
        step_id, _sep, outcome = str(value).partition(":")
        if operator != "=" or not step_id.isdigit():
            raise UserError(self.env._('Search the outcomes with "<step id>:<outcome>".'))
        return [
            (
                "id",
                "in",
                SQL(
                    """SELECT e.id FROM sms_marketing_automation_enrollment e
                        WHERE e.automation_id = (SELECT automation_id
                                                   FROM sms_marketing_automation_step
                                                  WHERE id = %(step)s)
                          AND e.history @> jsonb_build_array(jsonb_build_array(%(step)s,
                                                                               %(outcome)s))""",
                    step=int(step_id),
                    outcome=outcome,
                ),
            )
        ]

    @api.depends("history")
    @api.depends_context("lang", "tz")
    def _compute_history_html(self):
        outcomes = dict(PASS_OUTCOMES_SELECTION(self.env))
        steps = self.env["sms.marketing.automation.step"].with_context(active_test=False)
        for enrollment in self:
            rows = []
            for step_id, outcome, at in enrollment.history or []:
                when = fields.Datetime.context_timestamp(self, fields.Datetime.to_datetime(at))
                rows.append(
                    Markup("<tr><td>%s</td><td>%s</td><td>%s</td></tr>")
                    % (
                        fields.Datetime.to_string(when),
                        steps.browse(step_id).exists().name or "-",
                        outcomes.get(outcome, outcome),
                    )
                )
            enrollment.history_html = (
                Markup('<table class="table table-sm o_sms_flow_history"><tbody>%s</tbody></table>')
                % Markup().join(rows)
                if rows
                else False
            )

    def action_exit(self):
        """Take the contacts out of their flow (users who may edit the flow)."""
        self.automation_id.check_access("write")
        # sudo: enrollments are written by the engine only; this is its one manual move
        leaving = self.sudo().filtered(lambda e: e.state == "active")
        leaving.write(
            {
                "state": "exited",
                "exit_reason": "manual",
                "done_at": fields.Datetime.now(),
                "due_at": False,
            }
        )
        self.env["sms.marketing.automation.count"].sudo()._add(
            (e.automation_id.id, e.is_test, "exited", "manual", 0.0) for e in leaving
        )


class SmsMarketingAutomationStepCount(models.Model):
    """How many enrollments passed a step, by outcome: rows of deltas, one per step and
    outcome and batch, summed when read and folded together from time to time
    (``_cron_run``). Insert-only, so workers moving enrollments at once never wait on a
    counter row; the diagram's counts cost the same with millions in the history."""

    _name = "sms.marketing.automation.step.count"
    _description = "SMS Automation Step Count"
    _log_access = False

    step_id = fields.Many2one(
        "sms.marketing.automation.step", required=True, ondelete="cascade", index=True
    )
    outcome = fields.Selection(PASS_OUTCOMES, required=True)
    count = fields.Integer(required=True)


class SmsMarketingAutomationCount(models.Model):
    """A flow's results as deltas: contacts enrolled, completed, at their goal (with its
    revenue), exited and opted out, one row per flow, figure and batch, summed when read
    and folded together from time to time (``_cron_run``). Written by every statement
    that moves enrollments into those states, so the flow's form costs the same with
    millions of enrollments in its history. Test runs are not counted."""

    _name = "sms.marketing.automation.count"
    _description = "SMS Automation Count"
    _log_access = False

    automation_id = fields.Many2one(
        "sms.marketing.automation", required=True, ondelete="cascade", index=True
    )
    figure = fields.Selection(
        [
            ("enrolled", "Enrolled"),
            ("done", "Completed"),
            ("goal", "Goal Reached"),
            ("exited", "Exited"),
            ("opted_out", "Opted Out"),
        ],
        required=True,
    )
    count = fields.Integer(required=True)
    amount = fields.Float(digits=(16, 2))

    def init(self):
        # a database whose flows ran before these counts existed: count them once
        self.env.cr.execute(
            """
            INSERT INTO sms_marketing_automation_count (automation_id, figure, count, amount)
            SELECT automation_id, f.figure, count(*), COALESCE(sum(f.amount), 0)
              FROM sms_marketing_automation_enrollment e,
                   LATERAL (VALUES ('enrolled', 0::numeric),
                                   (CASE WHEN e.state IN ('done', 'goal', 'exited')
                                         THEN e.state END, e.goal_revenue),
                                   (CASE WHEN e.exit_reason = 'opted_out'
                                         THEN 'opted_out' END, 0)) AS f(figure, amount)
             WHERE NOT e.is_test AND f.figure IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM sms_marketing_automation_count)
          GROUP BY automation_id, f.figure
            """
        )

    @api.model
    def _add(self, rows):
        """Count ``rows``: ``(flow id, is test, state, exit reason, revenue)`` of
        enrollments that just reached ``state`` (``enrolled`` for new ones)."""
        totals = {}
        for flow_id, is_test, state, reason, revenue in rows:
            if is_test:
                continue
            figures = [state] + (["opted_out"] if reason == "opted_out" else [])
            for figure in figures:
                count, amount = totals.get((flow_id, figure), (0, 0.0))
                totals[(flow_id, figure)] = (count + 1, amount + (revenue or 0.0))
        if not totals:
            return
        keys = list(totals)
        self.env.cr.execute(
            SQL(
                """INSERT INTO sms_marketing_automation_count (automation_id, figure, count, amount)
                   SELECT * FROM unnest(%s::int[], %s::varchar[], %s::int[], %s::numeric[])""",
                [key[0] for key in keys],
                [key[1] for key in keys],
                [totals[key][0] for key in keys],
                [totals[key][1] for key in keys],
            )
        )

    @api.model
    def _returning(self):
        """The ``RETURNING`` clause that gives ``_add`` its rows (alias ``e``)."""
        return SQL("RETURNING e.automation_id, e.is_test, e.state, e.exit_reason, e.goal_revenue")


class SmsMarketingAutomationMember(models.Model):
    """The contacts of a segment-triggered flow's segment at its last scan: who *enters*
    the segment is who is in it now and was not then (see ``_scan_segment_members``)."""

    _name = "sms.marketing.automation.member"
    _description = "SMS Automation Segment Member"
    _log_access = False

    automation_id = fields.Many2one(
        "sms.marketing.automation", required=True, ondelete="cascade", index=False
    )
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    entered_at = fields.Datetime(required=True)

    _sql_constraints = [
        ("member_unique", "UNIQUE(automation_id, partner_id)", "A contact is a member once."),
    ]
