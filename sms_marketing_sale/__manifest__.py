{
    "name": "SMS Marketing: Sales",
    "summary": "Confirmed, paid and cancelled sale orders become SMS marketing events, "
    "so campaigns are credited with the revenue they bring",
    "version": "18.0.1.0.0",
    "category": "Marketing/SMS Marketing",
    "license": "LGPL-3",
    "author": "sms_marketing contributors",
    "website": "https://github.com/sms-marketing/sms_marketing",
    "depends": ["sms_marketing", "sale"],
    "auto_install": True,
    "installable": True,
}
