"""Generic HTTP/JSON gateway: any operator's API, described by settings instead of code.

Sending: the request body is ``message_template`` with placeholders filled in, or, when
``batch_size`` > 1, ``batch_template`` whose ``{{messages}}`` becomes a JSON array of filled
``message_template``\\ s. Placeholders are ``{{to}}`` (E.164), ``{{to_digits}}`` (the same
without ``+``), ``{{body}}``, ``{{sender}}`` and ``{{ref}}``; each value is escaped for the
body's content type (JSON string content without the quotes, ``application/x-www-form-
urlencoded`` encoding, XML entities) in a single pass, so a body that itself contains
``{{to}}`` is sent literally. With ``method`` GET the filled (form-encoded) template becomes
the URL's query string.

The answer is read with small paths (:func:`parse_path`): ``$``, ``$.a.b``, ``$.a[0].b``,
``a.b``, ``$['key with-dash']``; no expression is ever evaluated. ``result_path`` leads to the
list of per-message results (batch) or to the single result; inside a result, ``id_path``
gives the provider id, ``ref_path`` our ref (results are then matched by ref instead of
position), ``error_path`` a refusal (any non-empty value: PERMANENT ``rejected`` with that
text) and ``segments_path`` the segment count.

Webhooks are JSON. With ``webhook_secret`` set, the header ``signature_header`` (default
``X-Signature``) must hold the hex HMAC-SHA256 of the raw body keyed by the secret, optionally
prefixed ``sha256=`` (the GitHub/Stripe-style convention most operators copy); it is compared
in constant time. Status reports are read at ``status_items_path`` (a list or one object)
with ``status_id_path``, ``status_value_path``, ``status_ref_path`` and ``status_error_path``,
and ``status_map`` turns the operator's values into ``sent``/``delivered``/``undelivered``/
``failed`` (unmapped values are ignored). Inbound messages use ``inbound_items_path``,
``inbound_from_path``, ``inbound_text_path``, ``inbound_to_path`` and ``inbound_id_path``.
"""

import json
import re
from itertools import chain
from operator import attrgetter
from urllib.parse import quote_plus
from xml.sax.saxutils import escape as xml_escape

import requests

from .. import encoding
from .base import (
    AMBIGUOUS,
    ERR_REJECTED,
    ERR_UNKNOWN,
    PERMANENT,
    STATUS_RANK,
    GatewayClient,
    GatewayConfigError,
    InboundSms,
    SendResult,
    SignatureError,
    StatusReport,
    WebhookResponse,
    constant_time_equal,
    e164,
    hmac_hex,
    http_error_result,
    parse_retry_after,
    register,
    request_failure,
)

MESSAGE_FIELDS = ("to", "to_digits", "body", "sender", "ref")
DEFAULT_BATCH_TEMPLATE = '{"messages": {{messages}}}'
DEFAULT_MESSAGE_TEMPLATES = {
    "json": '{"to": "{{to}}", "from": "{{sender}}", "text": "{{body}}", "reference": "{{ref}}"}',
    "form": "to={{to}}&from={{sender}}&text={{body}}&reference={{ref}}",
}
METHODS = ("POST", "PUT", "PATCH", "GET")
PATH_SETTINGS = (
    "result_path",
    "id_path",
    "ref_path",
    "error_path",
    "segments_path",
    "status_items_path",
    "status_id_path",
    "status_value_path",
    "status_ref_path",
    "status_error_path",
    "inbound_items_path",
    "inbound_from_path",
    "inbound_text_path",
    "inbound_to_path",
    "inbound_id_path",
)

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PATH_STEP = re.compile(
    r"""\.(?P<key>[A-Za-z0-9_-]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<quote>['"])(?P<quoted>[^'"\]]*)(?P=quote)\]"""
)
_PHONE = re.compile(r"\+?[\d\s().-]+")


# -- paths ----------------------------------------------------------------------------------


def parse_path(path):
    """Steps of a JSONPath-lite ``path``: a tuple of keys (str) and indexes (int).

    Accepted: ``$`` (the whole document), ``$.a.b``, ``$.a[0].b``, ``$['odd key']``, and the
    same without the leading ``$`` (``a.b``, ``[0].id``). Raises ``ValueError`` otherwise.
    """
    text = str(path).strip()
    if not text:
        raise ValueError("empty path")
    if text.startswith("$"):
        rest = text[1:]
    elif text.startswith("["):
        rest = text
    else:
        rest = "." + text
    steps = []
    position = 0
    while position < len(rest):
        match = _PATH_STEP.match(rest, position)
        if not match:
            raise ValueError(f"unexpected {rest[position:]!r} in path {text!r}")
        if match.group("key") is not None:
            steps.append(match.group("key"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("quoted"))
        position = match.end()
    return tuple(steps)


def resolve(document, steps):
    """The value at ``steps`` (from :func:`parse_path`) in ``document``, ``None`` if absent."""
    if len(steps) == 1 and isinstance(document, dict) and isinstance(steps[0], str):
        return document.get(steps[0])  # the common "$.id": one lookup per message of a batch
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _as_items(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_empty(value):
    return value is None or value is False or value in ("", 0, [], {})


# -- escaping ---------------------------------------------------------------------------------


def _content_kind(content_type):
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    if mime == "application/x-www-form-urlencoded":
        return "form"
    if mime.endswith(("/xml", "+xml")):
        return "xml"
    return "text"


# Characters JSON strings must escape: values without any (most numbers, ids, many
# bodies) go in as they are, without a json.dumps call per value.
_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f\u2028\u2029]')


_SENDER = attrgetter("sender")


def _json_escape(value):
    if _JSON_SPECIAL.search(value) is None:
        return value
    return json.dumps(value, ensure_ascii=False)[1:-1]


_ESCAPES = {
    "json": _json_escape,
    "form": lambda value: quote_plus(value, safe=""),
    "xml": lambda value: xml_escape(value, {'"': "&quot;", "'": "&apos;"}),
    "text": lambda value: value,
}


def _format(literals, names, **constants):
    """The template (from :func:`_compile`) as a %-format taking one value per placeholder,
    except those in ``constants``, written in (already escaped)."""
    parts = [literals[0].replace("%", "%%")]
    for name, literal in zip(names, literals[1:], strict=True):
        parts.append(constants[name].replace("%", "%%") if name in constants else "%s")
        parts.append(literal.replace("%", "%%"))
    return "".join(parts)


def _render(template, values, escape):
    """Fill ``template`` in one pass: filled-in text is never scanned for placeholders."""
    return _PLACEHOLDER.sub(lambda match: escape(values[match.group(1)]), template)


def _compile(template):
    """Split ``template`` into literal text and placeholder names, once: rendering a batch of
    500 messages is then a join, not 500 regular-expression passes."""
    parts = _PLACEHOLDER.split(template)
    return parts[0::2], parts[1::2]


def _batch_size(value):
    """The ``batch_size`` setting as an int (1 when unset); raises ``ValueError``/
    ``TypeError`` when it is not a whole number."""
    if value in (None, ""):
        return 1
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _json_setting(value, field, expected_type):
    if value in (None, ""):
        return expected_type()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise GatewayConfigError(f"{field} is not valid JSON: {exc}", field=field) from None
    if not isinstance(value, expected_type):
        raise GatewayConfigError(f"{field} must be a JSON {expected_type.__name__}", field=field)
    return value


@register
class HttpClient(GatewayClient):
    """Any operator's HTTP API, described by settings (see the module docstring).

    Settings: ``url`` and ``id_path`` (required); ``method`` (POST), ``headers`` (dict or
    JSON text), ``content_type`` (``application/json``), ``sender``, ``message_template``,
    ``batch_size`` (1), ``batch_template``, ``result_path`` (``$``), ``ref_path``,
    ``error_path``, ``segments_path``; webhooks: ``webhook_secret``, ``signature_header``,
    ``status_*`` and ``inbound_*`` paths, ``status_map``.
    """

    code = "http"
    #: The largest ``batch_size`` accepted; :meth:`batch_limit` gives the configured one.
    max_batch = 1000
    required_settings = ("url", "id_path")

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        get = self.settings.get
        self.url = str(get("url"))
        if not self.url.startswith(("https://", "http://")):
            raise GatewayConfigError("url must be an http(s) URL", field="url")
        self.method = str(get("method") or "POST").upper()
        if self.method not in METHODS:
            raise GatewayConfigError(f"method must be one of {', '.join(METHODS)}", field="method")
        self.headers = {
            str(key): str(value)
            for key, value in _json_setting(get("headers"), "headers", dict).items()
        }
        self.content_type = str(get("content_type") or "application/json")
        self.kind = _content_kind(self.content_type)
        self.sender = get("sender") or ""
        self.paths = {}
        for name in PATH_SETTINGS:
            value = get(name)
            if name in ("result_path", "status_items_path", "inbound_items_path"):
                value = value or "$"
            if value:
                try:
                    self.paths[name] = parse_path(value)
                except ValueError as exc:
                    raise GatewayConfigError(f"{name}: {exc}", field=name) from None
        try:
            self.batch_size = _batch_size(get("batch_size"))
        except (TypeError, ValueError):
            raise GatewayConfigError(
                "batch_size must be a whole number", field="batch_size"
            ) from None
        if self.batch_size < 1:
            raise GatewayConfigError("batch_size must be at least 1", field="batch_size")
        if self.batch_size > self.max_batch:
            raise GatewayConfigError(
                f"batch_size must be at most {self.max_batch}", field="batch_size"
            )
        if self.batch_size > 1 and self.kind != "json":
            raise GatewayConfigError("batches need a JSON content_type", field="batch_size")
        if self.method == "GET" and self.kind != "form":
            raise GatewayConfigError(
                "GET sends the template as a query string: use the "
                "application/x-www-form-urlencoded content_type",
                field="content_type",
            )
        self.message_template = get("message_template") or DEFAULT_MESSAGE_TEMPLATES.get(self.kind)
        if not self.message_template:
            raise GatewayConfigError(
                f"message_template is required for {self.content_type}", field="message_template"
            )
        self._check_placeholders("message_template", self.message_template, MESSAGE_FIELDS)
        literals, names = _compile(self.message_template)
        # the template as a %-format and one getter per placeholder: a message is then one
        # format operation (a batch of 500 is 500 of them, not 500 dicts and joins)
        self._fill = _format(literals, names)
        self._getters = tuple(self._getter(name) for name in names)
        # The batch path: when no message of a batch has its own sender, the gateway's
        # is written into the format once, and the other placeholders are read by one
        # attrgetter per message (C code, no Python call per message and placeholder).
        self._batch_fill = self._batch_get = None
        fields = [name for name in names if name != "sender"]
        if fields and set(fields) <= {"to", "body", "ref"}:
            self._batch_fill = _format(literals, names, sender=_ESCAPES[self.kind](self.sender))
            getter = attrgetter(*fields)
            self._batch_get = getter if len(fields) > 1 else (lambda m: (getter(m),))
        self.batch_template = get("batch_template") or DEFAULT_BATCH_TEMPLATE
        if self.batch_size > 1:
            self._check_placeholders("batch_template", self.batch_template, ("messages",))
            if "messages" not in _PLACEHOLDER.findall(self.batch_template):
                raise GatewayConfigError(
                    "batch_template must contain {{messages}}", field="batch_template"
                )
        if self.kind == "json":
            self._check_json()
        self.webhook_secret = get("webhook_secret") or None
        self.signature_header = get("signature_header") or "X-Signature"
        self.status_map = {
            str(key): value
            for key, value in _json_setting(get("status_map"), "status_map", dict).items()
        }
        wrong = sorted(v for v in self.status_map.values() if v not in STATUS_RANK)
        if wrong:
            raise GatewayConfigError(
                f"status_map values must be among {', '.join(STATUS_RANK)}, not {wrong[0]!r}",
                field="status_map",
            )

    @classmethod
    def batch_limit(cls, settings):
        """Messages per request: the ``batch_size`` setting (1 when unset or unusable, at
        most :attr:`max_batch`)."""
        try:
            batch_size = _batch_size((settings or {}).get("batch_size"))
        except (TypeError, ValueError):
            return 1
        return max(1, min(batch_size, cls.max_batch))

    # -- settings checks --------------------------------------------------------------------

    @staticmethod
    def _check_placeholders(field, template, allowed):
        unknown = sorted(set(_PLACEHOLDER.findall(template)) - set(allowed))
        if unknown:
            raise GatewayConfigError(
                f"{field}: unknown placeholder {{{{{unknown[0]}}}}} "
                f"(use {', '.join('{{%s}}' % name for name in allowed)})",
                field=field,
            )

    def _check_json(self):
        """Fill the templates with awkward sample values: the result must parse as JSON."""
        sample = dict.fromkeys(MESSAGE_FIELDS, 'a "quoted"\\ line\n€')
        message = _render(self.message_template, sample, _ESCAPES["json"])
        try:
            json.loads(message)
        except ValueError as exc:
            raise GatewayConfigError(
                f"message_template does not give JSON once filled in: {exc}",
                field="message_template",
            ) from None
        if self.batch_size > 1:
            batch = _render(self.batch_template, {"messages": f"[{message}]"}, str)
            try:
                json.loads(batch)
            except ValueError as exc:
                raise GatewayConfigError(
                    f"batch_template does not give JSON once filled in: {exc}",
                    field="batch_template",
                ) from None

    # -- sending ----------------------------------------------------------------------------

    def _getter(self, name):
        """The value of placeholder ``name`` for a message."""
        if name == "sender":
            return lambda message: message.sender or self.sender
        if name == "to_digits":
            return lambda message: "".join(ch for ch in message.to if ch.isdigit())
        return attrgetter(name)  # to, body, ref

    def _body(self, chunk):
        escape = _ESCAPES[self.kind]
        if self._batch_fill and set(map(_SENDER, chunk)) <= {None, "", self.sender}:
            fill, values = self._batch_fill, list(map(self._batch_get, chunk))
            if self.kind == "json" and not _JSON_SPECIAL.search(
                "".join(chain.from_iterable(values))
            ):
                filled = list(map(fill.__mod__, values))  # nothing to escape in the batch
            else:
                filled = [fill % tuple(map(escape, value)) for value in values]
        else:
            fill, getters = self._fill, self._getters
            filled = [fill % tuple([escape(get(message)) for get in getters]) for message in chunk]
        if self.batch_size == 1:
            return filled[0]
        return _render(self.batch_template, {"messages": "[" + ",".join(filled) + "]"}, str)

    def send(self, messages):
        messages = list(messages)
        results = []
        for start in range(0, len(messages), self.batch_size):
            results.extend(self._send_chunk(messages[start : start + self.batch_size]))
        return results

    def _send_chunk(self, chunk):
        body = self._body(chunk)
        headers = {"Accept": "application/json"}
        url = self.url
        data = None
        if self.method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{body}"
        else:
            headers["Content-Type"] = self.content_type
            data = body.encode("utf-8")
        headers.update(self.headers)
        try:
            response = self.session.request(
                self.method, url, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            failure = request_failure(exc, self.timeout)
            return [SendResult.error(m, *failure) for m in chunk]
        if not 200 <= response.status_code < 300:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            text = response.text[:500] or response.reason
            return [http_error_result(m, response.status_code, text, retry_after) for m in chunk]
        try:
            payload = response.json()
        except ValueError:
            # Accepted or not, we cannot tell: resending could send twice.
            return [
                SendResult.error(m, AMBIGUOUS, ERR_UNKNOWN, "success answer is not JSON")
                for m in chunk
            ]
        return self._results(chunk, payload)

    def _results(self, chunk, payload):
        found = resolve(payload, self.paths["result_path"])
        if self.batch_size == 1 and isinstance(found, list):
            found = found[:1]
        items = _as_items(found)
        if "ref_path" in self.paths:
            by_ref = {}
            for item in items:
                ref = resolve(item, self.paths["ref_path"])
                if ref is not None:
                    by_ref.setdefault(str(ref), item)
            matched = [by_ref.get(message.ref) for message in chunk]
        else:
            matched = [items[i] if i < len(items) else None for i in range(len(chunk))]
        return [self._result(message, item) for message, item in zip(chunk, matched, strict=True)]

    def _result(self, message, item):
        if item is None:  # a 2xx that does not say: the operator may have taken it
            return SendResult.error(
                message, AMBIGUOUS, ERR_UNKNOWN, "no result for this message in the answer"
            )
        if "error_path" in self.paths:
            error = resolve(item, self.paths["error_path"])
            if not _is_empty(error):
                text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False)
                return SendResult.error(message, PERMANENT, ERR_REJECTED, text)
        provider_id = resolve(item, self.paths["id_path"])
        if _is_empty(provider_id) or isinstance(provider_id, (dict, list)):
            return SendResult.error(message, AMBIGUOUS, ERR_UNKNOWN, "no message id in the result")
        segments = None
        if "segments_path" in self.paths:
            try:
                segments = int(resolve(item, self.paths["segments_path"]))
            except (TypeError, ValueError):
                segments = None
        if not segments or segments < 1:
            segments = message.segments or encoding.analyze(message.body).segments
        return SendResult.ok(message, provider_id=str(provider_id), segments=segments)

    # -- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, request, kind):
        if not self.webhook_secret:
            return
        signature = (request.header(self.signature_header) or "").strip()
        if signature[:7].lower() == "sha256=":
            signature = signature[7:]
        if not signature:
            raise SignatureError(f"missing {self.signature_header} header")
        expected = hmac_hex(self.webhook_secret, request.body)
        if not constant_time_equal(expected, signature.lower()):
            raise SignatureError(f"{self.signature_header} does not match the body")

    def _require(self, *names):
        missing = [name for name in names if name not in self.paths]
        if missing:
            raise GatewayConfigError(f"setting {missing[0]} is required", field=missing[0])

    def _text(self, item, name):
        if name not in self.paths:
            return None
        value = resolve(item, self.paths[name])
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value)

    def parse_status(self, request):
        self._require("status_id_path", "status_value_path")
        if not self.status_map:
            raise GatewayConfigError("setting status_map is required", field="status_map")
        reports = []
        for item in _as_items(resolve(request.json(), self.paths["status_items_path"])):
            provider_id = self._text(item, "status_id_path")
            status = self.status_map.get(self._text(item, "status_value_path") or "")
            if not (provider_id and status):
                continue
            reports.append(
                StatusReport(
                    provider_id=provider_id,
                    status=status,
                    ref=self._text(item, "status_ref_path") or None,
                    error_code=self._text(item, "status_error_path") or None,
                )
            )
        return reports

    def parse_inbound(self, request):
        self._require("inbound_from_path", "inbound_text_path")
        messages = []
        for item in _as_items(resolve(request.json(), self.paths["inbound_items_path"])):
            sender = self._text(item, "inbound_from_path")
            if not sender:
                continue
            messages.append(
                InboundSms(
                    sender=e164(sender) if _PHONE.fullmatch(sender) else sender,
                    body=self._text(item, "inbound_text_path") or "",
                    to=self._text(item, "inbound_to_path") or None,
                    provider_id=self._text(item, "inbound_id_path") or None,
                )
            )
        return messages

    def webhook_response(self, kind):
        # Plain 200 "OK": the answer simple operator platforms check for before retrying.
        return WebhookResponse(200, "text/plain", b"OK")
