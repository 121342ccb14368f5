"""SMPP 3.4 gateway client: binds to an SMSC over TCP as a transceiver (ESME role).

Built on ``smpplib`` (its PDU classes encode and decode every PDU; the session, the window
and the socket reads are ours, because ``smpplib.client.Client`` reads one blocking PDU at a
time and could not keep several submits in flight or match answers by sequence number).
Section numbers below are those of the SMPP v3.4 specification (Issue 1.2).

Settings
--------
``host``, ``port``, ``system_id``, ``password`` (required); ``system_type`` (optional, sent
in the bind); ``sender`` (the default ``source_addr``; :class:`OutboundSms` ``sender``
overrides it); ``source_ton``/``source_npi`` (default: alphanumeric sender -> TON 5
alphanumeric / NPI 0 unknown, numeric sender -> TON 1 international / NPI 1 ISDN, §5.2.5
and §5.2.6; no sender -> 0/0 and the SMSC fills its default); ``dest_ton``/``dest_npi``
(default 1/1: the E.164 digits are sent without the ``+``); ``window`` (most ``submit_sm``
awaiting their ``submit_sm_resp`` at once, default 10); ``registered_delivery`` (default 1:
an SMSC delivery receipt for the final outcome, §5.2.17). Lengths are checked against the
C-Octet String limits of §4.1.5 (``system_id`` 15, ``password`` 8, ``system_type`` 12
characters) and an alphanumeric sender is limited to 11 characters (3GPP TS 23.040), so a
setting that ``smpplib`` would silently truncate is a :class:`GatewayConfigError` instead.

Session (§2.2 session states, §4.1.5/§4.1.6 bind_transceiver, §4.2 unbind)
-------------------------------------------------------------------------
The client connects and sends ``bind_transceiver`` lazily, on the first :meth:`send` or
:meth:`receive`, then keeps the bind for the life of the object: the dispatcher creates one
client per run and calls :meth:`close`, which sends ``unbind``, waits up to ``timeout`` for
``unbind_resp`` (an SMSC that just closes the socket, as some do, is fine too) and
disconnects. A bind refused with ``ESME_RBINDFAIL``/``ESME_RINVPASWD``/``ESME_RINVSYSID``
fails every message of the call as retryable ``auth_failed``; other refusals as retryable
``server_error``; a refused or reset connection as retryable ``network``; a connect or bind
that times out as retryable ``timeout``. A bind is attempted once per :meth:`send` call:
after a failure the next call tries again.

If the connection drops (the SMSC closed it, a reset, or an SMSC-initiated ``unbind``, which
is answered with ``unbind_resp``), the client reconnects and rebinds once within the same
:meth:`send` call and goes on with the messages not yet submitted. Messages whose
``submit_sm`` was written but not answered when it dropped are reported ``AMBIGUOUS``
``network``: the SMSC may have taken them, so they must not be resent, and nothing
unconfirmed is ever reported accepted. A ``submit_sm`` whose writing failed never reached the
SMSC whole and stays retryable, as do the messages not yet written when the second drop of a
call (or a failed rebind) stops the batch. A stale connection (closed by the SMSC while idle)
is detected before submitting and silently replaced.

Requests from the SMSC are always answered: ``deliver_sm``/``data_sm`` with
``deliver_sm_resp``/``data_sm_resp`` (§4.6.2, §4.7.2), ``enquire_link`` with
``enquire_link_resp`` (§4.11), ``unbind`` with ``unbind_resp``, an unknown command with
``generic_nack`` ``ESME_RINVCMDID``; ``alert_notification`` (§4.12) needs no answer. While
:meth:`close` waits for ``unbind_resp``, a ``deliver_sm`` is answered ``ESME_RX_T_APPN``
(temporary application error) so the SMSC keeps it and delivers it again on the next bind:
nothing is acknowledged that no one will read.

Sending (§4.4 submit_sm)
------------------------
:attr:`max_batch` is 100. Each message becomes one ``submit_sm`` per part:

* Encoding follows :func:`encoding.analyze`: GSM-7 as ``data_coding`` 0 (SMSC default
  alphabet, §5.2.19) with one unpacked septet per octet, extension characters as ESC + code
  (3GPP TS 23.038 §6.2.1.1), or UCS-2 as ``data_coding`` 8, UTF-16 big-endian.
  ``smpplib.gsm`` is not used: its table maps the backtick where GSM has ``§`` and can cut an
  escape sequence in two; the parts come from :func:`encoding.split_segments`, the same cutter
  that counts segments on the Odoo side.
* A message of more than one part is sent as concatenated parts, each starting with the
  6-octet User Data Header ``05 00 03 ref total seq`` (3GPP TS 23.040 §9.2.3.24.1, 8-bit
  reference) and ``esm_class`` 0x40 (UDHI, §5.2.12): at most 153 septets or 67 UCS-2 units
  per part. ``ref`` is a per-client counter (random start) so consecutive long messages to
  one phone never share one. ``SendResult.segments`` is the number of parts.
* Up to ``window`` submits are kept in flight (SMPP allows asynchronous requests; the window
  is agreed with the provider, not negotiated). Each ``submit_sm_resp`` (or ``generic_nack``)
  is matched to its part by ``sequence_number`` (§5.1.4), never by arrival order.
* ``provider_id`` is the ``message_id`` of the **first part's** ``submit_sm_resp``: it is what
  the SMSC echoes in the receipt of that part, and one id per message is what the Odoo layer
  stores. The other parts' ids are kept for the life of the client so their receipts are
  recognised and dropped: a message's status is its first part's receipt.
* A part refused makes the whole message fail with that error (its later parts are not sent).
* A part whose response does not come within ``timeout`` seconds of its sending fails the
  message as ``AMBIGUOUS`` ``timeout`` (the SMSC may have taken it: never resent
  automatically); a response arriving later is ignored (logged). The rest of the batch is
  then not submitted (retryable ``timeout``: those were never written): an SMSC that stopped
  answering costs one timeout per call, not one per window of messages.
* A message's outcome is its most serious part's: a part refused as ``PERMANENT`` makes it
  permanent; otherwise any part written and left unanswered (timeout, connection lost) makes
  it ``AMBIGUOUS``, even if another part was refused as retryable, since a part may have
  reached the handset; only a message none of whose parts is in doubt can be retryable.

``command_status`` (§5.1.3, table 5-2) is mapped as: ``ESME_ROK`` accepted;
``ESME_RTHROTTLED`` (0x58) and ``ESME_RMSGQFUL`` (0x14) retryable ``rate_limited``, and the
rest of the batch is then not submitted (reported retryable ``rate_limited`` as well) so a
throttling SMSC is not hammered; ``ESME_RINVDSTADR`` (0x0B) permanent ``invalid_number``;
``ESME_RSYSERR`` (0x08), ``ESME_RSUBMITFAIL`` (0x45), ``ESME_RINVBNDSTS`` (0x04),
``ESME_RX_T_APPN`` (0x64) and ``ESME_RUNKNOWNERR`` (0xFF) retryable ``server_error``;
``ESME_RINVSRCADR`` (0x0A) and the other validation errors of table 5-2 permanent
``rejected``; vendor-specific codes (0x400 and up) permanent ``unknown``. ``error_message``
carries the hexadecimal status and its description. Messages that cannot be encoded as SMPP
(no destination digits, an unusable sender, an empty body, more than 255 parts) are refused
as permanent errors without contacting the SMSC.

Receiving (§4.6 deliver_sm, §4.7 data_sm)
-----------------------------------------
:meth:`receive` (an extra method of this client, outside :class:`GatewayClient`) reads what
the SMSC pushed and returns ``(reports, inbound)``. It never blocks longer than ``timeout``
seconds, and returns earlier once it has something and the link has then been quiet for
0.2 s (``timeout=0`` only takes what is already readable). A ``deliver_sm``
arriving while :meth:`send` waits for its responses is answered at once and buffered, so the
next :meth:`receive` returns it; as they are already acknowledged, a caller that sends should
call ``receive(0)`` before :meth:`close` or they are lost (:meth:`close` logs it). If the
client cannot bind and has nothing buffered,
:meth:`receive` raises :class:`SmppSessionError` (a :class:`GatewayError`); a connection
lost while reading is logged and the next call reconnects.

* ``esm_class`` message type (bits 5-2, §5.2.12) 0x04 (SMSC delivery receipt) or 0x20
  (intermediate notification) is a :class:`StatusReport`. The id is the
  ``receipted_message_id`` TLV (§5.3.2.12) when present, else ``id:`` of the receipt text
  (Appendix B: ``id:… sub:… dlvrd:… submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:…
  err:… text:…``, keys case-insensitive); the status is the ``message_state`` TLV
  (§5.3.2.35, values of §5.2.28) when present, else ``stat:``: DELIVRD/DELIVERED ->
  delivered, UNDELIV/UNDELIVERABLE/EXPIRED -> undelivered, REJECTD/DELETED/UNKNOWN ->
  failed, ACCEPTD/ENROUTE -> sent. ``error_code`` is ``err:`` (or the
  ``network_error_code`` TLV, §5.3.2.31, as ``type:code``) for non-delivered outcomes,
  ``error_message`` the state word, ``occurred_at`` the ``done date`` (naive, in the SMSC's
  clock), ``to`` the handset (``source_addr`` of the receipt). Receipt text is read as
  Latin-1. A receipt with no usable id or state is answered and skipped (logged).
* SME acknowledgements (types 0x08, 0x10) are answered and ignored.
* Any other ``deliver_sm``/``data_sm`` is an :class:`InboundSms`. ``short_message`` (or the
  ``message_payload`` TLV) is decoded by ``data_coding``: 0 (and 0xF0-0xF3) GSM-7 unpacked
  septets (falling back to Latin-1 if an octet is above 0x7F, as some SMSCs send Latin-1
  under the default alphabet), 1 ASCII, 3 Latin-1, 8 UCS-2 big-endian, anything else
  Latin-1. ``sender`` is ``+`` and the digits when ``source_addr_ton`` is 1 (international),
  else ``source_addr`` as given; ``to`` likewise. Concatenated MO (UDH IE 0x00 or 0x08, or
  the ``sar_*`` TLVs of §5.3.2.22-24) is reassembled before decoding; parts whose siblings
  never came are returned as they are after :meth:`close`.

Not thread-safe: one client per thread, as the dispatcher uses it.
"""

import contextlib
import logging
import random
import re
import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from smpplib import command as smpp_command
from smpplib import command_codes as smpp_command_codes
from smpplib import consts as smpp_consts
from smpplib import exceptions as smpp_exceptions
from smpplib.client import SimpleSequenceGenerator
from smpplib.ptypes import ostr

from .. import encoding
from .base import (
    AMBIGUOUS,
    ERR_AUTH,
    ERR_INVALID_NUMBER,
    ERR_NETWORK,
    ERR_RATE_LIMITED,
    ERR_REJECTED,
    ERR_SERVER,
    ERR_TIMEOUT,
    ERR_UNKNOWN,
    PERMANENT,
    RETRYABLE,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_SENT,
    STATUS_UNDELIVERED,
    GatewayClient,
    GatewayConfigError,
    GatewayError,
    InboundSms,
    SendResult,
    StatusReport,
    e164,
    register,
)

_logger = logging.getLogger(__name__)

ESME_ROK = smpp_consts.SMPP_ESME_ROK
ESME_RINVCMDID = smpp_consts.SMPP_ESME_RINVCMDID
ESME_RSYSERR = smpp_consts.SMPP_ESME_RSYSERR
ESME_RX_T_APPN = smpp_consts.SMPP_ESME_RX_T_APPN

#: command_status -> (error kind, error code); see the module docstring.
STATUS_ERRORS = {
    smpp_consts.SMPP_ESME_RTHROTTLED: (RETRYABLE, ERR_RATE_LIMITED),
    smpp_consts.SMPP_ESME_RMSGQFUL: (RETRYABLE, ERR_RATE_LIMITED),
    smpp_consts.SMPP_ESME_RINVDSTADR: (PERMANENT, ERR_INVALID_NUMBER),
    smpp_consts.SMPP_ESME_RSYSERR: (RETRYABLE, ERR_SERVER),
    smpp_consts.SMPP_ESME_RSUBMITFAIL: (RETRYABLE, ERR_SERVER),
    smpp_consts.SMPP_ESME_RINVBNDSTS: (RETRYABLE, ERR_SERVER),
    smpp_consts.SMPP_ESME_RX_T_APPN: (RETRYABLE, ERR_SERVER),
    smpp_consts.SMPP_ESME_RUNKNOWNERR: (RETRYABLE, ERR_SERVER),
    smpp_consts.SMPP_ESME_RINVSRCADR: (PERMANENT, ERR_REJECTED),
    smpp_consts.SMPP_ESME_RBINDFAIL: (RETRYABLE, ERR_AUTH),
    smpp_consts.SMPP_ESME_RINVPASWD: (RETRYABLE, ERR_AUTH),
    smpp_consts.SMPP_ESME_RINVSYSID: (RETRYABLE, ERR_AUTH),
}
_VENDOR_STATUS_START = 0x400

# esm_class message type bits for deliver_sm (§5.2.12).
_ESM_TYPE_MASK = 0x3C
_ESM_DELIVERY_RECEIPT = 0x04
_ESM_INTERMEDIATE_NOTIFICATION = 0x20
_ESM_SME_ACKS = (0x08, 0x10, 0x18)
_ESM_UDHI = 0x40

_DC_DEFAULT = 0x00
_DC_IA5 = 0x01
_DC_LATIN1 = 0x03
_DC_UCS2 = 0x08

_TON_INTERNATIONAL = 1
_TON_ALPHANUMERIC = 5
_NPI_ISDN = 1

#: message_state TLV values (§5.2.28) -> (our status, state word).
MESSAGE_STATES = {
    1: (STATUS_SENT, "ENROUTE"),
    2: (STATUS_DELIVERED, "DELIVERED"),
    3: (STATUS_UNDELIVERED, "EXPIRED"),
    4: (STATUS_FAILED, "DELETED"),
    5: (STATUS_UNDELIVERED, "UNDELIVERABLE"),
    6: (STATUS_SENT, "ACCEPTED"),
    7: (STATUS_FAILED, "UNKNOWN"),
    8: (STATUS_FAILED, "REJECTED"),
}
#: ``stat:`` words of the receipt text (Appendix B; long forms seen in the wild too).
RECEIPT_STATS = {
    "DELIVRD": STATUS_DELIVERED,
    "DELIVERED": STATUS_DELIVERED,
    "UNDELIV": STATUS_UNDELIVERED,
    "UNDELIVERABLE": STATUS_UNDELIVERED,
    "EXPIRED": STATUS_UNDELIVERED,
    "REJECTD": STATUS_FAILED,
    "REJECTED": STATUS_FAILED,
    "DELETED": STATUS_FAILED,
    "UNKNOWN": STATUS_FAILED,
    "ACCEPTD": STATUS_SENT,
    "ACCEPTED": STATUS_SENT,
    "ENROUTE": STATUS_SENT,
}

_RECEIPT_KEY = re.compile(r"(?i)(?:^|(?<=\s))(id|sub|dlvrd|submit date|done date|stat|err|text):")
_MAX_PDU_LENGTH = 65536
_QUIET_GAP = 0.2  # seconds without a PDU that end a receive() once something came
_MAX_PARTS = 255
_ALPHANUMERIC_SENDER_MAX = 11
_ADDRESS_MAX = 20  # source_addr / destination_addr: C-Octet String of 21 (§4.4.1)

# GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1), code-point order; 0x1B is the escape.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table (§6.2.1.1): character -> code following ESC.
_GSM_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_ENCODE = {ch: bytes([code]) for code, ch in enumerate(_GSM_BASIC) if ch != "\x1b"}
_GSM_ENCODE.update({ch: bytes([0x1B, code]) for ch, code in _GSM_EXTENSION.items()})
_GSM_EXTENSION_DECODE = {code: ch for ch, code in _GSM_EXTENSION.items()}


class SmppSessionError(GatewayError):
    """:meth:`SmppClient.receive` could not connect or bind; ``error_code`` is one of the
    ``ERR_*`` constants (``auth_failed``, ``network``, ``timeout``, ``server_error``)."""

    def __init__(self, message, error_code):
        super().__init__(message)
        self.error_code = error_code


class _ConnectionLost(Exception):
    def __init__(self, message, code=ERR_NETWORK):
        super().__init__(message)
        self.code = code


#: How serious a part's failure is for its message: the most serious one is reported.
_KIND_RANK = {RETRYABLE: 1, AMBIGUOUS: 2, PERMANENT: 3}


@dataclass(frozen=True)
class _Failure:
    kind: str
    code: str
    text: str


@dataclass
class _Job:
    """One message being submitted: its parts' PDU fields and what came back."""

    message: object
    parts: list
    ids: list = field(default_factory=list)
    next_part: int = 0
    answered: int = 0
    result: SendResult | None = None

    def fail(self, kind, code, text, retry_after=None):
        """Fail the message, unless it already failed as seriously (see :data:`_KIND_RANK`):
        a retryable refusal of one part becomes ambiguous when another part goes unanswered,
        and a permanent refusal stays permanent whatever happens to the other parts. Once a
        part was accepted, a retryable failure is ambiguous too: sending the message again
        would deliver the accepted parts a second time."""
        if kind == RETRYABLE and self.answered:
            kind = AMBIGUOUS
        current = self.result
        if current is None or (
            not current.accepted and _KIND_RANK[kind] > _KIND_RANK[current.error_kind]
        ):
            self.result = SendResult.error(self.message, kind, code, text, retry_after)


class _NoSequence:
    """Sequence source for PDUs we parse or answer: their number comes from the wire."""

    sequence = 0

    def next_sequence(self):
        return 0


_NO_SEQUENCE = _NoSequence()


# -- pure helpers (tested directly) ----------------------------------------------------------


def gsm_encode(text):
    """GSM-7 text as unpacked septets, one per octet (extension characters as ESC + code).

    Raises ``KeyError`` for a character outside the GSM 03.38 tables; callers only pass text
    that :func:`encoding.is_gsm7` accepts.
    """
    return b"".join(map(_GSM_ENCODE.__getitem__, text))


def gsm_decode(data):
    """Unpacked GSM-7 septets to text; an unknown escape gives the basic character."""
    out = []
    escape = False
    for octet in data:
        septet = octet & 0x7F
        if escape:
            out.append(_GSM_EXTENSION_DECODE.get(septet, _GSM_BASIC[septet]))
            escape = False
        elif septet == 0x1B:
            escape = True
        else:
            out.append(_GSM_BASIC[septet])
    return "".join(out)


def decode_short_message(data, data_coding):
    """Text of an MO ``short_message`` by its ``data_coding`` (see the module docstring)."""
    data = bytes(data or b"")
    if data_coding == _DC_DEFAULT or 0xF0 <= data_coding <= 0xF3:
        if any(octet > 0x7F for octet in data):
            return data.decode("latin-1")
        return gsm_decode(data)
    if data_coding == _DC_IA5:
        return data.decode("ascii", "replace")
    if data_coding == _DC_UCS2:
        return data.decode("utf-16-be", "replace")
    return data.decode("latin-1")


def parse_receipt_text(text):
    """Fields of an Appendix B delivery receipt text, keyed in lower case with ``_`` for
    spaces (``id``, ``sub``, ``dlvrd``, ``submit_date``, ``done_date``, ``stat``, ``err``,
    ``text``); missing fields are absent."""
    matches = list(_RECEIPT_KEY.finditer(text or ""))
    fields = {}
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
        key = match.group(1).lower().replace(" ", "_")
        value = text[match.end() : end].strip()
        if key != "text":
            value = value.split()[0] if value else ""
        fields.setdefault(key, value)
    return fields


def parse_receipt_date(value):
    """``YYMMDDhhmm`` (or with seconds) as a naive datetime; ``None`` when malformed."""
    for pattern, length in (("%y%m%d%H%M%S", 12), ("%y%m%d%H%M", 10)):
        if value and len(value) == length and value.isdigit():
            try:
                return datetime.strptime(value, pattern)
            except ValueError:
                return None
    return None


def status_error(status):
    """``(kind, code, text)`` for a non-zero ``command_status``."""
    kind, code = STATUS_ERRORS.get(status, (None, None))
    if kind is None:
        kind, code = (PERMANENT, ERR_UNKNOWN if status >= _VENDOR_STATUS_START else ERR_REJECTED)
    description = smpp_consts.DESCRIPTIONS.get(status, "vendor-specific or unknown status")
    return kind, code, f"SMPP 0x{status:08X}: {description}"


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def _address(raw, ton):
    text = _text(raw).strip()
    if ton == _TON_INTERNATIONAL and text:
        return e164(text) or text
    return text


def _concatenation(udh):
    """(reference, total, sequence) from a User Data Header, or ``None``."""
    position = 0
    while position + 2 <= len(udh):
        iei, length = udh[position], udh[position + 1]
        value = udh[position + 2 : position + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4 and len(value) == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        position += 2 + length
    return None


def _int_setting(settings, key, default, low, high):
    value = settings.get(key)
    if value is None or value is False or value == "":  # False: an empty Odoo field
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GatewayConfigError(f"{key} must be an integer", field=key) from None
    if not low <= number <= high:
        raise GatewayConfigError(f"{key} must be between {low} and {high}", field=key)
    return number


def _str_setting(settings, key, max_length, strip=True):
    value = str(settings.get(key) or "")
    if strip:
        value = value.strip()
    if len(value) > max_length or not value.isascii():
        raise GatewayConfigError(
            f"{key} must be at most {max_length} ASCII characters (SMPP 3.4 §4.1.5)", field=key
        )
    return value


@register
class SmppClient(GatewayClient):
    """SMPP 3.4 transceiver; see the module docstring for settings and behaviour."""

    code = "smpp"
    max_batch = 100
    required_settings = ("host", "port", "system_id", "password")
    #: Reports and MO come over the bind itself (:meth:`receive`), never by webhook.
    receives_webhooks = False

    def __init__(self, settings, session=None, timeout=10.0):
        super().__init__(settings, session=session, timeout=timeout)
        settings = self.settings
        self.host = str(settings["host"]).strip()
        self.port = _int_setting(settings, "port", None, 1, 65535)
        self.system_id = _str_setting(settings, "system_id", 15)
        self.password = _str_setting(settings, "password", 8, strip=False)
        self.system_type = _str_setting(settings, "system_type", 12)
        self.source_ton = _int_setting(settings, "source_ton", None, 0, 255)
        self.source_npi = _int_setting(settings, "source_npi", None, 0, 255)
        self.dest_ton = _int_setting(settings, "dest_ton", _TON_INTERNATIONAL, 0, 255)
        self.dest_npi = _int_setting(settings, "dest_npi", _NPI_ISDN, 0, 255)
        self.window = _int_setting(settings, "window", 10, 1, 10000)
        self.registered_delivery = _int_setting(settings, "registered_delivery", 1, 0, 255)
        self.sender = str(settings.get("sender") or "").strip()
        try:
            self._source_address(self.sender)
        except ValueError as exc:
            raise GatewayConfigError(str(exc), field="sender") from None

        self._sock = None
        self._rbuf = bytearray()
        self._sequence = SimpleSequenceGenerator()
        self._closing = False
        self._reports = []
        self._inbound = []
        self._fragments = {}
        #: message_id of a later part -> message_id of its message's first part.
        self._secondary_parts = {}
        self._udh_reference = random.randrange(256)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    # -- sending ----------------------------------------------------------------------------

    def send(self, messages):
        messages = list(messages)
        results = [None] * len(messages)
        jobs = []
        for index, message in enumerate(messages):
            prepared = self._prepare(message)
            if isinstance(prepared, SendResult):
                results[index] = prepared
            else:
                jobs.append((index, prepared))
        if jobs:
            self._submit([job for _index, job in jobs])
            for index, job in jobs:
                results[index] = job.result
        return results

    def _source_address(self, sender):
        """(source_addr, ton, npi) for ``sender``; raises ``ValueError`` when unusable."""
        sender = (sender or "").strip()
        compact = re.sub(r"[\s\-().]", "", sender)
        digits = compact[1:] if compact.startswith("+") else compact
        if not sender:
            address, ton, npi = "", 0, 0
        elif digits.isascii() and digits.isdigit():
            if len(digits) > _ADDRESS_MAX:
                raise ValueError(f"numeric sender {sender!r} is longer than {_ADDRESS_MAX}")
            address, ton, npi = digits, _TON_INTERNATIONAL, _NPI_ISDN
        else:
            if len(sender) > _ALPHANUMERIC_SENDER_MAX or not sender.isascii():
                raise ValueError(
                    f"alphanumeric sender {sender!r} must be at most "
                    f"{_ALPHANUMERIC_SENDER_MAX} ASCII characters"
                )
            address, ton, npi = sender, _TON_ALPHANUMERIC, 0
        if self.source_ton is not None:
            ton = self.source_ton
        if self.source_npi is not None:
            npi = self.source_npi
        return address, ton, npi

    def _next_udh_reference(self):
        self._udh_reference = (self._udh_reference + 1) % 256
        return self._udh_reference

    def _prepare(self, message):
        """A :class:`_Job` with one ``submit_sm`` field set per part, or the error result."""
        destination = "".join(ch for ch in str(message.to or "") if ch.isdigit())
        if not destination.isascii() or not 1 <= len(destination) <= _ADDRESS_MAX:
            return SendResult.error(
                message, PERMANENT, ERR_INVALID_NUMBER, f"no usable destination in {message.to!r}"
            )
        try:
            source, source_ton, source_npi = self._source_address(message.sender or self.sender)
        except ValueError as exc:
            return SendResult.error(message, PERMANENT, ERR_REJECTED, str(exc))
        info = encoding.analyze(message.body or "")
        if not info.segments:
            return SendResult.error(message, PERMANENT, ERR_REJECTED, "empty message body")
        texts = encoding.split_segments(message.body)
        if len(texts) > _MAX_PARTS:
            return SendResult.error(
                message, PERMANENT, ERR_REJECTED, f"{len(texts)} parts: SMS allows {_MAX_PARTS}"
            )
        if info.encoding == encoding.GSM7:
            data_coding, payloads = _DC_DEFAULT, [gsm_encode(text) for text in texts]
        else:
            data_coding = _DC_UCS2
            payloads = [text.encode("utf-16-be", "surrogatepass") for text in texts]
        esm_class = 0
        if len(payloads) > 1:
            reference = self._next_udh_reference()
            total = len(payloads)
            payloads = [
                bytes([0x05, 0x00, 0x03, reference, total, number]) + payload
                for number, payload in enumerate(payloads, start=1)
            ]
            esm_class = _ESM_UDHI
        parts = [
            {
                "source_addr_ton": source_ton,
                "source_addr_npi": source_npi,
                "source_addr": source,
                "dest_addr_ton": self.dest_ton,
                "dest_addr_npi": self.dest_npi,
                "destination_addr": destination,
                "esm_class": esm_class,
                "registered_delivery": self.registered_delivery,
                "data_coding": data_coding,
                "short_message": payload,
            }
            for payload in payloads
        ]
        return _Job(message, parts, ids=[None] * len(parts))

    def _submit(self, jobs):
        """Submit every part of ``jobs`` with at most ``window`` unanswered; fills results."""
        pending = deque(jobs)
        inflight = {}  # sequence_number -> (job, part index, deadline)
        reconnects = 1
        stop = None  # _Failure for everything not submitted once set

        if self._sock is not None:  # a reused bind: take what waits, notice a dead socket
            try:
                self._pump(time.monotonic())
            except _ConnectionLost as lost:
                _logger.info("SMPP connection to %s:%s was lost while idle: %s", *self._at, lost)
                self._drop()

        def lose_connection(lost):
            nonlocal reconnects, stop
            _logger.warning("SMPP connection to %s:%s lost: %s", *self._at, lost)
            self._drop()
            for job, part, _deadline in inflight.values():
                # written, unanswered: the SMSC may have taken it, so it must not be resent
                job.fail(
                    AMBIGUOUS,
                    lost.code,
                    f"connection lost before submit_sm_resp of part {part + 1}: {lost}",
                )
            inflight.clear()
            if reconnects:
                reconnects -= 1
            else:
                stop = _Failure(RETRYABLE, lost.code, f"connection lost again: {lost}")

        while True:
            while pending and stop is None and len(inflight) < self.window:
                job = pending[0]
                if job.result is not None:
                    pending.popleft()
                    continue
                if self._sock is None:
                    failure = self._connect_and_bind()
                    if failure is not None:
                        stop = failure
                        break
                pdu = self._make("submit_sm", **job.parts[job.next_part])
                part = job.next_part
                job.next_part += 1
                if job.next_part == len(job.parts):
                    pending.popleft()
                try:
                    self._write(pdu)
                except _ConnectionLost as lost:
                    # sendall() failed before the last octet left: the SMSC never got a whole
                    # PDU; other parts of the message still in flight make it ambiguous
                    job.fail(RETRYABLE, lost.code, f"connection lost sending part {part + 1}")
                    lose_connection(lost)
                    continue
                inflight[pdu.sequence] = (job, part, time.monotonic() + self.timeout)
            if not inflight:
                break
            try:
                pdu = self._read(min(deadline for _job, _part, deadline in inflight.values()))
            except _ConnectionLost as lost:
                lose_connection(lost)
                continue
            if pdu is None:
                now = time.monotonic()
                for sequence, (job, part, deadline) in list(inflight.items()):
                    if deadline <= now:
                        del inflight[sequence]
                        job.fail(
                            AMBIGUOUS,
                            ERR_TIMEOUT,
                            f"no submit_sm_resp for part {part + 1} within {self.timeout:g}s",
                        )
                        if stop is None:
                            stop = _Failure(
                                RETRYABLE, ERR_TIMEOUT, "not submitted: the SMSC stopped answering"
                            )
                continue
            entry = None
            if pdu.command in ("submit_sm_resp", "generic_nack"):
                entry = inflight.pop(pdu.sequence, None)
            if entry is None:
                try:
                    self._handle_incoming(pdu)
                except _ConnectionLost as lost:
                    lose_connection(lost)
                continue
            job, part, _deadline = entry
            if pdu.status == ESME_ROK:
                job.ids[part] = _text(getattr(pdu, "message_id", None)) or None
                job.answered += 1
                if job.answered == len(job.parts) and job.result is None:
                    self._accept(job)
                continue
            kind, code, text = status_error(pdu.status)
            job.fail(kind, code, f"part {part + 1}/{len(job.parts)}: {text}")
            if code == ERR_RATE_LIMITED and stop is None:
                stop = _Failure(
                    RETRYABLE, ERR_RATE_LIMITED, f"not submitted, SMSC throttling: {text}"
                )

        for job in jobs:
            if job.result is None:  # parts never written: bind failure, throttling, timeout
                failure = stop or _Failure(RETRYABLE, ERR_UNKNOWN, "not submitted")
                job.fail(failure.kind, failure.code, failure.text)

    def _accept(self, job):
        provider_id = job.ids[0]
        for other in job.ids[1:]:
            if other and other != provider_id:
                self._secondary_parts[other] = provider_id
        job.result = SendResult.ok(job.message, provider_id, segments=len(job.parts))

    # -- receiving --------------------------------------------------------------------------

    def receive(self, timeout=0.0):
        """Delivery reports and inbound messages pushed by the SMSC: ``(reports, inbound)``.

        Blocks at most ``timeout`` seconds; returns earlier once something came and the link
        has been quiet for 0.2 s. Binds first when not bound; raises
        :class:`SmppSessionError` when it cannot and nothing is buffered.
        """
        deadline = time.monotonic() + max(0.0, float(timeout or 0.0))
        if self._sock is None and not self._buffered():
            failure = self._connect_and_bind()
            if failure is not None:
                raise SmppSessionError(failure.text, failure.code)
        if self._sock is not None:
            try:
                self._pump(deadline)
            except _ConnectionLost as lost:
                _logger.warning("SMPP connection to %s:%s lost: %s", *self._at, lost)
                self._drop()
        reports, inbound = self._reports, self._inbound
        self._reports, self._inbound = [], []
        return reports, inbound

    def _buffered(self):
        return bool(self._reports or self._inbound)

    def _pump(self, deadline):
        """Handle incoming PDUs until ``deadline``, or, once something is buffered, until
        the link has been quiet for :data:`_QUIET_GAP` seconds (an SMSC paces its
        ``deliver_sm`` by its own window, so a burst arrives as a train, not all at once)."""
        while True:
            wait_until = deadline
            if self._buffered():
                wait_until = min(deadline, time.monotonic() + _QUIET_GAP)
            pdu = self._read(wait_until)
            if pdu is None:
                return
            self._handle_incoming(pdu)

    def _handle_incoming(self, pdu):
        """Answer a request from the SMSC (buffering what it carries) or log a stray
        response; raises :class:`_ConnectionLost` when the SMSC unbinds."""
        command = pdu.command
        if command in ("deliver_sm", "data_sm"):
            if self._closing:
                self._respond(f"{command}_resp", pdu.sequence, ESME_RX_T_APPN)
                return
            try:
                self._absorb(pdu)
            except Exception:
                _logger.exception("SMPP %s could not be read; acknowledged anyway", command)
            self._respond(f"{command}_resp", pdu.sequence)
        elif command == "enquire_link":
            self._respond("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._respond("unbind_resp", pdu.sequence)
            raise _ConnectionLost("the SMSC unbound the session")
        elif command == "alert_notification" or pdu.is_response():
            _logger.debug("SMPP %s (sequence %s) ignored", command, pdu.sequence)
        else:
            self._respond("generic_nack", pdu.sequence, ESME_RINVCMDID)

    def _absorb(self, pdu):
        message_type = (pdu.esm_class or 0) & _ESM_TYPE_MASK
        if message_type in (_ESM_DELIVERY_RECEIPT, _ESM_INTERMEDIATE_NOTIFICATION):
            report = self._report(pdu)
            if report is not None:
                self._reports.append(report)
        elif message_type in _ESM_SME_ACKS:
            _logger.debug("SMPP SME acknowledgement ignored")
        else:
            inbound = self._inbound_message(pdu)
            if inbound is not None:
                self._inbound.append(inbound)

    def _report(self, pdu):
        raw = getattr(pdu, "short_message", None) or getattr(pdu, "message_payload", None)
        fields = parse_receipt_text(bytes(raw or b"").decode("latin-1"))
        provider_id = _text(pdu.receipted_message_id).strip("\0 ") or fields.get("id", "")
        status = word = None
        if pdu.message_state in MESSAGE_STATES:
            status, word = MESSAGE_STATES[pdu.message_state]
        stat = fields.get("stat", "").upper()
        if status is None and stat in RECEIPT_STATS:
            status, word = RECEIPT_STATS[stat], stat
        if not provider_id or status is None:
            _logger.warning("SMPP receipt without usable id or state skipped: %r", raw)
            return None
        if provider_id in self._secondary_parts:
            _logger.debug("SMPP receipt of a later part of %s skipped", provider_id)
            return None
        error_code = error_message = None
        if status != STATUS_DELIVERED:
            error_message = stat or word
            err = fields.get("err", "")
            network_error = getattr(pdu, "network_error_code", None)
            if err and err.strip("0"):
                error_code = err
            elif network_error and len(network_error) == 3:
                error_code = f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
        return StatusReport(
            provider_id=provider_id,
            status=status,
            to=_address(pdu.source_addr, pdu.source_addr_ton) or None,
            error_code=error_code,
            error_message=error_message,
            occurred_at=parse_receipt_date(fields.get("done_date")),
        )

    def _inbound_message(self, pdu):
        data = bytes(
            getattr(pdu, "short_message", None) or getattr(pdu, "message_payload", None) or b""
        )
        data_coding = pdu.data_coding or 0
        sender = _address(pdu.source_addr, pdu.source_addr_ton)
        to = _address(pdu.destination_addr, pdu.dest_addr_ton) or None
        concat = None
        if (pdu.esm_class or 0) & _ESM_UDHI and data:
            header_length = data[0]
            concat = _concatenation(data[1 : 1 + header_length])
            data = data[1 + header_length :]
        if concat is None and getattr(pdu, "sar_total_segments", None):
            concat = (pdu.sar_msg_ref_num or 0, pdu.sar_total_segments, pdu.sar_segment_seqnum)
        if concat is not None and concat[1] > 1:
            reference, total, number = concat
            key = (sender, to, reference, total, data_coding)
            parts = self._fragments.setdefault(key, {})
            parts[number] = data
            if len(parts) < total:
                return None
            del self._fragments[key]
            data = b"".join(parts[index] for index in sorted(parts))
        return InboundSms(sender=sender, body=decode_short_message(data, data_coding), to=to)

    def _flush_fragments(self):
        for (sender, to, _reference, total, data_coding), parts in self._fragments.items():
            _logger.warning("SMPP MO from %s incomplete (%d/%d parts)", sender, len(parts), total)
            data = b"".join(parts[index] for index in sorted(parts))
            body = decode_short_message(data, data_coding)
            self._inbound.append(InboundSms(sender=sender, body=body, to=to))
        self._fragments.clear()

    # -- session ----------------------------------------------------------------------------

    def close(self):
        """Unbind (waiting up to ``timeout`` for ``unbind_resp``) and disconnect; never raises."""
        if self._sock is not None:
            self._closing = True
            try:
                unbind = self._make("unbind")
                self._write(unbind)
                deadline = time.monotonic() + self.timeout
                while True:
                    pdu = self._read(deadline)
                    if pdu is None:
                        _logger.info("SMPP no unbind_resp from %s:%s", *self._at)
                        break
                    if pdu.sequence == unbind.sequence and pdu.command in (
                        "unbind_resp",
                        "generic_nack",
                    ):
                        break
                    self._handle_incoming(pdu)
            except _ConnectionLost as lost:
                _logger.debug("SMPP connection closed during unbind: %s", lost)
            finally:
                self._closing = False
                self._drop()
        self._flush_fragments()
        if self._buffered():
            _logger.warning(
                "SMPP client closed with %d reports and %d messages not yet received",
                len(self._reports),
                len(self._inbound),
            )
        return super().close()

    @property
    def _at(self):
        return self.host, self.port

    def _connect_and_bind(self):
        """Connect and bind as transceiver; ``None`` on success, else a :class:`_Failure`."""
        self._drop()
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except TimeoutError:
            return _Failure(RETRYABLE, ERR_TIMEOUT, f"connecting to {where} timed out")
        except OSError as exc:
            return _Failure(RETRYABLE, ERR_NETWORK, f"cannot connect to {where}: {exc}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        bind = self._make(
            "bind_transceiver",
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            addr_ton=0,
            addr_npi=0,
            address_range="",
        )
        deadline = time.monotonic() + self.timeout
        try:
            self._write(bind)
            while True:
                pdu = self._read(deadline)
                if pdu is None:
                    self._drop()
                    return _Failure(RETRYABLE, ERR_TIMEOUT, f"no bind response from {where}")
                if pdu.sequence == bind.sequence and pdu.command in (
                    "bind_transceiver_resp",
                    "generic_nack",
                ):
                    break
                _logger.warning("SMPP %s received before the bind response ignored", pdu.command)
        except _ConnectionLost as lost:
            self._drop()
            return _Failure(RETRYABLE, lost.code, f"bind to {where} failed: {lost}")
        if pdu.status != ESME_ROK:
            self._drop()
            kind, code, text = status_error(pdu.status)
            if code != ERR_AUTH:
                kind, code = RETRYABLE, ERR_SERVER
            return _Failure(kind, code, f"bind_transceiver refused by {where}: {text}")
        _logger.info("SMPP bound to %s as %s", where, self.system_id)
        return None

    def _drop(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._rbuf.clear()

    # -- PDU input/output -------------------------------------------------------------------

    def _make(self, command_name, **fields):
        """A request PDU carrying the next sequence number."""
        return smpp_command.factory(command_name, client=self._sequence, **fields)

    def _respond(self, command_name, sequence, status=ESME_ROK):
        pdu = smpp_command.factory(command_name, client=_NO_SEQUENCE)
        pdu.sequence = sequence
        pdu.status = status
        self._write(pdu)

    def _write(self, pdu):
        if self._sock is None:
            raise _ConnectionLost("not connected")
        try:
            self._sock.sendall(pdu.generate())
        except TimeoutError as exc:
            raise _ConnectionLost(f"sending {pdu.command} timed out", ERR_TIMEOUT) from exc
        except OSError as exc:
            raise _ConnectionLost(f"sending {pdu.command}: {exc}") from exc

    def _read(self, deadline):
        """The next PDU, or ``None`` if none is complete by ``deadline`` (monotonic; a past
        deadline only takes what is already readable)."""
        while True:
            frame = self._take_frame()
            if frame is not None:
                pdu = self._parse(frame)
                if pdu is not None:
                    return pdu
                continue
            if self._sock is None:
                raise _ConnectionLost("not connected")
            wait = max(0.0, deadline - time.monotonic())
            try:
                readable, _writable, _errors = select.select([self._sock], [], [], wait)
                if not readable:
                    return None
                chunk = self._sock.recv(_MAX_PDU_LENGTH)
            except TimeoutError as exc:
                raise _ConnectionLost("reading timed out", ERR_TIMEOUT) from exc
            except (OSError, ValueError) as exc:
                raise _ConnectionLost(f"reading: {exc}") from exc
            if not chunk:
                raise _ConnectionLost("connection closed by the SMSC")
            self._rbuf += chunk

    def _take_frame(self):
        if len(self._rbuf) < 4:
            return None
        (length,) = struct.unpack_from(">L", self._rbuf)
        if not 16 <= length <= _MAX_PDU_LENGTH:
            raise _ConnectionLost(f"malformed PDU (command_length {length})")
        if len(self._rbuf) < length:
            return None
        frame = bytes(self._rbuf[:length])
        del self._rbuf[:length]
        return frame

    def _parse(self, frame):
        """Decode one PDU with smpplib; unknown or malformed requests get a generic_nack."""
        command_id, _status, sequence = struct.unpack_from(">LLL", frame, 4)
        try:
            name = smpp_command_codes.get_command_name(command_id)
            pdu = smpp_command.factory(name, client=_NO_SEQUENCE, allow_unknown_opt_params=True)
            # smpplib raises KeyError on a standard TLV its class does not list: read those
            # as raw octets instead of losing the PDU.
            extra = {
                tlv: smpp_command.Param(type=ostr)
                for tlv in smpp_consts.OPTIONAL_PARAMS
                if tlv not in pdu.params
            }
            if "receipted_message_id" in pdu.params:
                # smpplib drops the last octet of a C-string TLV; some SMSCs omit the NUL
                extra["receipted_message_id"] = smpp_command.Param(type=ostr)
            pdu.params = {**pdu.params, **extra}
            pdu.parse(frame)
        except (
            smpp_exceptions.UnknownCommandError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            struct.error,
        ) as exc:
            _logger.warning("SMPP PDU 0x%08X not understood: %s", command_id, exc)
            if not command_id & 0x80000000 and self._sock is not None:
                status = (
                    ESME_RINVCMDID
                    if isinstance(exc, smpp_exceptions.UnknownCommandError)
                    else ESME_RSYSERR
                )
                self._respond("generic_nack", sequence, status)
            return None
        return pdu
