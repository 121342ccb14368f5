{
    "name": "SMS Marketing: eCommerce",
    "summary": "Abandoned website carts and product pages viewed by known visitors become "
    "SMS marketing events",
    "version": "18.0.1.0.0",
    "category": "Marketing/SMS Marketing",
    "license": "LGPL-3",
    "author": "sms_marketing contributors",
    "website": "https://github.com/sms-marketing/sms_marketing",
    "depends": ["sms_marketing_sale", "website_sale"],
    "data": ["data/sms_marketing_website_sale_cron.xml"],
    "auto_install": True,
    "installable": True,
}
