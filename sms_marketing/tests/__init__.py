from . import (
    test_campaign,
    test_consent,
    test_dispatch,
    test_dispatch_http,
    test_i18n,
    test_import,
    test_partner_number,
    test_security,
    test_settings,
    test_sms_sms,
    test_ui,
    test_webhook,
)
