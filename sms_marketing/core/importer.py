"""Contact files for import: read, validate, de-duplicate, and report what was refused.

Everything here works on plain values, so the whole pipeline short of the database is tested
without Odoo. The Odoo wizard (``wizards/sms_marketing_import.py``) matches the accepted rows
to existing contacts, writes them, and turns the machine-readable reasons below into
translated text.

Reading:
* CSV in UTF-8 (with or without BOM) or GB18030 (what Excel saves on a Chinese Windows), the
  delimiter sniffed among ``, ; TAB |``; or XLSX (first sheet).
* Header names in English or Chinese, matched loosely (case, spaces, ``_``/``-`` ignored).
  Only a phone column is mandatory.

Validation: every row becomes either a :class:`Row` or a :class:`Rejection` with a reason code
(``REASON_*``) and parameters; nothing is dropped. Rows that share a number or an email are
resolved by :func:`resolve_duplicates`: exact repeats are merged into the first one, rows
that disagree are all rejected (we cannot know which one is right).

The rejected rows are written back by :func:`rejected_csv` with a reason column, escaped
against spreadsheet formula injection (OWASP: cells starting with ``= + - @`` TAB or CR are
prefixed with a quote).
"""

import codecs
import contextlib
import csv
import datetime
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

import openpyxl

from . import phone as core_phone

# --- reasons (the Odoo layer translates them) ---------------------------------------------
REASON_NO_NUMBER = "no_number"
REASON_INVALID_NUMBER = "invalid_number"
REASON_INVALID_EMAIL = "invalid_email"
REASON_UNKNOWN_CONSENT = "unknown_consent"
REASON_INVALID_DATE = "invalid_date"
REASON_FUTURE_DATE = "future_date"
REASON_CONFLICT = "conflict"
REASON_AMBIGUOUS_MATCH = "ambiguous_match"
REASON_SAME_CONTACT = "same_contact"

# --- file errors ---------------------------------------------------------------------------
ERROR_TOO_LARGE = "too_large"
ERROR_TOO_MANY_ROWS = "too_many_rows"
ERROR_EMPTY = "empty"
ERROR_ENCODING = "encoding"
ERROR_MALFORMED = "malformed"
ERROR_NO_PHONE_COLUMN = "no_phone_column"
ERROR_DUPLICATE_COLUMN = "duplicate_column"

CONSENT_OPT_IN = "opt_in"
CONSENT_OPT_OUT = "opt_out"
CONSENT_PENDING = "request"

FIELDS = ("name", "phone", "email", "tags", "consent", "consent_source", "consent_date")

_HEADER_ALIASES = {
    "name": [
        "name", "full name", "contact", "contact name", "customer", "customer name",
        "姓名", "名称", "名字", "客户", "客户名称", "联系人", "联系人姓名",
    ],
    "phone": [
        "phone", "mobile", "mobile phone", "mobile number", "phone number", "cell", "cellphone",
        "telephone", "tel", "number", "msisdn",
        "手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "移动电话", "号码",
    ],
    "email": ["email", "e-mail", "email address", "mail", "邮箱", "电子邮件", "电子邮箱", "邮件"],
    "tags": ["tags", "tag", "labels", "label", "segment", "标签", "分组", "客户标签"],
    "consent": [
        "consent", "sms consent", "opt in", "optin", "subscribed", "subscription", "status",
        "同意", "短信同意", "营销同意", "订阅", "订阅状态", "同意状态",
    ],
    "consent_source": [
        "consent source", "source", "opt in source", "来源", "同意来源", "渠道", "订阅来源",
    ],
    "consent_date": [
        "consent date", "opt in date", "date", "subscribed on", "同意日期", "同意时间",
        "订阅日期", "订阅时间", "日期",
    ],
}  # fmt: skip

_CONSENT_VALUES = {
    CONSENT_OPT_IN: [
        "opt in", "opt_in", "opted in", "opted_in", "optin", "in", "yes", "y", "true", "1",
        "subscribed", "subscribe", "granted", "是", "同意", "已同意", "订阅", "已订阅",
    ],
    CONSENT_OPT_OUT: [
        "opt out", "opt_out", "opted out", "opted_out", "optout", "out", "no", "n", "false",
        "0", "unsubscribed", "unsubscribe", "withdrawn", "refused", "stop",
        "否", "拒绝", "不同意", "退订", "已退订", "取消",
    ],
    CONSENT_PENDING: ["pending", "pending confirmation", "待确认", "待定"],
    None: ["", "unknown", "none", "未知", "无"],
}  # fmt: skip

_TAG_SPLIT = re.compile(r"[,;，；、|]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_DATE_PATTERNS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
)


def _key(text):
    """Loose key for headers and consent values: case, width, spaces, ``_`` and ``-`` ignored."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", str(text)).casefold())


_HEADERS = {_key(alias): name for name, aliases in _HEADER_ALIASES.items() for alias in aliases}
_CONSENTS = {_key(value): code for code, values in _CONSENT_VALUES.items() for value in values}


class Cells(list):
    """The cells of one data row, with ``line``: its 1-based line (spreadsheet row) in the
    file, counting the header and any blank lines, so reports point at the right place."""

    line = None


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; ``code`` is an ``ERROR_*`` constant."""

    def __init__(self, code, **params):
        super().__init__(f"{code}: {params}")
        self.code = code
        self.params = params


@dataclass
class Row:
    """One valid row, normalised. ``line`` is the 1-based line in the file (header = 1)."""

    line: int
    cells: list
    e164: str
    number_type: str
    name: str = ""
    email: str = ""
    tags: tuple = ()
    consent: str | None = None
    consent_source: str = ""
    consent_date: datetime.datetime | None = None

    def signature(self):
        """What must be equal for two rows to be the same contact (duplicates merge)."""
        return (
            self.e164,
            self.name.casefold(),
            self.email,
            frozenset(tag.casefold() for tag in self.tags),
            self.consent,
            self.consent_source,
            self.consent_date,
        )


@dataclass
class Rejection:
    """A row that is not imported, with a machine-readable reason and its parameters."""

    line: int
    cells: list
    code: str
    params: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------


def read_table(data, filename="", max_bytes=50 * 1024 * 1024, max_rows=1_000_000):
    """Read a CSV or XLSX file into a header and data rows of strings (or datetimes).

    :param bytes data: the file content
    :param str filename: used only to tell XLSX from CSV when the content is ambiguous
    :param int max_bytes: larger files are refused before anything is parsed
    :param int max_rows: most non-blank data rows accepted
    :return: ``(headers, rows)``: the header cells, and one :class:`Cells` per non-blank data
        row, padded or cut to the header width, carrying its line in the file
    :raise ImportFileError: too large, too many rows, empty, unreadable encoding or structure
    """
    if len(data) > max_bytes:
        raise ImportFileError(ERROR_TOO_LARGE, size=len(data), limit=max_bytes)
    if not data.strip():
        raise ImportFileError(ERROR_EMPTY)
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        records = _read_xlsx(data)
    else:
        records = _read_csv(data)
    headers, rows = None, []
    for line, record in records:
        if not any(str(cell).strip() for cell in record if cell is not None):
            continue  # blank lines are neither data nor errors; their line numbers still count
        if headers is None:
            headers = [str(cell or "").strip() for cell in record]
            continue
        if len(rows) >= max_rows:
            raise ImportFileError(ERROR_TOO_MANY_ROWS, limit=max_rows)
        width = len(headers)
        cells = Cells(("" if cell is None else cell) for cell in record[:width])
        cells.extend([""] * (width - len(cells)))
        cells.line = line
        rows.append(cells)
    if not rows:
        raise ImportFileError(ERROR_EMPTY)
    return headers, rows


def _decode(data):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return codecs.decode(data, encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(ERROR_ENCODING)


def _read_csv(data):
    """Yield ``(record number, cells)``; a record is a spreadsheet row (a quoted value may
    span several physical lines)."""
    text = _decode(data)
    if "\x00" in text:
        raise ImportFileError(ERROR_MALFORMED, detail="NUL byte")
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise ImportFileError(ERROR_MALFORMED, detail=str(exc), line=reader.line_num) from exc


# What a damaged XLSX raises: not a zip, a missing member, or broken XML inside (lxml and
# ElementTree parse errors are SyntaxError subclasses).
_XLSX_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError, TypeError)


def _read_xlsx(data):
    """Yield ``(row number, cells)`` of the first sheet."""
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise ImportFileError(ERROR_MALFORMED, detail=str(exc)) from exc
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_xlsx_cell(value) for value in values]
    except _XLSX_ERRORS as exc:
        raise ImportFileError(ERROR_MALFORMED, detail=str(exc)) from exc
    finally:
        workbook.close()


def _xlsx_cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime | datetime.date):
        return value
    if isinstance(value, float) and value.is_integer():
        # Phone numbers typed into Excel become floats (1.38001380E10): keep the digits.
        return str(int(value))
    return str(value)


def map_headers(headers):
    """Map column indexes to field names.

    :param list headers: header cells as read
    :return: ``{index: field}`` for recognised columns (unknown columns are ignored, and kept
        in the rejected-rows file)
    :raise ImportFileError: no phone column, or two columns for the same field
    """
    mapping = {}
    for index, header in enumerate(headers):
        name = _HEADERS.get(_key(header))
        if not name:
            continue
        if name in mapping.values():
            raise ImportFileError(ERROR_DUPLICATE_COLUMN, column=header)
        mapping[index] = name
    if "phone" not in mapping.values():
        raise ImportFileError(ERROR_NO_PHONE_COLUMN, headers=headers)
    return mapping


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------


def parse_consent(value):
    """Return ``opt_in``, ``opt_out``, ``request`` or ``None`` (no change); raise KeyError."""
    return _CONSENTS[_key(value)]


def parse_date(value):
    """Parse a consent date (ISO and common Chinese forms; day-first/month-first refused)."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if len(text) == 10 and text[4] == "-":
        # the common ISO case, without trying every pattern
        with contextlib.suppress(ValueError):
            return datetime.datetime.fromisoformat(text)
    for pattern in _DATE_PATTERNS:
        try:
            return datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(text)


def parse_rows(headers, rows, default_region=None, now=None):
    """Validate every data row.

    :param list headers: header cells (only used through ``map_headers``)
    :param list rows: data rows as returned by :func:`read_table`
    :param str default_region: ISO country for numbers without international prefix
    :param datetime now: naive UTC "now" (dates after it are refused); defaults to utcnow
    :return: ``(rows, rejections)``: lists of :class:`Row` and :class:`Rejection`
    """
    mapping = map_headers(headers)
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    valid, rejected = [], []
    for offset, cells in enumerate(rows):
        line = getattr(cells, "line", None) or offset + 2
        values = {name: cells[index] for index, name in mapping.items()}
        text = {
            name: ("" if isinstance(value, datetime.date) else str(value).strip())
            for name, value in values.items()
        }

        def reject(code, line=line, cells=cells, **params):
            rejected.append(Rejection(line, cells, code, params))

        info = core_phone.normalize(text.get("phone", ""), default_region)
        if info is None:
            reject(REASON_NO_NUMBER)
            continue
        if not info.is_valid:
            reject(REASON_INVALID_NUMBER, value=text["phone"])
            continue
        email = text.get("email", "").lower()
        if email and not _EMAIL.match(email):
            reject(REASON_INVALID_EMAIL, value=text["email"])
            continue
        try:
            consent = parse_consent(text.get("consent", ""))
        except KeyError:
            reject(REASON_UNKNOWN_CONSENT, value=text["consent"])
            continue
        consent_date = None
        raw_date = values.get("consent_date")
        if isinstance(raw_date, str):
            raw_date = raw_date.strip()
        if raw_date not in (None, ""):
            try:
                consent_date = parse_date(raw_date)
            except ValueError:
                reject(REASON_INVALID_DATE, value=str(raw_date))
                continue
            if consent_date > now:
                reject(REASON_FUTURE_DATE, value=str(raw_date))
                continue
        tags = tuple(dict.fromkeys(tag.strip() for tag in _TAG_SPLIT.split(text.get("tags", ""))))
        valid.append(
            Row(
                line=line,
                cells=cells,
                e164=info.e164,
                number_type=info.number_type,
                name=" ".join(text.get("name", "").split()),
                email=email,
                tags=tuple(tag for tag in tags if tag),
                consent=consent,
                consent_source=text.get("consent_source", ""),
                consent_date=consent_date,
            )
        )
    return valid, rejected


def resolve_duplicates(rows):
    """Merge exact repeats and reject rows that disagree about the same number or email.

    Rows are grouped when they share a number or an email (transitively). In a group whose
    rows are all the same contact (:meth:`Row.signature`), the first row is kept and the
    others are reported as merged; otherwise every row of the group is rejected with
    ``REASON_CONFLICT`` and the lines of the others.

    :return: ``(kept, merged, rejections)`` where ``merged`` is a list of ``(row, kept_row)``
    """
    parent = list(range(len(rows)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by_key = {}
    for index, row in enumerate(rows):
        for key in (("n", row.e164), ("e", row.email) if row.email else None):
            if key is None:
                continue
            if key in first_by_key:
                parent[find(index)] = find(first_by_key[key])
            else:
                first_by_key[key] = index
    groups = {}
    for index in range(len(rows)):
        groups.setdefault(find(index), []).append(rows[index])
    kept, merged, rejections = [], [], []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            kept.append(first)
        elif all(row.signature() == first.signature() for row in group[1:]):
            kept.append(first)
            merged += [(row, first) for row in group[1:]]
        else:
            for row in group:
                others = [other.line for other in group if other is not row]
                rejections.append(
                    Rejection(row.line, row.cells, REASON_CONFLICT, {"lines": others})
                )
    kept.sort(key=lambda row: row.line)
    return kept, merged, rejections


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


def safe_cell(value):
    """Neutralise a value for spreadsheets: no formula can run when the CSV is opened."""
    if isinstance(value, datetime.date):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def rejected_csv(headers, rejections, describe, reason_header="Reason"):
    """Write rejected rows back as CSV (UTF-8 with BOM so Excel shows Chinese correctly).

    :param list headers: the file's original headers
    :param list rejections: :class:`Rejection` objects, written in file order
    :param callable describe: ``describe(rejection) -> str`` (the translated reason)
    :param str reason_header: header of the added column (translated by the caller)
    :return: bytes
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in [*headers, reason_header, "Line"]])
    for rejection in sorted(rejections, key=lambda r: r.line):
        writer.writerow(
            [safe_cell(cell) for cell in rejection.cells]
            + [safe_cell(describe(rejection)), rejection.line]
        )
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
