"""Gateway clients, one module per provider, all registered in :data:`base.REGISTRY`.

Use :func:`create_client` (the one dispatch point) rather than importing a provider module:
``create_client("twilio", settings, session)``. Importing this package imports every
provider module, which registers it.
"""

from . import base
from .base import (
    AMBIGUOUS,
    PERMANENT,
    RETRYABLE,
    GatewayClient,
    GatewayConfigError,
    GatewayError,
    InboundSms,
    OutboundSms,
    SendResult,
    SignatureError,
    StatusReport,
    WebhookRequest,
    WebhookResponse,
    get_client_class,
)


def create_client(code, settings, session=None, timeout=10.0):
    """Instantiate the client of provider ``code``; see :class:`base.GatewayClient`."""
    return get_client_class(code)(settings, session=session, timeout=timeout)


def providers():
    """Registered provider codes, sorted."""
    return sorted(base.REGISTRY)


# Provider modules register themselves on import; keep this list in sync with the folder.
from . import aliyun, http, simulator, smpp, tencent, twilio, vonage  # noqa: E402

__all__ = [
    "AMBIGUOUS",
    "PERMANENT",
    "RETRYABLE",
    "GatewayClient",
    "GatewayConfigError",
    "GatewayError",
    "InboundSms",
    "OutboundSms",
    "SendResult",
    "SignatureError",
    "StatusReport",
    "WebhookRequest",
    "WebhookResponse",
    "create_client",
    "get_client_class",
    "providers",
]
