import base64
import csv
import io
import re

from openpyxl import Workbook

from odoo import fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..core import importer as core_importer

#: XLSX sheets hold 1,048,576 rows, the header included.
XLSX_MAX_ROWS = 1_048_575


class SmsMarketingSegmentExport(models.TransientModel):
    """Export a segment's contacts (number, consent with its date and source, tags) as CSV
    or XLSX, for SMS Marketing managers only; each export is logged on the segment's
    chatter with its size, format and author. The rows come from one SQL query streamed
    into the file (a million contacts do not become a million records)."""

    _name = "sms.marketing.segment.export"
    _description = "Export Segment Contacts"

    segment_id = fields.Many2one("sms.marketing.segment", required=True, ondelete="cascade")
    file_format = fields.Selection(
        [("csv", "CSV (UTF-8)"), ("xlsx", "Excel (XLSX)")], required=True, default="csv"
    )
    file = fields.Binary(readonly=True, attachment=True)
    file_name = fields.Char(readonly=True)
    exported_count = fields.Integer(readonly=True)

    def _headers(self):
        return [
            self.env._("Name"),
            self.env._("Mobile"),
            self.env._("Email"),
            self.env._("Consent"),
            self.env._("Consent Date"),
            self.env._("Consent Source"),
            self.env._("Tags"),
        ]

    def _rows(self):
        """The segment's contacts: (name, E.164 number, email, consent, date, source,
        tags) in contact order."""
        self.env.flush_all()  # the rows are read in SQL
        Partner = self.env["res.partner"].with_context(active_test=True)
        query = Partner._search(self.segment_id._get_partner_domain())
        states = dict(Partner._fields["sms_consent_state"]._description_selection(self.env))
        sources = dict(Partner._fields["sms_consent_source"]._description_selection(self.env))
        self.env.cr.execute(
            SQL(
                """
                SELECT p.name, p.sms_e164, p.email, p.sms_consent_state, p.sms_consent_date,
                       p.sms_consent_source,
                       (SELECT string_agg(t.name, ', ' ORDER BY t.name)
                          FROM res_partner_sms_marketing_tag_rel r
                          JOIN sms_marketing_tag t ON t.id = r.tag_id
                         WHERE r.partner_id = p.id)
                  FROM res_partner p WHERE p.id IN %s ORDER BY p.id
                """,
                query.subselect(),
            )
        )
        while batch := self.env.cr.fetchmany(10000):
            for name, number, email, state, date, source, tags in batch:
                yield (
                    name or "",
                    number or "",
                    email or "",
                    states.get(state, state or ""),
                    fields.Datetime.to_string(date) if date else "",
                    sources.get(source, source or ""),
                    tags or "",
                )

    def action_export(self):
        self.ensure_one()
        if not self.env.user.has_group("sms_marketing.group_sms_marketing_manager"):
            raise AccessError(self.env._("Only SMS Marketing managers may export contacts."))
        segment = self.segment_id
        headers = self._headers()
        count = 0
        if self.file_format == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(headers)
            for row in self._rows():
                writer.writerow([core_importer.safe_cell(value) for value in row])
                count += 1
            data = buffer.getvalue().encode("utf-8-sig")
        else:
            book = Workbook(write_only=True)
            # a sheet's title: 31 characters at most, none of []:*?/\
            title = re.sub(r"[\[\]:*?/\\]", " ", segment.name)[:31].strip()
            sheet = book.create_sheet(title or "Contacts")
            sheet.append(headers)
            for row in self._rows():
                count += 1
                if count > XLSX_MAX_ROWS:
                    raise UserError(
                        self.env._(
                            "More than %s contacts do not fit in one XLSX sheet: export as CSV.",
                            XLSX_MAX_ROWS,
                        )
                    )
                sheet.append([core_importer.safe_cell(value) for value in row])
            output = io.BytesIO()
            book.save(output)
            data = output.getvalue()
        name = f"{segment.name}.{self.file_format}"
        self.write({"file": base64.b64encode(data), "file_name": name, "exported_count": count})
        segment.message_post(
            body=self.env._(
                "%(count)s contacts exported as %(format)s by %(user)s.",
                count=count,
                format=self.file_format.upper(),
                user=self.env.user.name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return {
            "type": "ir.actions.act_url",
            # the name in the query (a / or ? in the segment's name would break a path)
            "url": f"/web/content/?model={self._name}&id={self.id}&field=file"
            "&filename_field=file_name&download=true",
            "target": "self",
        }
