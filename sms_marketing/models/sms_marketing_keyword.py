from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..core import keywords as core_keywords

KEYWORD_ACTIONS = [
    ("tag", "Add a tag"),
    ("untag", "Remove a tag"),
    ("enroll", "Add to a flow"),
    ("confirm", "Confirm consent (double opt-in)"),
    ("reply", "Answer only"),
]


class SmsMarketingKeyword(models.Model):
    """A reply keyword bound to an action ("回复Y参与", "reply JOIN"): when a contact's
    reply is the keyword (case, spaces and punctuation aside), the action is taken and the
    answer, if any, is sent. Stop keywords keep their meaning and take no action; a start
    keyword (Y, YES) still gives consent first."""

    _name = "sms.marketing.keyword"
    _description = "SMS Reply Keyword"
    _order = "sequence, id"

    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    keyword = fields.Char(required=True, help='What the contact replies, e.g. "Y", "JOIN", "参与".')
    action = fields.Selection(KEYWORD_ACTIONS, required=True, default="tag")
    tag_id = fields.Many2one("sms.marketing.tag")
    automation_id = fields.Many2one(
        "sms.marketing.automation", string="Flow", domain="[('company_id', '=', company_id)]"
    )
    reply_body = fields.Text(
        string="Answer", help="Sent back when the keyword is received (a transactional SMS)."
    )
    # counted from the replies (a counter on the rule would be one row every reply of a
    # busy campaign writes)
    match_count = fields.Integer(string="Received", compute="_compute_match_count")

    @api.constrains("keyword", "action", "tag_id", "automation_id")
    def _check_keyword(self):
        for rule in self:
            word = core_keywords.normalize(rule.keyword)
            if not word:
                raise ValidationError(self.env._("Write the keyword."))
            if core_keywords.classify(rule.keyword) == core_keywords.STOP:
                raise ValidationError(
                    self.env._(
                        "%s opts the contact out: it cannot mean anything else.", rule.keyword
                    )
                )
            if rule.action in ("tag", "untag") and not rule.tag_id:
                raise ValidationError(self.env._("Choose the tag."))
            if rule.action == "enroll" and not rule.automation_id:
                raise ValidationError(self.env._("Choose the flow."))

    def _compute_match_count(self):
        counts = dict(
            self.env["sms.marketing.inbound"]
            .sudo()
            ._read_group([("keyword_id", "in", self.ids)], ["keyword_id"], ["__count"])
        )
        for rule in self:
            rule.match_count = counts.get(rule._origin, 0)

    @api.model
    def _apply(self, inbounds):
        """Take the action of each reply of ``inbounds`` that is a keyword of its company;
        return the answers to send as ``{inbound: text}``."""
        answers = {}
        rules = self.sudo().search([("company_id", "in", inbounds.company_id.ids)])
        if not rules:
            return answers
        by_word = {}
        for rule in rules:
            by_word.setdefault((rule.company_id.id, core_keywords.normalize(rule.keyword)), rule)
        for inbound in inbounds.filtered("partner_id"):
            rule = by_word.get((inbound.company_id.id, core_keywords.normalize(inbound.body)))
            if not rule:
                continue
            partner = inbound.partner_id
            if rule.action == "tag":
                partner.sudo().sms_tag_ids = [(4, rule.tag_id.id)]
            elif rule.action == "untag":
                partner.sudo().sms_tag_ids = [(3, rule.tag_id.id)]
            elif rule.action == "enroll" and rule.automation_id.state != "stopped":
                rule.automation_id.sudo()._enroll_partners(partner.ids, f"k{inbound.id}")
            elif rule.action == "confirm" and partner.sms_consent_state == "pending":
                partner._sms_consent_set(
                    "confirm",
                    "keyword",
                    evidence=self.env._(
                        'Replied "%(text)s" from %(number)s',
                        text=inbound.body,
                        number=inbound.sender,
                    ),
                )
            inbound.keyword_id = rule
            if rule.reply_body:
                answers[inbound] = rule.reply_body
        return answers
