import base64
import binascii
import gc
import logging
import os

import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core import importer
from ..core import phone as core_phone

_logger = logging.getLogger(__name__)

# Partners are created and updated in chunks: big enough for set-based SQL underneath, small
# enough to keep the ORM cache and memory flat for a 100,000-row file.
CHUNK = 10000
# Context for bulk writes on partners: no chatter message or follower per imported contact.
BULK_CONTEXT = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}


class SmsMarketingImport(models.TransientModel):
    """Import contacts with their numbers, tags and consent, losing nothing.

    Valid rows create or update partners (matched by E.164 number, then email), consent goes
    through the ledger with the file name and line as evidence, and every row that is not
    imported is counted by reason and offered back as a CSV with a reason column. Everything
    happens in one transaction: a file that fails half-way changes nothing.
    """

    _name = "sms.marketing.import"
    _description = "Import SMS Contacts"

    state = fields.Selection([("upload", "Upload"), ("done", "Done")], default="upload")
    file = fields.Binary(attachment=False)
    filename = fields.Char()
    company_id = fields.Many2one(
        "res.company",
        default=lambda self: self.env.company,
        help="Company of the contacts created. Leave empty to share them between companies.",
    )
    default_country_id = fields.Many2one(
        "res.country",
        default=lambda self: self.env.company.sms_default_country_id,
        help="Country of numbers written without an international prefix (138 0013 8000).",
    )
    overwrite = fields.Boolean(
        string="Update Names and Emails",
        help="Replace the name and email of existing contacts with the file's values. "
        "When off, only empty emails are filled in; tags are always added, never removed.",
    )
    created_count = fields.Integer(readonly=True)
    updated_count = fields.Integer(readonly=True)
    merged_count = fields.Integer(readonly=True)
    rejected_count = fields.Integer(readonly=True)
    consent_count = fields.Integer(readonly=True)
    not_mobile_count = fields.Integer(readonly=True)
    result_line_ids = fields.One2many(
        "sms.marketing.import.result", "wizard_id", string="Skipped Rows", readonly=True
    )
    rejected_file = fields.Binary(readonly=True, attachment=False)
    rejected_filename = fields.Char(readonly=True)

    # ------------------------------------------------------------------
    # Messages
    # ------------------------------------------------------------------

    def _file_error_message(self, error):
        code, params = error.code, error.params
        messages = {
            importer.ERROR_TOO_LARGE: self.env._(
                "The file is too large (%(size)s MB, the limit is %(limit)s MB). Split it into "
                "several files.",
                size=round(params.get("size", 0) / 1048576, 1),
                limit=round(params.get("limit", 0) / 1048576, 1),
            ),
            importer.ERROR_TOO_MANY_ROWS: self.env._(
                "The file has more than %(limit)s rows. Split it into several files.",
                limit=params.get("limit"),
            ),
            importer.ERROR_EMPTY: self.env._("The file has no data rows below its header line."),
            importer.ERROR_ENCODING: self.env._(
                "The file is neither UTF-8 nor GB18030 text. Save it as CSV UTF-8 or XLSX."
            ),
            importer.ERROR_MALFORMED: self.env._(
                "The file cannot be read as CSV or XLSX (%(detail)s).",
                detail=params.get("detail", ""),
            ),
            importer.ERROR_NO_PHONE_COLUMN: self.env._(
                'No phone column found. Name one column "Phone", "Mobile" or "手机号". '
                "Columns found: %(headers)s",
                headers=", ".join(h for h in params.get("headers", []) if h) or "-",
            ),
            importer.ERROR_DUPLICATE_COLUMN: self.env._(
                'Two columns mean the same thing ("%(column)s"). Keep only one.',
                column=params.get("column"),
            ),
        }
        return messages.get(code, code)

    def _describe(self, rejection):
        """Translated reason for one rejected row."""
        params = rejection.params
        value = params.get("value", "")
        lines = ", ".join(map(str, params.get("lines", [])))
        describe = {
            importer.REASON_NO_NUMBER: lambda: self.env._("No phone number"),
            importer.REASON_INVALID_NUMBER: lambda: self.env._(
                "Invalid phone number: %(value)s", value=value
            ),
            importer.REASON_INVALID_EMAIL: lambda: self.env._(
                "Invalid email address: %(value)s", value=value
            ),
            importer.REASON_UNKNOWN_CONSENT: lambda: self.env._(
                "Unknown consent value: %(value)s (use opt-in, opt-out, pending or leave empty)",
                value=value,
            ),
            importer.REASON_INVALID_DATE: lambda: self.env._(
                "Unreadable consent date: %(value)s (use YYYY-MM-DD)", value=value
            ),
            importer.REASON_FUTURE_DATE: lambda: self.env._(
                "Consent date in the future: %(value)s", value=value
            ),
            importer.REASON_CONFLICT: lambda: self.env._(
                "Conflicts with line(s) %(lines)s for the same number or email", lines=lines
            ),
            importer.REASON_AMBIGUOUS_MATCH: lambda: self.env._(
                "Matches several existing contacts (%(names)s): merge them first",
                names=params.get("names", ""),
            ),
            importer.REASON_SAME_CONTACT: lambda: self.env._(
                "Line(s) %(lines)s of this file update the same existing contact", lines=lines
            ),
        }.get(rejection.code)
        return describe() if describe else rejection.code

    def _reason_label(self, code):
        """Short translated label of a reason, for the summary table."""
        return {
            importer.REASON_NO_NUMBER: self.env._("No phone number"),
            importer.REASON_INVALID_NUMBER: self.env._("Invalid phone number"),
            importer.REASON_INVALID_EMAIL: self.env._("Invalid email address"),
            importer.REASON_UNKNOWN_CONSENT: self.env._("Unknown consent value"),
            importer.REASON_INVALID_DATE: self.env._("Unreadable consent date"),
            importer.REASON_FUTURE_DATE: self.env._("Consent date in the future"),
            importer.REASON_CONFLICT: self.env._("Conflicting rows in the file"),
            importer.REASON_AMBIGUOUS_MATCH: self.env._("Matches several existing contacts"),
            importer.REASON_SAME_CONTACT: self.env._("Several rows for one existing contact"),
        }.get(code, code)

    # ------------------------------------------------------------------
    # Import
    # ------------------------------------------------------------------

    def _max_bytes(self):
        # sudo: reading a technical limit, not user data.
        param = self.env["ir.config_parameter"].sudo().get_param("sms_marketing.import_max_mb")
        return int(float(param or 50) * 1024 * 1024)

    def action_import(self):
        """Run the import and show its report. Raises a ``UserError`` (nothing written) when
        the file as a whole cannot be read."""
        self.ensure_one()
        if not self.file:
            raise UserError(self.env._("Choose a CSV or XLSX file to import."))
        try:
            data = base64.b64decode(self.file, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UserError(self.env._("The uploaded file is corrupted. Upload it again.")) from exc
        filename = os.path.basename(self.filename or "contacts.csv")
        # A parsed file is a million long-lived objects: keep the garbage collector from
        # scanning them again and again while the ORM allocates (15% of a 100,000-row import).
        gc.freeze()
        try:
            try:
                headers, rows = importer.read_table(data, filename, max_bytes=self._max_bytes())
                gc.freeze()
                valid, rejected = importer.parse_rows(
                    headers,
                    rows,
                    default_region=self.default_country_id.code,
                    now=self._naive_utc(fields.Datetime.now()),
                )
            except importer.ImportFileError as exc:
                raise UserError(self._file_error_message(exc)) from exc
            gc.freeze()
            return self._import_rows(filename, headers, valid, rejected)
        finally:
            gc.unfreeze()

    def _import_rows(self, filename, headers, valid, rejected):
        valid, merged, conflicts = importer.resolve_duplicates(valid)
        rejected += conflicts
        matches, match_rejections = self._match_partners(valid)
        rejected += match_rejections
        rejected_lines = {r.line for r in match_rejections}
        valid = [row for row in valid if row.line not in rejected_lines]

        tags = self._get_or_create_tags({tag for row in valid for tag in row.tags})
        new_rows = [row for row in valid if row.line not in matches]
        created, consent_count = self._create_partners(new_rows, tags, filename)
        updated = self._update_partners(
            [(row, matches[row.line]) for row in valid if row.line in matches], tags
        )
        consent_count += self._apply_consent(
            [row for row in valid if row.line in matches], matches, filename
        )

        counts = {}
        for rejection in rejected:
            counts[rejection.code] = counts.get(rejection.code, 0) + 1
        result_lines = [
            fields.Command.create(
                {"reason": self._reason_label(code), "count": count, "code": code}
            )
            for code, count in sorted(counts.items(), key=lambda item: -item[1])
        ]
        base_name = os.path.splitext(filename)[0]
        self.write(
            {
                "state": "done",
                "file": False,
                "created_count": len(created),
                "updated_count": updated,
                "merged_count": len(merged),
                "rejected_count": len(rejected),
                "consent_count": consent_count,
                "not_mobile_count": sum(
                    row.number_type not in core_phone.SMS_CAPABLE_TYPES for row in valid
                ),
                "result_line_ids": result_lines,
                "rejected_file": base64.b64encode(
                    importer.rejected_csv(
                        headers, rejected, self._describe, reason_header=self.env._("Reason")
                    )
                )
                if rejected
                else False,
                "rejected_filename": self.env._("%s - rejected rows.csv", base_name)
                if rejected
                else False,
            }
        )
        _logger.info(
            "SMS contact import %s: %d created, %d updated, %d merged, %d rejected",
            filename,
            len(created),
            updated,
            len(merged),
            len(rejected),
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Import Contacts"),
        }

    def _naive_utc(self, value):
        return value.replace(tzinfo=None) if value.tzinfo else value

    def _match_partners(self, rows):
        """Find the existing contact of each row: same E.164 number first, then same email.

        :return: ``({line: partner_id}, [Rejection])``; rows whose number or email points to
            several contacts, or several rows pointing to one contact, are rejected.
        """
        Partner = self.env["res.partner"]
        # plain tuples, and the cache emptied chunk by chunk: a file may match 100,000 contacts
        by_number, by_email = {}, {}
        numbers = list({row.e164 for row in rows})
        for start in range(0, len(numbers), 10000):
            chunk = numbers[start : start + 10000]
            for partner in Partner.search_fetch(
                [("sms_e164", "in", chunk)], ["sms_e164", "email_normalized", "display_name"]
            ):
                by_number.setdefault(partner.sms_e164, []).append(
                    (partner.id, partner.email_normalized, partner.display_name)
                )
            self.env.invalidate_all()
        emails = list({row.email for row in rows if row.email})
        for start in range(0, len(emails), 10000):
            chunk = emails[start : start + 10000]
            for partner in Partner.search_fetch(
                [("email_normalized", "in", chunk)], ["email_normalized", "display_name"]
            ):
                by_email.setdefault(partner.email_normalized, []).append(
                    (partner.id, partner.email_normalized, partner.display_name)
                )
            self.env.invalidate_all()

        matches, rejections = {}, []
        for row in rows:
            candidates = by_number.get(row.e164) or by_email.get(row.email) or []
            if len(candidates) > 1 and row.email:
                # Several contacts share the number: the one with the row's email is meant.
                same_email = [c for c in candidates if c[1] == row.email]
                candidates = same_email if len(same_email) == 1 else candidates
            if len(candidates) > 1:
                names = ", ".join(name for _id, _email, name in candidates[:5])
                rejections.append(
                    importer.Rejection(
                        row.line, row.cells, importer.REASON_AMBIGUOUS_MATCH, {"names": names}
                    )
                )
            elif candidates:
                matches[row.line] = candidates[0][0]
        lines_by_partner = {}
        for line, partner_id in matches.items():
            lines_by_partner.setdefault(partner_id, []).append(line)
        row_by_line = {row.line: row for row in rows}
        for lines in lines_by_partner.values():
            if len(lines) > 1:
                for line in lines:
                    del matches[line]
                    others = [other for other in lines if other != line]
                    rejections.append(
                        importer.Rejection(
                            line,
                            row_by_line[line].cells,
                            importer.REASON_SAME_CONTACT,
                            {"lines": others},
                        )
                    )
        return matches, rejections

    def _get_or_create_tags(self, names):
        """Return ``{casefolded name: tag id}``, creating missing tags (case-insensitive)."""
        if not names:
            return {}
        Tag = self.env["sms.marketing.tag"].with_context(active_test=False)
        existing = {tag.name.casefold(): tag.id for tag in Tag.search([])}
        missing = {}
        for name in sorted(names):
            if name.casefold() not in existing:
                missing.setdefault(name.casefold(), name)
        if missing:
            for tag in Tag.create([{"name": name} for name in missing.values()]):
                existing[tag.name.casefold()] = tag.id
        return existing

    def _create_partners(self, rows, tags, filename):
        """Create one partner per row, with its consent, in chunks.

        :return: ``(ids, consent_count)``: the partners in the order of ``rows`` and the
            number of consent changes recorded for them
        """
        self.env["res.partner"].check_access("create")
        # sudo: creation rights were just checked and the company is one the user may use
        # (the wizard's own record rule); skipping the per-record rule evaluation matters at
        # 100,000 contacts. create_uid stays the importing user.
        Partner = (
            self.env["res.partner"]
            .sudo()
            .with_context(**BULK_CONTEXT, sms_marketing_defaults_memo={})
        )
        company_id = self.company_id.id or False
        resized_images = [
            field
            for field in Partner._fields.values()
            if field.type == "binary" and field.store and field.related == "image_1920"
        ]
        ids, consent_count = [], 0
        for start in range(0, len(rows), CHUNK):
            vals_list = []
            for row in rows[start : start + CHUNK]:
                vals = {
                    "name": row.name or row.e164,
                    "mobile": row.e164,
                    "email": row.email or False,
                    "company_id": company_id,
                    # Not the importing user's zone (Odoo's default): quiet hours must follow
                    # the contact, i.e. their number, until someone sets their zone.
                    "tz": False,
                    # Odoo precomputes the salesperson from the parent company, building a
                    # throw-away record per contact; imported contacts have no parent.
                    "user_id": False,
                }
                if row.tags:
                    vals["sms_tag_ids"] = [
                        fields.Command.set([tags[tag.casefold()] for tag in row.tags])
                    ]
                vals_list.append(vals)
            created = Partner.create(vals_list)
            # Imported contacts have no image, so the resized copies of it (image_1024 down to
            # image_128, stored as attachments, related to image_1920) are empty by definition.
            # The ORM would still compute them one contact at a time, each computation
            # searching ir.attachment for copies to replace: 11% of a 100,000-row import.
            for field in resized_images:
                self.env.remove_to_compute(field, created)
            chunk_ids = created.ids
            ids += chunk_ids
            # Consent before the flush: the consent fields are then written together with the
            # other computed fields, instead of rewriting every new contact a second time.
            consent_count += self._apply_consent(
                rows[start : start + CHUNK],
                dict(
                    zip((row.line for row in rows[start : start + CHUNK]), chunk_ids, strict=True)
                ),
                filename,
            )
            # Keep memory flat: what is created is flushed and forgotten chunk by chunk.
            self.env.flush_all()
            self.env.invalidate_all()
        return ids, consent_count

    def _update_partners(self, pairs, tags):
        """Add tags, fill emails (or overwrite names and emails), set the number if matched by
        email. Partners needing the same values are written together. Returns the count."""
        Partner = self.env["res.partner"].with_context(**BULK_CONTEXT)
        groups = {}
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start : start + CHUNK]
            partners = Partner.browse([pid for _row, pid in chunk])
            partners.fetch(["name", "email", "sms_e164", "sms_tag_ids"])
            for row, pid in chunk:
                partner = Partner.browse(pid)
                vals = {}
                if row.tags:
                    wanted = {tags[tag.casefold()] for tag in row.tags}
                    new = sorted(wanted - set(partner.sms_tag_ids.ids))
                    if new:
                        vals["sms_tag_ids"] = tuple(fields.Command.link(t) for t in new)
                fill_email = self.overwrite or not partner.email
                if row.email and fill_email and partner.email != row.email:
                    vals["email"] = row.email
                if self.overwrite and row.name and row.name != partner.name:
                    vals["name"] = row.name
                if partner.sms_e164 != row.e164:
                    vals["mobile"] = row.e164
                if vals:
                    groups.setdefault(tuple(sorted(vals.items())), []).append(pid)
        for key, ids in groups.items():
            vals = {name: list(value) if name == "sms_tag_ids" else value for name, value in key}
            for start in range(0, len(ids), CHUNK):
                Partner.browse(ids[start : start + CHUNK]).write(vals)
        return len(pairs)

    def _apply_consent(self, rows, partner_by_line, filename):
        """Record the file's consent values in the ledger, skipping those already in effect.

        :param list rows: the rows (only those with a consent value are used)
        :param dict partner_by_line: ``{line: partner id}``
        :return: the number of consent changes recorded
        """
        state_of = {
            importer.CONSENT_OPT_IN: "opted_in",
            importer.CONSENT_OPT_OUT: "opted_out",
            importer.CONSENT_PENDING: "pending",
        }
        rows = [row for row in rows if row.consent]
        # One recordset, so states are read in batches rather than one query per contact.
        partners = self.env["res.partner"].browse([partner_by_line[row.line] for row in rows])
        by_id = {partner.id: partner for partner in partners}
        evidence_of_line = self.env._("Imported from %(file)s, line %(line)s")
        declared = self.env._("Declared source: %s")
        tz = pytz.timezone(self.env.user.tz or "UTC")
        entries = []
        for row in rows:
            partner = by_id[partner_by_line[row.line]]
            if partner.sms_consent_state == state_of[row.consent]:
                continue
            evidence = evidence_of_line % {"file": filename, "line": row.line}
            if row.consent_source:
                evidence += "\n" + declared % row.consent_source
            consent_date = row.consent_date and (
                # file dates are in the importing user's time zone; the database keeps UTC
                tz.localize(row.consent_date).astimezone(pytz.utc).replace(tzinfo=None)
            )
            entries.append(
                {
                    "partner": partner,
                    "action": row.consent,
                    "source": "import",
                    "evidence": evidence,
                    "consent_date": consent_date,
                }
            )
        self.env["res.partner"]._sms_consent_apply(entries, log_blacklist=False)
        return len(entries)

    def action_download_rejected(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self._name}/{self.id}/rejected_file/"
            f"{self.rejected_filename}?download=true",
            "target": "self",
        }

    @api.model
    def action_open(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Import Contacts"),
        }


class SmsMarketingImportResult(models.TransientModel):
    """One line of an import report: how many rows were skipped for one reason."""

    _name = "sms.marketing.import.result"
    _description = "SMS Contact Import Result"
    _order = "count desc"

    wizard_id = fields.Many2one("sms.marketing.import", required=True, ondelete="cascade")
    code = fields.Char()
    reason = fields.Char(required=True)
    count = fields.Integer(required=True)
