"""Build the exact text of a campaign SMS from its template.

A marketer writes a body such as::

    {{ first_name }}, 30% off today: https://shop.example/sale

and every recipient gets::

    【Brand】Li, 30% off today: https://sms.example/r/Ab3/t/k2P9xQ_7mZc 回复TD退订

:class:`Composer` does it in three steps, all prepared once per campaign so that
composing a message is one template render and two string operations:

1. **Links.** Each URL of the body (``http://`` or ``https://``, up to the first
   whitespace or CJK punctuation, trailing ``.,;:!?)`` excluded) is replaced by
   its short link followed by ``/t/`` and the recipient's token. The token
   identifies the trace; it is random, so it cannot be guessed from another one.
2. **Signature.** Carriers in some countries (China) require the sender's
   signature, such as ``【Brand】``, at the start of every message; it is added
   unless the body already starts with it.
3. **Opt-out footer.** Marketing messages end with the footer in the
   recipient's language ("Reply STOP to opt out", "回复TD退订") unless the body
   already tells how to opt out (:func:`has_optout_notice`).

:func:`first_name` derives the ``first_name`` placeholder from a full name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import template as core_template

__all__ = [
    "TOKEN_LENGTH",
    "TOKEN_MARK",
    "Composer",
    "find_urls",
    "first_name",
    "has_optout_notice",
]

#: Length of the per-recipient link token (``secrets.token_urlsafe(8)``: 64 random bits).
TOKEN_LENGTH = 11

_URL_RE = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_OPTOUT_RE = re.compile(
    r"\b(?:stop|unsubscribe|opt[ -]?out)\b|退订|拒收|回[复覆]?\s*[TtNnRr]\b", re.IGNORECASE
)
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uac00-\ud7af]")
# Marks where the recipient's link token goes; cannot be typed in an SMS body.
_TOKEN_MARK = TOKEN_MARK = "\x00"


def find_urls(text: str) -> list[str]:
    """URLs of ``text`` in order of appearance, without trailing punctuation, each once."""
    found = []
    for match in _URL_RE.finditer(text or ""):
        url = match.group(0).rstrip(_URL_TRAILING)
        if url not in found and len(url) > len("https://"):
            found.append(url)
    return found


def has_optout_notice(text: str, footer: str = "") -> bool:
    """Whether ``text`` already tells how to opt out (the footer itself, or a STOP / 退订
    style instruction)."""
    if footer and footer.strip().casefold() in (text or "").casefold():
        return True
    return bool(_OPTOUT_RE.search(text or ""))


def first_name(name: str | None) -> str:
    """First word of a Western name; the whole name when it is written in CJK characters
    (Chinese, Japanese and Korean names are not split on spaces and put the family name
    first, so there is no "first name" to cut out)."""
    name = (name or "").strip()
    if not name or _CJK_RE.search(name):
        return name
    return name.split()[0]


class Composer:
    """Turns a campaign template into each recipient's final text.

    :param body: the template source (placeholders as in :mod:`.template`)
    :param short_links: ``{url: short_url}`` for tracked links (empty: links stay as
        written)
    :param signature: text put first (``【Brand】``), or ``""``
    :param footers: ``{lang: footer}`` for marketing messages; ``None`` or empty disables
        the footer. ``default_lang`` is used for recipients whose language has no footer.
    :param token_fields: placeholders whose value carries :data:`TOKEN_MARK` (a
        per-recipient tracked link, such as the cart link): a body using one gets a token
    :raises template.TemplateError: on a malformed template
    """

    def __init__(
        self,
        body: str,
        *,
        short_links: Mapping[str, str] | None = None,
        signature: str = "",
        footers: Mapping[str, str] | None = None,
        default_lang: str = "en_US",
        token_fields: frozenset[str] = frozenset(),
    ):
        source = body or ""
        self.links = find_urls(source)
        has_short_links = bool(short_links) and bool(self.links)
        if has_short_links:
            # longest first: a URL that prefixes another must not eat its tail
            for url in sorted(self.links, key=len, reverse=True):
                if url in short_links:
                    source = source.replace(url, f"{short_links[url]}/t/{_TOKEN_MARK}")
        signature = (signature or "").strip()
        if signature and not source.lstrip().startswith(signature):
            source = signature + source
        self.template = core_template.Template(source)
        self.has_links = has_short_links or bool(self.template.fields & token_fields)
        footers = footers or {}
        self._footers = {
            lang: ("" if has_optout_notice(body, footer) else " " + footer.strip())
            for lang, footer in footers.items()
            if footer and footer.strip()
        }
        self._default_footer = self._footers.get(default_lang) or next(
            iter(self._footers.values()), ""
        )

    @property
    def fields(self) -> frozenset[str]:
        """Placeholder names the template uses."""
        return self.template.fields

    def footer(self, lang: str | None) -> str:
        """The text appended for a recipient in ``lang`` (with its leading space)."""
        if not lang:
            return self._default_footer
        found = self._footers.get(lang)
        if found is None:
            base = lang.split("_")[0]
            found = next(
                (text for code, text in self._footers.items() if code.split("_")[0] == base),
                self._default_footer,
            )
            self._footers[lang] = found
        return found

    def compose(
        self, values: Mapping[str, object], lang: str | None = None, token: str = ""
    ) -> str:
        """The final text for one recipient.

        :param values: placeholder values (every name of :attr:`fields`)
        :param lang: recipient language code, for the footer
        :param token: the recipient's link token (required when the body has tracked links)
        """
        text = self.template.render(values) + self.footer(lang)
        if self.has_links:
            text = text.replace(_TOKEN_MARK, token)
        return text
