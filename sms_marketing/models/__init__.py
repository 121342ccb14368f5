from . import (
    res_company,
    res_config_settings,
    res_partner,
    sms_marketing_consent,
    sms_marketing_demo,
    sms_marketing_locale,
    sms_marketing_tag,
)
