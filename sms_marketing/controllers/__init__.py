from . import link, webhook
