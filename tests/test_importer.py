"""Contact import pipeline: read the file, map headers, validate rows, resolve duplicates and
write the rejected rows back (sms_marketing.core.importer, no Odoo)."""

import codecs
import csv
import datetime
import io
import zipfile

import openpyxl
import pytest

from sms_marketing.core import importer
from sms_marketing.core.importer import ImportFileError, Rejection, Row

CN_MOBILE = "+8613800138000"
NOW = datetime.datetime(2024, 6, 1, 12, 0, 0)


# --- helpers ------------------------------------------------------------------------------


def xlsx(rows):
    """An in-memory workbook whose first sheet holds ``rows``."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite_zip(data, name, content):
    """Copy of the zip ``data`` with the member ``name`` replaced by ``content``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for member in source.namelist():
            target.writestr(member, content if member == name else source.read(member))
    return out.getvalue()


def read_error(data, **kwargs):
    with pytest.raises(ImportFileError) as info:
        importer.read_table(data, **kwargs)
    return info.value


def parse_one(headers, cells, now=NOW):
    """Parse one data row with default region CN; return ``(row or None, rejection or None)``."""
    valid, rejected = importer.parse_rows(headers, [cells], "CN", now=now)
    assert len(valid) + len(rejected) == 1
    return (valid[0] if valid else None), (rejected[0] if rejected else None)


def accepted(headers, cells, now=NOW):
    row, rejection = parse_one(headers, cells, now)
    assert rejection is None, rejection
    return row


def contact(line, e164=CN_MOBILE, **fields):
    return Row(
        line=line, cells=[f"cells of line {line}"], e164=e164, number_type="mobile", **fields
    )


def decode_report(data):
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8) :].decode("utf-8"), newline="")))


# ------------------------------------------------------------------------------------------
# read_table
# ------------------------------------------------------------------------------------------


def test_read_table_utf8_csv_returns_headers_and_string_rows():
    data = "name,phone,email\nZhang San,13800138000,zs@example.com\nLi Si,13900139000,\n"
    headers, rows = importer.read_table(data.encode("utf-8"))
    assert headers == ["name", "phone", "email"]
    assert rows == [
        ["Zhang San", "13800138000", "zs@example.com"],
        ["Li Si", "13900139000", ""],
    ]


def test_read_table_utf8_bom_is_not_part_of_first_header():
    data = codecs.BOM_UTF8 + "手机号,姓名\n13800138000,张三\n".encode()
    headers, rows = importer.read_table(data)
    assert headers == ["手机号", "姓名"]
    assert rows == [["13800138000", "张三"]]


def test_read_table_decodes_gb18030_chinese_headers_and_names():
    text = "姓名,手机号,标签\n张三,13800138000,重要客户\n欧阳娜娜,13900139000,新客\n"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really exercises the fallback
    headers, rows = importer.read_table(data)
    assert headers == ["姓名", "手机号", "标签"]
    assert rows == [["张三", "13800138000", "重要客户"], ["欧阳娜娜", "13900139000", "新客"]]


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"]
)
def test_read_table_sniffs_delimiter(delimiter):
    lines = [
        ["name", "phone", "tags"],
        ["Zhang San", "13800138000", "vip"],
        ["Li Si", "139", "new"],
    ]
    data = "".join(delimiter.join(line) + "\n" for line in lines).encode()
    headers, rows = importer.read_table(data)
    assert headers == lines[0]
    assert rows == lines[1:]


def test_read_table_tab_file_keeps_commas_inside_cells():
    data = b"name\tphone\nZhang, San\t13800138000\nLi, Si\t13900139000\n"
    headers, rows = importer.read_table(data)
    assert headers == ["name", "phone"]
    assert rows == [["Zhang, San", "13800138000"], ["Li, Si", "13900139000"]]


def test_read_table_quoted_fields_keep_embedded_delimiters_and_newlines():
    data = b'name,phone,tags\n"Zhang, San",13800138000,"vip\nnew"\n"Li ""Big"" Si",139,x\n'
    _headers, rows = importer.read_table(data)
    assert rows == [["Zhang, San", "13800138000", "vip\nnew"], ['Li "Big" Si', "139", "x"]]


def test_read_table_skips_blank_and_delimiter_only_lines():
    data = b"\nname,phone\n\n  \nA,138\n,\n\r\nB,139\n\n"
    headers, rows = importer.read_table(data)
    assert headers == ["name", "phone"]
    assert rows == [["A", "138"], ["B", "139"]]


def test_read_table_pads_short_rows_and_drops_cells_beyond_header():
    data = b"name,phone,email\nA,138\nB\nC,139,c@x.cn,extra\n"
    _headers, rows = importer.read_table(data)
    assert rows == [["A", "138", ""], ["B", "", ""], ["C", "139", "c@x.cn"]]


def test_read_table_strips_header_cells_but_not_data_cells():
    headers, rows = importer.read_table(b" name , phone \n A , 138 \n")
    assert headers == ["name", "phone"]
    assert rows == [[" A ", " 138 "]]


def test_read_table_single_column_file_without_delimiter():
    headers, rows = importer.read_table(b"phone\n+86-138-0013-8000\n13900139000\n")
    assert headers == ["phone"]
    assert rows == [["+86-138-0013-8000"], ["13900139000"]]


def test_read_table_crlf_line_endings():
    headers, rows = importer.read_table(b"name,phone\r\nA,138\r\nB,139\r\n")
    assert headers == ["name", "phone"]
    assert rows == [["A", "138"], ["B", "139"]]


@pytest.mark.parametrize("number", [13800138000, 13800138000.0], ids=["int", "float"])
def test_read_table_xlsx_numeric_phone_cell_keeps_its_digits(number):
    headers, rows = importer.read_table(xlsx([["Name", "Phone"], ["张三", number]]))
    assert headers == ["Name", "Phone"]
    assert rows == [["张三", "13800138000"]]


def test_read_table_xlsx_non_integer_float_and_bool_become_text():
    _headers, rows = importer.read_table(xlsx([["phone", "score", "ok"], ["138", 1.5, True]]))
    assert rows == [["138", "1.5", "True"]]


def test_read_table_xlsx_datetime_cell_stays_a_datetime():
    moment = datetime.datetime(2024, 1, 5, 10, 30)
    _headers, rows = importer.read_table(xlsx([["phone", "consent date"], ["138", moment]]))
    assert rows == [["138", moment]]
    assert isinstance(rows[0][1], datetime.datetime)


def test_read_table_xlsx_empty_cells_become_empty_strings_and_blank_rows_are_skipped():
    data = xlsx([["name", "phone", "email"], ["A", "138", None], [None, None, None], [None, "139"]])
    headers, rows = importer.read_table(data)
    assert headers == ["name", "phone", "email"]
    assert rows == [["A", "138", ""], ["", "139", ""]]


def test_read_table_xlsx_is_recognised_by_content_whatever_the_filename():
    data = xlsx([["phone"], ["13800138000"]])
    assert importer.read_table(data, filename="contacts.csv") == (["phone"], [["13800138000"]])


def test_read_table_max_rows_counts_data_rows_not_the_header():
    headers, rows = importer.read_table(b"phone\n1\n2\n", max_rows=2)
    assert headers == ["phone"]
    assert len(rows) == 2


def test_read_table_max_bytes_is_inclusive():
    data = b"phone\n1\n"
    assert importer.read_table(data, max_bytes=len(data))[1] == [["1"]]


FILE_ERRORS = [
    ("too-large", b"phone\n13800138000\n", {"max_bytes": 5}, importer.ERROR_TOO_LARGE),
    ("too-many-rows-csv", b"phone\n1\n2\n3\n", {"max_rows": 2}, importer.ERROR_TOO_MANY_ROWS),
    (
        "too-many-rows-xlsx",
        xlsx([["phone"], ["1"], ["2"], ["3"]]),
        {"max_rows": 2},
        importer.ERROR_TOO_MANY_ROWS,
    ),
    ("empty-bytes", b"", {}, importer.ERROR_EMPTY),
    ("whitespace-only", b" \r\n\t\n", {}, importer.ERROR_EMPTY),
    ("bom-only", codecs.BOM_UTF8, {}, importer.ERROR_EMPTY),
    ("header-only", b"name,phone\n", {}, importer.ERROR_EMPTY),
    ("header-and-blank-lines", b"name,phone\n\n,\n\n", {}, importer.ERROR_EMPTY),
    ("xlsx-header-only", xlsx([["name", "phone"]]), {}, importer.ERROR_EMPTY),
    ("utf16-bom", b"\xff\xfe\x00p\x00h\x00o\x00n\x00e", {}, importer.ERROR_ENCODING),
    ("invalid-lead-byte-0x80", b"phone\n\x80\n", {}, importer.ERROR_ENCODING),
    ("invalid-byte-0xff", b"name,phone\n\xff,138\n", {}, importer.ERROR_ENCODING),
    ("nul-byte", b"name,phone\nA\x00,138\n", {}, importer.ERROR_MALFORMED),
    ("corrupt-xlsx", b"PK\x03\x04garbage", {}, importer.ERROR_MALFORMED),
    ("xlsx-filename-not-zip", b"phone\n138\n", {"filename": "list.XLSX"}, importer.ERROR_MALFORMED),
    ("quote-then-text", b'name,phone\n"A"B,138\n', {}, importer.ERROR_MALFORMED),
    ("unterminated-quote", b'name,phone\n"A,138\n', {}, importer.ERROR_MALFORMED),
]


@pytest.mark.parametrize(
    ("data", "kwargs", "code"),
    [case[1:] for case in FILE_ERRORS],
    ids=[case[0] for case in FILE_ERRORS],
)
def test_read_table_file_errors(data, kwargs, code):
    assert read_error(data, **kwargs).code == code


def test_read_table_bytes_used_for_encoding_errors_are_neither_utf8_nor_gb18030():
    for data in (b"\xff\xfe\x00p", b"\x80"):
        for encoding in ("utf-8", "gb18030"):
            with pytest.raises(UnicodeDecodeError):
                data.decode(encoding)


def test_read_table_too_large_reports_size_and_limit():
    error = read_error(b"0123456789", max_bytes=4)
    assert error.params == {"size": 10, "limit": 4}


def test_read_table_too_many_rows_reports_limit():
    assert read_error(b"phone\n1\n2\n", max_rows=1).params == {"limit": 1}


def test_read_table_broken_quoting_reports_the_line():
    error = read_error(b'name,phone\nA,138\n"B"x,139\n')
    assert error.code == importer.ERROR_MALFORMED
    assert error.params["line"] == 3


def test_read_table_zip_without_workbook_is_malformed():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    assert read_error(buffer.getvalue()).code == importer.ERROR_MALFORMED


@pytest.mark.parametrize("member", ["[Content_Types].xml", "xl/worksheets/sheet1.xml"])
def test_read_table_xlsx_with_corrupt_xml_is_malformed(member):
    data = rewrite_zip(xlsx([["phone"], ["138"]]), member, b"<worksheet><sheetData><row><c")
    assert read_error(data).code == importer.ERROR_MALFORMED


def test_read_table_blank_lines_do_not_count_towards_max_rows():
    _headers, rows = importer.read_table(b"phone\n1\n\n\n2\n", max_rows=2)
    assert rows == [["1"], ["2"]]


# ------------------------------------------------------------------------------------------
# map_headers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Name", "name"),
        ("Full Name", "name"),
        ("Customer", "name"),
        ("Mobile", "phone"),
        ("Phone Number", "phone"),
        ("MSISDN", "phone"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Tags", "tags"),
        ("Segment", "tags"),
        ("SMS Consent", "consent"),
        ("Opt-in", "consent"),
        ("Source", "consent_source"),
        ("Opt-in Source", "consent_source"),
        ("Consent Date", "consent_date"),
        ("Subscribed On", "consent_date"),
    ],
)
def test_map_headers_english_aliases(header, field):
    other = [] if field == "phone" else ["phone"]
    assert importer.map_headers([header, *other])[0] == field


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("姓名", "name"),
        ("联系人", "name"),
        ("手机号", "phone"),
        ("手机号码", "phone"),
        ("联系电话", "phone"),
        ("邮箱", "email"),
        ("电子邮件", "email"),
        ("标签", "tags"),
        ("同意", "consent"),
        ("订阅状态", "consent"),
        ("同意来源", "consent_source"),
        ("同意日期", "consent_date"),
        ("订阅时间", "consent_date"),
    ],
)
def test_map_headers_chinese_aliases(header, field):
    other = [] if field == "phone" else ["手机号"]
    assert importer.map_headers([header, *other])[0] == field


@pytest.mark.parametrize(
    "header",
    [
        "PHONE NUMBER",
        "phone_number",
        "Phone-Number",
        "  phone   number  ",
        "phone\tnumber",
        "phone _- number",
        "ＰＨＯＮＥ　ＮＵＭＢＥＲ",  # full-width letters and ideographic space
        "手机号\u3000",
    ],
)
def test_map_headers_ignores_case_separators_and_width(header):
    assert importer.map_headers([header]) == {0: "phone"}


def test_map_headers_full_width_hyphen_in_email():
    assert importer.map_headers(["Ｅ－ｍａｉｌ", "phone"]) == {0: "email", 1: "phone"}


def test_map_headers_maps_every_known_field_and_ignores_unknown_columns():
    headers = ["ID", "姓名", "手机号", "邮箱", "城市", "标签", "同意", "同意来源", "同意日期", ""]
    assert importer.map_headers(headers) == {
        1: "name",
        2: "phone",
        3: "email",
        5: "tags",
        6: "consent",
        7: "consent_source",
        8: "consent_date",
    }


@pytest.mark.parametrize(
    "headers",
    [["name", "email"], ["姓名", "邮箱", "备注"], [], ["phone number (work)"]],
    ids=["english", "chinese", "empty", "unknown-phone-like"],
)
def test_map_headers_without_phone_column_lists_the_headers(headers):
    with pytest.raises(ImportFileError) as info:
        importer.map_headers(headers)
    assert info.value.code == importer.ERROR_NO_PHONE_COLUMN
    assert info.value.params == {"headers": headers}


@pytest.mark.parametrize(
    ("headers", "column"),
    [
        (["Phone", "Mobile"], "Mobile"),
        (["手机号", "姓名", "电话"], "电话"),
        (["phone", "Email", "邮箱"], "邮箱"),
        (["phone", "Date", "同意日期"], "同意日期"),
    ],
)
def test_map_headers_two_columns_for_one_field_is_refused(headers, column):
    with pytest.raises(ImportFileError) as info:
        importer.map_headers(headers)
    assert info.value.code == importer.ERROR_DUPLICATE_COLUMN
    assert info.value.params == {"column": column}


@pytest.mark.parametrize("header", ["PhoneNumber", "手机 号码"])
def test_map_headers_ignores_spaces_entirely(header):
    assert importer.map_headers([header]) == {0: "phone"}


# ------------------------------------------------------------------------------------------
# parse_rows
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["138 0013 8000", "+86 13800138000", "008613800138000", "+86-138-0013-8000"]
)
def test_parse_rows_normalises_cn_mobile_forms_to_e164(raw):
    row = accepted(["phone"], [raw])
    assert row.e164 == CN_MOBILE
    assert row.number_type == "mobile"


def test_parse_rows_accepts_landline_with_fixed_line_type():
    row = accepted(["电话"], ["010 6552 9988"])
    assert row.e164 == "+861065529988"
    assert row.number_type == "fixed_line"


def test_parse_rows_valid_row_with_every_field():
    headers = ["姓名", "手机号", "邮箱", "标签", "同意", "同意来源", "同意日期", "备注"]
    cells = [
        " 张三 ",
        "138 0013 8000",
        " ZS@Example.COM ",
        "vip，新客",
        "同意",
        " 官网 ",
        "2024年1月5日",
        "x",
    ]
    row = accepted(headers, cells)
    assert row == Row(
        line=2,
        cells=cells,
        e164=CN_MOBILE,
        number_type="mobile",
        name="张三",
        email="zs@example.com",
        tags=("vip", "新客"),
        consent="opt_in",
        consent_source="官网",
        consent_date=datetime.datetime(2024, 1, 5),
    )


def test_parse_rows_missing_optional_columns_give_defaults():
    row = accepted(["phone"], ["13800138000"])
    assert row == Row(line=2, cells=["13800138000"], e164=CN_MOBILE, number_type="mobile")


HEADERS = ["name", "phone", "email", "consent", "consent date"]

MOBILE_RAW = "13800138000"
LATER = datetime.datetime(2024, 6, 1, 12, 0, 1)

# (id, phone, email, consent, consent date, code, params); the name column is always "A".
REJECTIONS = [
    ("empty-phone", "", "", "", "", "no_number", {}),
    ("blank-phone", "   ", "", "", "", "no_number", {}),
    ("short-number", "12345", "", "", "", "invalid_number", {"value": "12345"}),
    ("letters", " abc ", "", "", "", "invalid_number", {"value": "abc"}),
    ("incomplete-intl", "+86 138", "", "", "", "invalid_number", {"value": "+86 138"}),
    ("email-no-at", MOBILE_RAW, "a.x.cn", "", "", "invalid_email", {"value": "a.x.cn"}),
    ("email-no-tld", MOBILE_RAW, " Bob@Host ", "", "", "invalid_email", {"value": "Bob@Host"}),
    ("email-space", MOBILE_RAW, "a b@x.cn", "", "", "invalid_email", {"value": "a b@x.cn"}),
    ("consent-maybe", MOBILE_RAW, "", "maybe", "", "unknown_consent", {"value": "maybe"}),
    ("consent-chinese", MOBILE_RAW, "", "也许", "", "unknown_consent", {"value": "也许"}),
    ("date-ambiguous", MOBILE_RAW, "", "", "05/01/2024", "invalid_date", {"value": "05/01/2024"}),
    ("date-word", MOBILE_RAW, "", "", "yesterday", "invalid_date", {"value": "yesterday"}),
    ("date-bad-month", MOBILE_RAW, "", "", "2024-13-01", "invalid_date", {"value": "2024-13-01"}),
    ("date-future", MOBILE_RAW, "", "", "2024-06-02", "future_date", {"value": "2024-06-02"}),
    ("datetime-future", MOBILE_RAW, "", "", LATER, "future_date", {"value": str(LATER)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("phone", "email", "consent", "date", "code", "params"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_parse_rows_rejections_carry_code_and_params(phone, email, consent, date, code, params):
    cells = ["A", phone, email, consent, date]
    row, rejection = parse_one(HEADERS, cells)
    assert row is None
    assert rejection == Rejection(line=2, cells=cells, code=code, params=params)


def test_parse_rows_first_failing_check_wins():
    _row, rejection = parse_one(HEADERS, ["A", "12345", "bad", "maybe", "yesterday"])
    assert rejection.code == "invalid_number"
    _row, rejection = parse_one(HEADERS, ["A", "13800138000", "bad", "maybe", "yesterday"])
    assert rejection.code == "invalid_email"


def test_parse_rows_date_equal_to_now_is_not_future():
    row = accepted(["phone", "date"], ["13800138000", "2024-06-01 12:00:00"])
    assert row.consent_date == NOW


def test_parse_rows_defaults_now_to_current_utc_time():
    valid, rejected = importer.parse_rows(
        ["phone", "date"], [["13800138000", "2000-01-01"], ["13800138000", "2999-01-01"]], "CN"
    )
    assert [row.line for row in valid] == [2]
    assert [(rej.line, rej.code) for rej in rejected] == [(3, "future_date")]


@pytest.mark.parametrize(
    ("value", "consent"),
    [
        ("opt-in", "opt_in"),
        ("Opt In", "opt_in"),
        ("OPT_IN", "opt_in"),
        ("yes", "opt_in"),
        ("Y", "opt_in"),
        ("1", "opt_in"),
        ("true", "opt_in"),
        ("是", "opt_in"),
        ("同意", "opt_in"),
        ("订阅", "opt_in"),
        ("已订阅", "opt_in"),
        ("opt-out", "opt_out"),
        ("No", "opt_out"),
        ("0", "opt_out"),
        ("STOP", "opt_out"),
        ("退订", "opt_out"),
        ("拒绝", "opt_out"),
        ("不同意", "opt_out"),
        ("pending", "request"),
        ("Pending Confirmation", "request"),
        ("待确认", "request"),
        ("", None),
        ("  ", None),
        ("unknown", None),
        ("未知", None),
    ],
)
def test_parse_rows_consent_values(value, consent):
    assert accepted(["phone", "consent"], ["13800138000", value]).consent == consent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05", datetime.datetime(2024, 1, 5)),
        ("2024-01-05 10:30", datetime.datetime(2024, 1, 5, 10, 30)),
        ("2024-01-05 10:30:15", datetime.datetime(2024, 1, 5, 10, 30, 15)),
        ("2024-01-05T10:30", datetime.datetime(2024, 1, 5, 10, 30)),
        ("2024-01-05T10:30:15", datetime.datetime(2024, 1, 5, 10, 30, 15)),
        ("2024/01/05", datetime.datetime(2024, 1, 5)),
        ("2024/1/5 10:30", datetime.datetime(2024, 1, 5, 10, 30)),
        ("2024/01/05 10:30:15", datetime.datetime(2024, 1, 5, 10, 30, 15)),
        ("2024.01.05", datetime.datetime(2024, 1, 5)),
        ("2024年1月5日", datetime.datetime(2024, 1, 5)),
        ("２０２４年０１月０５日", datetime.datetime(2024, 1, 5)),
        (" 2024-01-05 ", datetime.datetime(2024, 1, 5)),
        (datetime.datetime(2024, 1, 5, 10, 30, 15, 999), datetime.datetime(2024, 1, 5, 10, 30, 15)),
        (
            datetime.datetime(2024, 1, 5, 10, 30, tzinfo=datetime.timezone.utc),
            datetime.datetime(2024, 1, 5, 10, 30),
        ),
        (datetime.date(2024, 1, 5), datetime.datetime(2024, 1, 5)),
    ],
)
def test_parse_rows_consent_date_formats(value, expected):
    row = accepted(["phone", "同意日期"], ["13800138000", value])
    assert row.consent_date == expected
    assert row.consent_date.tzinfo is None


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        ("vip", ("vip",)),
        ("vip, new", ("vip", "new")),
        ("a;b；c，d、e|f", ("a", "b", "c", "d", "e", "f")),
        ("vip,new,vip", ("vip", "new")),
        ("vip ; vip", ("vip",)),
        (" , ,x,, ", ("x",)),
        ("重要客户、新客｜", ("重要客户", "新客｜")),
        ("", ()),
    ],
)
def test_parse_rows_tags_split_stripped_and_deduplicated(value, tags):
    assert accepted(["phone", "标签"], ["13800138000", value]).tags == tags


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("  Zhang   San  ", "Zhang San"),
        ("Zhang\tSan\nJr", "Zhang San Jr"),
        ("张\u3000三", "张 三"),
        ("", ""),
    ],
)
def test_parse_rows_name_whitespace_collapsed(value, name):
    assert accepted(["姓名", "phone"], [value, "13800138000"]).name == name


def test_parse_rows_email_stripped_and_lowercased():
    assert accepted(["phone", "email"], ["13800138000", " Zhang.San@Example.CN "]).email == (
        "zhang.san@example.cn"
    )


def test_parse_rows_line_numbers_start_at_two_and_follow_data_rows():
    rows = [["13800138000"], ["bad"], [""], ["13900139000"]]
    valid, rejected = importer.parse_rows(["phone"], rows, "CN", now=NOW)
    assert [row.line for row in valid] == [2, 5]
    assert [(rej.line, rej.code) for rej in rejected] == [(3, "invalid_number"), (4, "no_number")]


def test_parse_rows_rejection_keeps_original_cells_including_unmapped():
    cells = ["abc", "x", "extra"]
    _row, rejection = parse_one(["phone", "notes", "other"], cells)
    assert rejection.cells is cells


def test_parse_rows_without_phone_column_raises():
    with pytest.raises(ImportFileError) as info:
        importer.parse_rows(["name"], [["A"]], "CN", now=NOW)
    assert info.value.code == importer.ERROR_NO_PHONE_COLUMN


def test_parse_rows_blank_consent_date_is_empty():
    row = accepted(["phone", "consent date"], ["13800138000", " "])
    assert row.consent_date is None


@pytest.mark.parametrize(
    "data",
    [
        b"phone\n13800138000\n\nabc\n",
        xlsx([["phone"], ["13800138000"], [None], ["abc"]]),
    ],
    ids=["csv-blank-line", "xlsx-blank-row"],
)
def test_line_numbers_are_file_lines_after_blank_lines(data):
    headers, rows = importer.read_table(data)
    _valid, rejected = importer.parse_rows(headers, rows, "CN", now=NOW)
    assert [rej.line for rej in rejected] == [4]


def test_gb18030_file_end_to_end():
    text = "姓名,手机号,同意,同意日期\n张三,138 0013 8000,同意,2024年1月5日\n李四,123,是,\n"
    headers, rows = importer.read_table(text.encode("gb18030"))
    valid, rejected = importer.parse_rows(headers, rows, "CN", now=NOW)
    assert [(row.name, row.e164, row.consent) for row in valid] == [("张三", CN_MOBILE, "opt_in")]
    assert [(rej.line, rej.code, rej.params) for rej in rejected] == [
        (3, "invalid_number", {"value": "123"})
    ]


def test_xlsx_file_end_to_end_with_numeric_phone_and_datetime():
    moment = datetime.datetime(2024, 1, 5, 9, 0)
    data = xlsx([["Name", "Mobile", "Consent Date"], ["Zhang San", 13800138000, moment]])
    headers, rows = importer.read_table(data)
    valid, rejected = importer.parse_rows(headers, rows, "CN", now=NOW)
    assert rejected == []
    assert [(row.e164, row.consent_date) for row in valid] == [(CN_MOBILE, moment)]


# ------------------------------------------------------------------------------------------
# resolve_duplicates
# ------------------------------------------------------------------------------------------


def test_resolve_duplicates_distinct_rows_are_all_kept():
    rows = [contact(2), contact(3, "+8613900139000", email="b@x.cn"), contact(4, "+861065529988")]
    assert importer.resolve_duplicates(rows) == (rows, [], [])


def test_resolve_duplicates_exact_repeat_is_merged_into_first():
    first, repeat = contact(2, name="A", email="a@x.cn"), contact(5, name="A", email="a@x.cn")
    kept, merged, rejections = importer.resolve_duplicates([first, repeat])
    assert kept == [first]
    assert merged == [(repeat, first)]
    assert merged[0][1] is first
    assert rejections == []


def test_resolve_duplicates_several_repeats_all_point_to_first():
    rows = [contact(line, name="A") for line in (2, 3, 4)]
    kept, merged, rejections = importer.resolve_duplicates(rows)
    assert kept == [rows[0]]
    assert [(row.line, target.line) for row, target in merged] == [(3, 2), (4, 2)]
    assert rejections == []


def test_resolve_duplicates_name_and_tag_case_and_tag_order_do_not_matter():
    first = contact(2, name="Zhang San", tags=("VIP", "New"))
    other = contact(3, name="ZHANG SAN", tags=("new", "vip"))
    kept, merged, rejections = importer.resolve_duplicates([first, other])
    assert kept == [first]
    assert merged == [(other, first)]
    assert rejections == []


def test_resolve_duplicates_same_number_written_differently_is_merged():
    text = "name,phone\nA,138 0013 8000\nA,+86-138-0013-8000\n"
    headers, rows = importer.read_table(text.encode())
    valid, _rejected = importer.parse_rows(headers, rows, "CN", now=NOW)
    kept, merged, rejections = importer.resolve_duplicates(valid)
    assert [row.line for row in kept] == [2]
    assert [(row.line, target.line) for row, target in merged] == [(3, 2)]
    assert rejections == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"name": "A"}, {"name": "B"}),
        ({"email": "a@x.cn"}, {}),
        ({"tags": ("vip",)}, {"tags": ("new",)}),
        ({"consent": "opt_in"}, {"consent": "opt_out"}),
        ({"consent_source": "web"}, {"consent_source": "shop"}),
        ({"consent_date": datetime.datetime(2024, 1, 5)}, {"consent_date": None}),
    ],
    ids=["name", "email", "tags", "consent", "source", "date"],
)
def test_resolve_duplicates_same_number_disagreeing_rows_all_conflict(first, second):
    rows = [contact(2, **first), contact(4, **second)]
    kept, merged, rejections = importer.resolve_duplicates(rows)
    assert (kept, merged) == ([], [])
    assert rejections == [
        Rejection(2, rows[0].cells, "conflict", {"lines": [4]}),
        Rejection(4, rows[1].cells, "conflict", {"lines": [2]}),
    ]


def test_resolve_duplicates_one_dissenter_rejects_the_whole_group():
    rows = [contact(2, name="A"), contact(3, name="A"), contact(6, name="B")]
    kept, merged, rejections = importer.resolve_duplicates(rows)
    assert (kept, merged) == ([], [])
    assert [(rej.line, rej.code, rej.params) for rej in rejections] == [
        (2, "conflict", {"lines": [3, 6]}),
        (3, "conflict", {"lines": [2, 6]}),
        (6, "conflict", {"lines": [2, 3]}),
    ]


def test_resolve_duplicates_same_email_different_numbers_conflict():
    rows = [contact(2, email="a@x.cn"), contact(3, "+8613900139000", email="a@x.cn")]
    kept, merged, rejections = importer.resolve_duplicates(rows)
    assert (kept, merged) == ([], [])
    assert [(rej.line, rej.code, rej.params) for rej in rejections] == [
        (2, "conflict", {"lines": [3]}),
        (3, "conflict", {"lines": [2]}),
    ]


def test_resolve_duplicates_groups_are_transitive():
    a = contact(2, CN_MOBILE, email="a@x.cn")
    b = contact(3, CN_MOBILE, email="b@x.cn")  # shares the number with a
    c = contact(4, "+8613900139000", email="b@x.cn")  # shares the email with b
    unrelated = contact(5, "+861065529988")
    kept, merged, rejections = importer.resolve_duplicates([a, b, c, unrelated])
    assert kept == [unrelated]
    assert merged == []
    assert [(rej.line, rej.params["lines"]) for rej in rejections] == [
        (2, [3, 4]),
        (3, [2, 4]),
        (4, [2, 3]),
    ]
    assert {rej.code for rej in rejections} == {"conflict"}


def test_resolve_duplicates_late_row_joins_two_earlier_groups():
    a = contact(2, CN_MOBILE)
    b = contact(3, "+8613900139000", email="b@x.cn")
    c = contact(4, CN_MOBILE, email="b@x.cn")  # links a (number) and b (email)
    kept, merged, rejections = importer.resolve_duplicates([a, b, c])
    assert (kept, merged) == ([], [])
    assert sorted((rej.line, rej.params["lines"]) for rej in rejections) == [
        (2, [3, 4]),
        (3, [2, 4]),
        (4, [2, 3]),
    ]


def test_resolve_duplicates_rows_without_email_are_not_grouped_by_empty_email():
    rows = [contact(2), contact(3, "+8613900139000")]
    kept, merged, rejections = importer.resolve_duplicates(rows)
    assert (kept, merged, rejections) == (rows, [], [])


def test_resolve_duplicates_kept_rows_sorted_by_line():
    rows = [contact(7), contact(3, "+8613900139000"), contact(5, "+861065529988")]
    kept, _merged, _rejections = importer.resolve_duplicates(rows)
    assert [row.line for row in kept] == [3, 5, 7]


def test_resolve_duplicates_empty_input():
    assert importer.resolve_duplicates([]) == ([], [], [])


# ------------------------------------------------------------------------------------------
# safe_cell / rejected_csv
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["=SUM(A1:A2)", "+8613800138000", "-1+1", "@cmd", "\t=1", "\rx", '=HYPERLINK("http://x")'],
)
def test_safe_cell_prefixes_formula_starts_with_a_quote(value):
    assert importer.safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["Zhang San", "张三", "13800138000", "a=b", "x+y", " =1", "", "'quoted"]
)
def test_safe_cell_leaves_normal_text_untouched(value):
    assert importer.safe_cell(value) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (42, "42"),
        (-5, "'-5"),
        (datetime.datetime(2024, 1, 5, 10, 30), "2024-01-05 10:30:00"),
        (datetime.date(2024, 1, 5), "2024-01-05"),
    ],
)
def test_safe_cell_formats_non_text_values(value, text):
    assert importer.safe_cell(value) == text


def describe(rejection):
    return f"{rejection.code} {rejection.params}"


def test_rejected_csv_starts_with_utf8_bom_and_uses_crlf():
    data = importer.rejected_csv(["phone"], [Rejection(2, ["abc"], "invalid_number")], describe)
    assert data.startswith(codecs.BOM_UTF8)
    assert data[len(codecs.BOM_UTF8) :].decode("utf-8").split("\r\n")[:2] == [
        "phone,Reason,Line",
        "abc,invalid_number {},2",
    ]


def test_rejected_csv_original_headers_then_reason_and_line():
    headers = ["姓名", "手机号", "备注"]
    table = decode_report(importer.rejected_csv(headers, [], describe, reason_header="原因"))
    assert table == [["姓名", "手机号", "备注", "原因", "Line"]]


def test_rejected_csv_rows_in_file_order_with_describe_reason():
    rejections = [
        Rejection(5, ["B", "123"], "invalid_number", {"value": "123"}),
        Rejection(2, ["A", ""], "no_number"),
        Rejection(3, ["C", "138"], "conflict", {"lines": [5]}),
    ]
    table = decode_report(importer.rejected_csv(["name", "phone"], rejections, describe))
    assert table == [
        ["name", "phone", "Reason", "Line"],
        ["A", "", "no_number {}", "2"],
        ["C", "138", "conflict {'lines': [5]}", "3"],
        ["B", "123", "invalid_number {'value': '123'}", "5"],
    ]


def test_rejected_csv_calls_describe_once_per_rejection():
    seen = []

    def recording(rejection):
        seen.append(rejection.line)
        return "reason"

    rejections = [Rejection(3, ["x"], "no_number"), Rejection(2, ["y"], "no_number")]
    importer.rejected_csv(["phone"], rejections, recording)
    assert seen == [2, 3]


def test_rejected_csv_round_trips_chinese_and_multiline_text():
    cells = ["欧阳娜娜", "一三八", "第一行\n第二行, 含逗号"]
    data = importer.rejected_csv(
        ["姓名", "手机号", "备注"], [Rejection(2, cells, "invalid_number")], lambda _r: "号码无效"
    )
    assert decode_report(data)[1] == [*cells, "号码无效", "2"]


def test_rejected_csv_escapes_formulas_in_headers_cells_and_reason():
    data = importer.rejected_csv(
        ["=cmd", "phone"],
        [Rejection(2, ["@SUM(1)", "+86 138"], "invalid_number")],
        lambda _r: "-bad",
    )
    assert decode_report(data) == [
        ["'=cmd", "phone", "Reason", "Line"],
        ["'@SUM(1)", "'+86 138", "'-bad", "2"],
    ]


def test_rejected_csv_formats_datetime_cells():
    cells = ["138", datetime.datetime(2024, 7, 1, 8, 0)]
    data = importer.rejected_csv(["phone", "date"], [Rejection(2, cells, "future_date")], describe)
    assert decode_report(data)[1][:2] == ["138", "2024-07-01 08:00:00"]


def test_rejected_csv_can_be_read_back_by_read_table():
    rejections = [Rejection(2, ["张三", "abc"], "invalid_number", {"value": "abc"})]
    data = importer.rejected_csv(["姓名", "手机号"], rejections, lambda _r: "无效号码")
    headers, rows = importer.read_table(data)
    assert headers == ["姓名", "手机号", "Reason", "Line"]
    assert rows == [["张三", "abc", "无效号码", "2"]]
