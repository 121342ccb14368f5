"""Ready-made flows: installed in the language of the user who installs them (the texts
are translated strings, Simplified Chinese included), compliant out of the box (marketing
class, consent, quiet hours and frequency cap on, the opt-out footer added by the
campaigns' composer)."""

from odoo import api, fields, models

TEMPLATES = [
    ("welcome", "Welcome"),
    ("birthday", "Birthday greeting"),
    ("order_followup", "Order follow-up and review request"),
    ("cart_recovery", "Abandoned-cart recovery"),
    ("winback", "Win-back of dormant customers"),
    ("double_optin", "Double opt-in confirmation"),
]


class SmsMarketingAutomationGallery(models.TransientModel):
    _name = "sms.marketing.automation.gallery"
    _description = "Ready-made SMS Flows"

    template = fields.Selection(TEMPLATES, required=True, default="cart_recovery")
    description = fields.Text(compute="_compute_description")

    @api.depends("template")
    def _compute_description(self):
        for wizard in self:
            spec = wizard._spec(wizard.template) if wizard.template else None
            wizard.description = spec["description"] if spec else False

    def _spec(self, template):
        """The flow ``template`` as values and steps, in the user's language."""
        specs = {
            "welcome": {
                "name": self.env._("Welcome"),
                "description": self.env._(
                    "When a contact gives consent: a welcome SMS at once, with your coupon."
                ),
                "values": {"trigger": "consent", "reentry": "once", "coupon_code": "WELCOME10"},
                "steps": [
                    {
                        "step_type": "send",
                        "name": self.env._("Welcome SMS"),
                        "body": self.env._(
                            "Welcome to {{ company }}, {{ first_name }}! Enjoy 10% off your "
                            "first order with code {{ coupon }}."
                        ),
                    }
                ],
            },
            "birthday": {
                "name": self.env._("Birthday greeting"),
                "description": self.env._(
                    "On each contact's birthday (their time zone; Feb 29 on Feb 28 in other "
                    "years), at 10:00: a greeting with a coupon."
                ),
                "values": {"trigger": "date", "reentry": "always", "coupon_code": "BDAY20"},
                "steps": [
                    {
                        "step_type": "wait",
                        "name": self.env._("Wait until 10:00"),
                        "wait_mode": "time_of_day",
                        "wait_hour": 10.0,
                    },
                    {
                        "step_type": "send",
                        "name": self.env._("Birthday SMS"),
                        "body": self.env._(
                            "Happy birthday {{ first_name }}! A gift from {{ company }}: 20% "
                            "off this week with code {{ coupon }}."
                        ),
                    },
                ],
            },
            "order_followup": {
                "name": self.env._("Order follow-up and review request"),
                "description": self.env._(
                    "After every order: a thank-you the next day at 10:00, then a review "
                    "request three days later."
                ),
                "values": {"trigger": "event", "trigger_event_type": "order", "reentry": "always"},
                "steps": [
                    {
                        "step_type": "wait",
                        "name": self.env._("Next day 10:00"),
                        "wait_mode": "time_of_day",
                        "wait_hour": 10.0,
                    },
                    {
                        "step_type": "send",
                        "name": self.env._("Thank you"),
                        "body": self.env._(
                            "Thank you for your order, {{ first_name }}! We are preparing it "
                            "with care."
                        ),
                    },
                    {
                        "step_type": "wait",
                        "name": self.env._("Wait 3 days"),
                        "wait_amount": 3,
                        "wait_unit": "days",
                    },
                    {
                        "step_type": "send",
                        "name": self.env._("Review request"),
                        "body": self.env._(
                            "How do you like your order, {{ first_name }}? Reply with a "
                            "score from 1 to 5, it helps us a lot."
                        ),
                    },
                ],
            },
            "cart_recovery": {
                "name": self.env._("Abandoned-cart recovery"),
                "description": self.env._(
                    "An hour after a cart is abandoned: a link back to it; a day later, a "
                    "reminder to those who did not click. Ends when the order is placed."
                ),
                "values": {
                    "trigger": "event",
                    "trigger_event_type": "cart_abandoned",
                    "goal_event_type": "order",
                    "reentry": "period",
                    "reentry_days": 7,
                },
                "steps": [
                    {
                        "step_type": "wait",
                        "name": self.env._("Wait 1 hour"),
                        "wait_amount": 1,
                        "wait_unit": "hours",
                    },
                    {
                        "step_type": "send",
                        "name": self.env._("Cart reminder"),
                        "body": self.env._(
                            "{{ first_name }}, your cart at {{ company }} is waiting: "
                            "{{ cart_url }}"
                        ),
                    },
                    {
                        "step_type": "branch",
                        "name": self.env._("Clicked within a day?"),
                        "condition": "clicked",
                        "window_hours": 24.0,
                        "children": [
                            {
                                "branch": "no",
                                "step_type": "send",
                                "name": self.env._("Last reminder"),
                                "body": self.env._(
                                    "Last call {{ first_name }}: the items in your cart may sell "
                                    "out soon. {{ cart_url }}"
                                ),
                            }
                        ],
                    },
                ],
            },
            "winback": {
                "name": self.env._("Win-back of dormant customers"),
                "description": self.env._(
                    "Customers without an order or a click for 90 days: an offer, and a "
                    "better one three days later to those who did not click."
                ),
                "values": {
                    "trigger": "dormant",
                    "trigger_days": 90,
                    "goal_event_type": "order",
                    "reentry": "period",
                    "reentry_days": 90,
                    "coupon_code": "MISSYOU15",
                },
                "steps": [
                    {
                        "step_type": "send",
                        "name": self.env._("We miss you"),
                        "body": self.env._(
                            "We miss you, {{ first_name }}! 15% off your next order at "
                            "{{ company }} with code {{ coupon }}."
                        ),
                    },
                    {
                        "step_type": "branch",
                        "name": self.env._("Clicked within 3 days?"),
                        "condition": "clicked",
                        "window_hours": 72.0,
                        "children": [
                            {
                                "branch": "no",
                                "step_type": "send",
                                "name": self.env._("Second offer"),
                                "body": self.env._(
                                    "{{ first_name }}, one more chance: code {{ coupon }} "
                                    "ends this week."
                                ),
                            }
                        ],
                    },
                ],
            },
            "double_optin": {
                "name": self.env._("Double opt-in confirmation"),
                "description": self.env._(
                    "New contacts are asked to confirm by replying Y; those who confirm "
                    "within two days get a welcome, the others leave the flow."
                ),
                "values": {"trigger": "contact_created", "reentry": "once"},
                "steps": [
                    {"step_type": "double_optin", "name": self.env._("Ask to confirm")},
                    {
                        "step_type": "branch",
                        "name": self.env._("Confirmed within 2 days?"),
                        "condition": "opted_in",
                        "window_hours": 48.0,
                        "children": [
                            {
                                "branch": "yes",
                                "step_type": "send",
                                "name": self.env._("Welcome SMS"),
                                "body": self.env._(
                                    "Thanks {{ first_name }}, you are subscribed to "
                                    "{{ company }} news and offers."
                                ),
                            },
                            {"branch": "no", "step_type": "exit", "name": self.env._("Exit")},
                        ],
                    },
                ],
            },
        }
        return specs.get(template)

    def action_install(self):
        """Create the flow (a draft, to review and start) and open it through the flows'
        own action, as the main screen: the dialog leaves no trace in the breadcrumb (a
        page reloaded there would look for the wizard's record among the flows)."""
        self.ensure_one()
        flow = self._install(self.template)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "sms_marketing.sms_marketing_automation_action"
        )
        action.update(res_id=flow.id, views=[(False, "form")], view_mode="form", target="main")
        return action

    def _install(self, template):
        spec = self._spec(template)
        flow = self.env["sms.marketing.automation"].create(dict(spec["values"], name=spec["name"]))
        Step = self.env["sms.marketing.automation.step"]
        sequence = 0
        for item in spec["steps"]:
            sequence += 10
            children = item.get("children", [])
            values = {k: v for k, v in item.items() if k != "children"}
            step = Step.create(dict(values, automation_id=flow.id, sequence=sequence))
            for child in children:
                sequence += 10
                Step.create(
                    dict(child, automation_id=flow.id, parent_id=step.id, sequence=sequence)
                )
        return flow
