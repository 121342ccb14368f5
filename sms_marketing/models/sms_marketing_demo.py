import random
from datetime import date, timedelta

from odoo import api, fields, models

from ..core import phone as core_phone

_CN_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
    "许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
_CN_GIVEN = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "晓明", "雪", "婷", "欣怡", "子轩",
    "浩然", "梓涵", "一诺", "宇航", "佳怡", "思远", "雨桐",
]  # fmt: skip
_US_FIRST = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Emily", "Daniel", "Olivia", "Ethan", "Sophia",
]  # fmt: skip
_US_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young",
]  # fmt: skip
_EU = {
    "FR": (["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Lucas", "Inès"],
           ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]),
    "DE": (["Lukas", "Anna", "Leon", "Mia", "Jonas", "Lena", "Felix", "Sophie", "Paul"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"]),
    "GB": (["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Freya", "Noah"],
           ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans"]),
    "ES": (["Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Leo", "Julia", "Pablo", "Paula"],
           ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez"]),
    "IT": (["Giulia", "Leonardo", "Sofia", "Francesco", "Aurora", "Alessandro", "Ginevra"],
           ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"]),
}  # fmt: skip
_MOBILE_PATTERNS = {
    "CN": ["+86 13{d}", "+86 15{d}", "+86 18{d}", "+86 17{d}", "+86 19{d}"],
    "US": ["+1 212 {x}", "+1 415 {x}", "+1 312 {x}", "+1 617 {x}", "+1 206 {x}"],
    "FR": ["+33 6 {e}", "+33 7 {e}"],
    "DE": ["+49 151 {e}", "+49 160 {e}", "+49 170 {e}"],
    "GB": ["+44 74 {e}", "+44 78 {e}"],
    "ES": ["+34 6{e}"],
    "IT": ["+39 34{e}", "+39 33{e}"],
}
_LANDLINE_PATTERNS = {
    "CN": ["010 6{l}", "021 5{l}"],
    "US": [],
    "FR": ["+33 1 {e}"],
    "DE": ["+49 30 {e}"],
    "GB": ["+44 20 7{l}"],
    "ES": ["+34 91{l}"],
    "IT": ["+39 06 {e}"],
}
_INVALID_NUMBERS = ["12345", "138 0013", "+1 555", "call me", "000000", "+86 1234", "n/a"]
_TAGS = [
    "VIP", "Newsletter", "Shanghai Store", "Beijing Store", "Online Shop", "Wholesale",
    "New York Store", "Berlin Store", "Loyalty Club",
]  # fmt: skip


class SmsMarketingDemo(models.AbstractModel):
    """Demo data generator: 200 contacts with realistic numbers and a consent history.

    Called once from ``demo/sms_marketing_demo.xml``. Seeded, so every demo database looks
    the same; consent goes through :meth:`res.partner._sms_consent_apply` like real changes.
    """

    _name = "sms.marketing.demo"
    _description = "SMS Marketing Demo Data"

    @api.model
    def _populate(self, count=200, seed=18):
        rng = random.Random(seed)
        Partner = self.env["res.partner"].with_context(tracking_disable=True)
        tags = self.env["sms.marketing.tag"].create(
            [{"name": name, "color": i % 11 + 1} for i, name in enumerate(_TAGS)]
        )
        countries = {
            country.code: country
            for country in self.env["res.country"].search([("code", "in", ["CN", "US", *_EU])])
        }
        vals_list = []
        for index in range(count):
            region = rng.choices(["CN", "US", "EU"], weights=[40, 30, 30])[0]
            if region == "EU":
                region = rng.choice(list(_EU))
            kind = rng.choices(["mobile", "landline", "invalid"], weights=[86, 8, 6])[0]
            if kind == "landline" and not _LANDLINE_PATTERNS[region]:
                kind = "mobile"
            vals = {
                "name": self._demo_name(rng, region),
                "country_id": countries[region].id if rng.random() < 0.7 else False,
                "sms_tag_ids": [
                    fields.Command.set(rng.sample(tags.ids, k=rng.choice([0, 1, 1, 2, 3])))
                ],
            }
            number = self._demo_number(rng, region, kind)
            # Some people give their mobile in the "Phone" field.
            vals["phone" if kind == "landline" or rng.random() < 0.15 else "mobile"] = number
            if rng.random() < 0.6:
                vals["email"] = f"demo.contact{index + 1}@example.com"
            if rng.random() < 0.5:
                vals["sms_birthday"] = date(1960, 1, 1) + timedelta(days=rng.randrange(17000))
            vals_list.append(vals)
        partners = Partner.create(vals_list)
        self._demo_consent(rng, partners)
        return partners

    @api.model
    def _demo_name(self, rng, region):
        if region == "CN":
            return rng.choice(_CN_SURNAMES) + rng.choice(_CN_GIVEN)
        first, last = (_US_FIRST, _US_LAST) if region == "US" else _EU[region]
        return f"{rng.choice(first)} {rng.choice(last)}"

    @api.model
    def _demo_number(self, rng, region, kind):
        if kind == "invalid":
            return rng.choice(_INVALID_NUMBERS)
        patterns = _MOBILE_PATTERNS[region] if kind == "mobile" else _LANDLINE_PATTERNS[region]
        for _attempt in range(100):
            number = rng.choice(patterns).format(
                d=f"{rng.randrange(10**9):09d}",
                x=f"{rng.randrange(200, 999)} {rng.randrange(10000):04d}",
                e=f"{rng.randrange(10**8):08d}",
                l=f"{rng.randrange(10**7):07d}",
            )
            info = core_phone.normalize(number, region)
            if info and info.is_valid:
                return number
        raise ValueError(f"no valid demo number for {region} {kind}")

    @api.model
    def _demo_consent(self, rng, partners):
        now = fields.Datetime.now()
        entries = []
        for partner in partners:
            roll = rng.random()
            start = now - timedelta(days=rng.randrange(30, 700), minutes=rng.randrange(1440))
            if roll < 0.55:
                source = rng.choice(["form", "import", "order", "manual"])
                entries.append(self._demo_entry(partner, "opt_in", source, start))
            elif roll < 0.65:
                entries.append(self._demo_entry(partner, "request", "double_opt_in", start))
            elif roll < 0.75:
                entries.append(self._demo_entry(partner, "opt_in", "form", start))
                stop = start + timedelta(days=rng.randrange(1, 25))
                entries.append(self._demo_entry(partner, "opt_out", "keyword", stop))
            elif roll < 0.78:
                entries.append(self._demo_entry(partner, "opt_out", "manual", start))
        self.env["res.partner"]._sms_consent_apply(entries, log_blacklist=False)

    @api.model
    def _demo_entry(self, partner, action, source, when):
        evidence = {
            "form": "Signed up on the website newsletter form (IP 203.0.113.7)",
            "import": "Imported from loyalty_members_2024.csv",
            "order": "Ticked 'Send me offers by SMS' at checkout",
            "manual": "Asked in store to receive offers by SMS",
            "double_opt_in": "Sent: Reply Y to confirm SMS offers",
            "keyword": "Inbound SMS: TD",
        }[source]
        if action == "opt_out" and source == "manual":
            evidence = "Asked by phone not to receive SMS anymore"
        return {
            "partner": partner,
            "action": action,
            "source": source,
            "evidence": evidence,
            "consent_date": when,
        }

    @api.model
    def _populate_traffic(self, limit=60):
        """Queue a first SMS to opted-in demo contacts: once the server runs, the dispatcher
        sends them through the simulator, whose reports and replies then show delivered,
        failed and replied messages (and a few opt-outs) on the contacts."""
        partners = self.env["res.partner"].search(
            [
                ("sms_consent_state", "=", "opted_in"),
                ("sms_number_type", "in", ["mobile", "fixed_or_mobile"]),
            ],
            limit=limit,
            order="id",
        )
        texts = {
            "+86": "【演示商店】周末特惠：全场8折，欢迎光临！",
            "other": "Demo Store: 20% off everything this weekend. See you soon!",
        }
        return self.env["sms.marketing.trace"].create(
            [
                {
                    "partner_id": partner.id,
                    "number": partner.sms_e164,
                    "country_code": partner.sms_number_country_id.code,
                    "body": texts["+86" if partner.sms_e164.startswith("+86") else "other"],
                    "origin": "demo",
                }
                for partner in partners
            ]
        )

    @api.model
    def _populate_campaigns(self):
        """Segments and campaigns of the demo: one campaign launched at install (prepared
        and sent by the crons once the server runs, with a tracked link), one A/B test in
        draft, ready to send."""
        Segment = self.env["sms.marketing.segment"]
        vip = self.env["sms.marketing.tag"].search([("name", "=", "VIP")], limit=1)
        everyone = Segment.create(
            {
                "name": "Everyone with a mobile number",
                "domain": "[('sms_number_type', 'in', ['mobile', 'fixed_or_mobile'])]",
            }
        )
        china = Segment.create(
            {"name": "Contacts in China", "country_ids": [(6, 0, self.env.ref("base.cn").ids)]}
        )
        vips = Segment.create({"name": "VIP customers", "tag_ids": [(6, 0, vip.ids)]})
        Campaign = self.env["sms.marketing.campaign"]
        weekend = Campaign.create(
            {
                "name": "Weekend sale",
                "body": "{{ first_name }}, 20% off everything this weekend: "
                "https://demo.example.com/sale",
                "segment_ids": [(6, 0, everyone.ids)],
                "exclude_segment_ids": [(6, 0, china.ids)],
            }
        )
        Campaign.create(
            {
                "name": "VIP preview night (A/B)",
                "segment_ids": [(6, 0, (vips | china).ids)],
                "ab_testing": True,
                "ab_test_percent": 30,
                "ab_test_hours": 2,
                "variant_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "A",
                            "body": "{{ first_name }}, VIP night Friday 7pm.",
                            "share": 50,
                        },
                    ),
                    (
                        0,
                        0,
                        {
                            "name": "B",
                            "body": "{{ first_name }}: you're invited! VIP night Fri 7pm.",
                            "share": 50,
                        },
                    ),
                ],
            }
        )
        weekend.action_launch()
