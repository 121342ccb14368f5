from . import (
    sms_marketing_automation_enroll,
    sms_marketing_automation_gallery,
    sms_marketing_campaign_test,
    sms_marketing_consent_wizard,
    sms_marketing_import,
    sms_marketing_segment_export,
)
