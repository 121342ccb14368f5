from . import controllers, models, wizards


def _post_init_hook(env):
    """Give every existing company its default compliance texts (new ones get them on create)."""
    env["res.company"].search([])._sms_marketing_ensure_locales()
