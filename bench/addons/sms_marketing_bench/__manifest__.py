{
    "name": "SMS Marketing benchmark helpers",
    "summary": "A no-op route to compare webhook ingestion with (benchmark databases only)",
    "version": "18.0.1.0.0",
    "license": "LGPL-3",
    "author": "sms_marketing contributors",
    "depends": ["sms_marketing"],
    "installable": True,
}
