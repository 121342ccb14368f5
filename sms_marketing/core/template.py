"""SMS body personalisation without ``eval``.

A template is plain text with placeholders::

    Hi {{ name }}, your code is {{ code | default("none") }}.

Rules
-----
* A placeholder is ``{{ field }}`` or ``{{ field | default("text") }}``.
  Whitespace (any Unicode whitespace, so an ideographic space typed by a
  Chinese IME is fine) is optional around every token inside the braces.
* ``field`` is an ASCII identifier ``[a-z_][a-z0-9_]*``. Letters match
  case-insensitively and the key looked up is always lowercase, so
  ``{{ Name }}`` reads ``values["name"]``. Names starting with ``__`` are
  rejected so nothing resembling Python internals can appear.
* There are no dots, no indexing, no expressions and no filter other than
  ``default``. Nothing is ever evaluated or passed to ``str.format``.
* The default is a quoted string, ``"..."`` or ``'...'``. It may contain
  any character (commas, braces, Chinese text, the other quote) except an
  unescaped closing quote; ``\\"`` / ``\\'`` produce the quote and ``\\\\``
  a backslash. Any other backslash is kept as written.
* A single ``{`` or ``}`` is literal text. Every ``{{`` must start a valid
  placeholder and every ``}}`` outside a placeholder is an error: both are
  almost always a marketer's typo (``{name}}``, ``{{ name }``) and must be
  caught before a campaign is sent, not after.

Rendering
---------
* Values are converted with ``str()``; the text is not escaped (SMS is
  plain text).
* ``None``, ``False`` and values whose ``str()`` is empty render the
  default, or ``""`` without one. ``0`` renders ``"0"``.
* A field missing from ``values`` raises :class:`UnknownPlaceholderError`:
  a field that was never provided must not silently vanish from a message.
  Call :meth:`Template.check` once before rendering many bodies.
* Values are inserted literally; braces inside a value are never
  re-interpreted.

Errors carry machine-readable data (``code``, ``position``, ``detail``,
``reason``, ``names``); their messages are English developer text and the
Odoo layer builds the user-facing message from the attributes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

__all__ = [
    "Placeholder",
    "Template",
    "TemplateError",
    "TemplateSyntaxError",
    "UnknownPlaceholderError",
    "render",
]


class TemplateError(ValueError):
    """Base class of template errors.

    Attributes:
        code: machine-readable error kind (``"syntax"``, ``"unknown"``).
        position: 0-based index in the template source the error refers
            to, or ``None`` when it has no single location.
        detail: the offending source excerpt (syntax errors) or the
            comma-separated unknown names, for display next to the message.
    """

    code = "template"

    def __init__(self, message: str, *, position: int | None = None, detail: str = ""):
        super().__init__(message)
        self.position = position
        self.detail = detail


class TemplateSyntaxError(TemplateError):
    """A ``{{`` that does not form a valid placeholder, or a stray ``}}``.

    ``reason`` refines the error for the UI: ``"unclosed"``, ``"empty"``,
    ``"invalid_name"``, ``"unknown_filter"``, ``"invalid_default"``,
    ``"stray_close"`` or ``"invalid"`` (none of the above recognised).
    """

    code = "syntax"

    def __init__(self, message: str, *, reason: str, position: int, detail: str = ""):
        super().__init__(message, position=position, detail=detail)
        self.reason = reason


class UnknownPlaceholderError(TemplateError):
    """Placeholders whose field is not allowed / not provided.

    ``names`` lists every unknown field once, in order of first use, so a
    marketer fixes all of them in one go. ``position`` is where the first
    one appears.
    """

    code = "unknown"

    def __init__(self, names: Iterable[str], *, position: int | None = None):
        self.names = tuple(names)
        joined = ", ".join(self.names)
        super().__init__(f"unknown placeholder(s): {joined}", position=position, detail=joined)


@dataclass(frozen=True)
class Placeholder:
    """One ``{{ ... }}`` occurrence: ``source[start:end]`` is its text."""

    name: str
    default: str | None
    start: int
    end: int


# Explicit ASCII classes rather than IGNORECASE: with Unicode case folding
# ``[a-z]`` would also accept the Kelvin sign and the long s. ``\s`` stays
# Unicode-aware on purpose (ideographic space, no-break space).
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER_RE = re.compile(
    r"""
    \{\{ \s*
    (?P<name> """
    + _NAME
    + r""" ) \s*
    (?: \| \s* (?i:default) \s* \( \s*
        (?: "(?P<dq> (?: [^"\\] | \\. )* )"
          | '(?P<sq> (?: [^'\\] | \\. )* )'
        )
        \s* \) \s*
    )?
    \}\}
    """,
    re.VERBOSE | re.DOTALL,
)
_OPEN_OR_CLOSE_RE = re.compile(r"\{\{|\}\}")
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
# Used only to explain a failed match; the grammar itself is _PLACEHOLDER_RE.
_BARE_NAME_RE = re.compile(_NAME)
_DEFAULT_FILTER_RE = re.compile(r"(?i:default)(?![A-Za-z0-9_])")
_QUOTED_RE = re.compile(r""" "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*' """, re.VERBOSE | re.DOTALL)
_EXCERPT_MAX = 40


def _unescape(text: str, quote: str) -> str:
    # Only the closing quote and the backslash itself are escapable, so
    # Windows paths or a lone "\n" typed by a marketer survive unchanged.
    return _ESCAPE_RE.sub(lambda m: m[1] if m[1] in (quote, "\\") else m[0], text)


def _diagnose(source: str, pos: int) -> TemplateSyntaxError:
    """Build the error for a ``{{`` at ``pos`` that failed the grammar."""
    close = source.find("}}", pos + 2)
    reopen = source.find("{{", pos + 2)
    if close < 0 or 0 <= reopen < close:
        excerpt = source[pos : pos + _EXCERPT_MAX]
        return TemplateSyntaxError(
            f"unclosed placeholder at {pos}", reason="unclosed", position=pos, detail=excerpt
        )
    excerpt = source[pos : close + 2]
    inner = source[pos + 2 : close].strip()
    name, bar, rest = inner.partition("|")
    name, rest = name.strip(), rest.strip()
    if not inner:
        reason = "empty"
    elif not _BARE_NAME_RE.fullmatch(name) or name.startswith("__"):
        reason = "invalid_name"
    elif bar and (not _DEFAULT_FILTER_RE.match(rest) or "|" in _QUOTED_RE.sub("", rest)):
        # Anything but a single default filter, e.g. "upper" or a chain.
        reason = "unknown_filter"
    elif bar:
        # default(...) whose argument is not exactly one quoted string.
        reason = "invalid_default"
    else:
        reason = "invalid"
    return TemplateSyntaxError(
        f"invalid placeholder at {pos} ({reason}): {excerpt!r}",
        reason=reason,
        position=pos,
        detail=excerpt,
    )


class Template:
    """A parsed SMS template; parse once, render many times.

    ``Template(source)`` raises :class:`TemplateSyntaxError` on the first
    malformed placeholder (``position`` is the index of its ``{{``, or of a
    stray ``}}``).

    Attributes:
        source: the template text as given.
        placeholders: every placeholder in source order.
        fields: the set of lowercase field names used.
    """

    __slots__ = ("_ops", "_tail", "fields", "placeholders", "source")

    def __init__(self, source: str):
        if not isinstance(source, str):
            raise TypeError(f"template source must be str, not {type(source).__name__}")
        self.source = source
        placeholders: list[Placeholder] = []
        # (literal text before the placeholder, key, fallback) triples plus a
        # trailing literal: rendering is then one tight loop with no parsing.
        ops: list[tuple[str, str, str]] = []
        literal_start = 0
        scan = 0
        while True:
            found = _OPEN_OR_CLOSE_RE.search(source, scan)
            if found is None:
                break
            pos = found.start()
            if found[0] == "}}":
                raise TemplateSyntaxError(
                    f"'}}}}' without a matching '{{{{' at {pos}",
                    reason="stray_close",
                    position=pos,
                    detail=source[max(0, pos - _EXCERPT_MAX + 2) : pos + 2],
                )
            match = _PLACEHOLDER_RE.match(source, pos)
            if match is None or match["name"].startswith("__"):
                raise _diagnose(source, pos)
            name = match["name"].lower()
            if match["dq"] is not None:
                default = _unescape(match["dq"], '"')
            elif match["sq"] is not None:
                default = _unescape(match["sq"], "'")
            else:
                default = None
            placeholders.append(Placeholder(name, default, pos, match.end()))
            ops.append((source[literal_start:pos], name, default or ""))
            literal_start = scan = match.end()
        self._ops = tuple(ops)
        self._tail = source[literal_start:]
        self.placeholders = tuple(placeholders)
        self.fields = frozenset(p.name for p in placeholders)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def _unknown(self, known) -> UnknownPlaceholderError | None:
        """Error listing every placeholder name not in ``known``, or None."""
        missing: dict[str, int] = {}
        for placeholder in self.placeholders:
            if placeholder.name not in known and placeholder.name not in missing:
                missing[placeholder.name] = placeholder.start
        if not missing:
            return None
        return UnknownPlaceholderError(missing, position=next(iter(missing.values())))

    def check(self, allowed: Iterable[str]) -> None:
        """Validate the used fields against ``allowed`` field names.

        Input: any iterable of names (compared exactly; template names are
        lowercase). Output: None. Raises :class:`UnknownPlaceholderError`
        listing *all* unknown names at once.
        """
        allowed = allowed if isinstance(allowed, AbstractSet) else frozenset(allowed)
        error = self._unknown(allowed)
        if error is not None:
            raise error

    def render(self, values: Mapping[str, object]) -> str:
        """Return the body with every placeholder replaced.

        Input: a mapping of lowercase field name to value (any object,
        converted with ``str()``). Output: the rendered text. ``None``,
        ``False`` and empty strings give the placeholder's default (or
        ``""``). Raises :class:`UnknownPlaceholderError` listing every field
        missing from ``values``.
        """
        parts: list[str] = []
        append = parts.append
        try:
            for literal, name, fallback in self._ops:
                append(literal)
                value = values[name]
                if value is None or value is False:
                    append(fallback)
                    continue
                text = value if value.__class__ is str else str(value)
                append(text or fallback)
        except KeyError:
            error = self._unknown(values)
            if error is None:  # the KeyError came from inside the mapping itself
                raise
            raise error from None
        append(self._tail)
        return "".join(parts)


def render(source: str, values: Mapping[str, object]) -> str:
    """Parse ``source`` and render it with ``values`` in one call.

    Convenience for one-off bodies; parse a :class:`Template` once when
    rendering many. Raises the same errors as :class:`Template`.
    """
    return Template(source).render(values)
