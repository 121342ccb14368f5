from . import api, link, webhook
