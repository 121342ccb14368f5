from . import (
    test_consent,
    test_i18n,
    test_import,
    test_partner_number,
    test_security,
    test_settings,
    test_ui,
)
