from . import sms_marketing_consent_wizard, sms_marketing_import
