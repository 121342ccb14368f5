"""Local SMSCs on 127.0.0.1 for the SMPP client tests, built on ``smpp34`` (PyPI).

Two servers share one recording and scripting interface (:class:`SmscRecorder`):

* :class:`Smpp34Smsc` runs ``smpp34.Server``, the Rust/tokio SMPP 3.4 session engine, in a
  background asyncio loop: an independent implementation of framing, binds, sequence
  numbers, windowing and ``enquire_link``, so the client is tested against a real SMSC stack
  rather than against itself. Its Python API has limits, which the second server covers:
  it accepts every bind whatever the password (``on_bind_transceiver`` always accepts in
  ``smpp34`` 1.5.0), cannot drop a connection, and closes the socket on ``unbind`` without
  sending ``unbind_resp`` (SMPP 3.4 §4.2.2 asks for one).
* :class:`ScriptedSmsc` is a threaded raw-socket SMSC whose PDUs are decoded and encoded with
  the ``smpp34`` codec (``smpp34.decode`` for ``submit_sm``, ``smpp34.DeliverSm`` for
  pushed messages); it checks the password, answers ``unbind``, can drop connections, hold
  answers to measure the window, and push a ``deliver_sm`` in the middle of an unbind. It
  can also script by arrival order (``silent_nth``, ``disconnect_nth``, ``bind_statuses``),
  e.g. leave one part of a long message unanswered or refuse only the rebind.

Both record every ``submit_sm`` exactly as received (:class:`Submit`), answer per
destination (``statuses``: a ``command_status``; ``silent``: never answer), can hold answers
and release them in reverse order (``reverse_batch``) and push a delivery receipt right after
each accepted submit (``receipts_during_send``).
"""

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
import time
from dataclasses import dataclass

import smpp34

from .servers import free_port

ROK = 0x00
RINVCMDID = 0x03
RINVPASWD = 0x0E
RINVSYSID = 0x0F

BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
GENERIC_NACK = 0x80000000

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}


def wait_until(predicate, timeout=5.0, interval=0.01):
    """Poll ``predicate`` until true; ``False`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def header(command_id, status, sequence, body=b""):
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str | None  # None: smpp34.Server does not expose it
    system_type: str | None


@dataclass(frozen=True)
class Submit:
    """One ``submit_sm`` as the SMSC received it, and how it was answered."""

    sequence: int | None
    source_addr: str
    source_ton: int
    source_npi: int
    destination_addr: str
    dest_ton: int
    dest_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_id: str | None = None
    status: int | None = None

    @property
    def udh(self):
        if self.esm_class & 0x40 and self.short_message:
            return self.short_message[: 1 + self.short_message[0]]
        return b""

    @property
    def payload(self):
        return self.short_message[len(self.udh) :]

    @property
    def text(self):
        """The payload decoded the way a handset would (GSM-7 unpacked or UCS-2)."""
        if self.data_coding == 8:
            return self.payload.decode("utf-16-be")
        out, escape = [], False
        for octet in self.payload:
            if escape:
                out.append(_GSM_EXTENSION[octet])
                escape = False
            elif octet == 0x1B:
                escape = True
            else:
                out.append(_GSM_BASIC[octet])
        return "".join(out)


def receipt_text(message_id, stat="DELIVRD", err="000", done="2501021530"):
    return (
        f"id:{message_id} sub:001 dlvrd:{1 if stat == 'DELIVRD' else 0:03d} "
        f"submit date:2501021529 done date:{done} stat:{stat} err:{err} text:Hello"
    ).encode()


class Pushed:
    """A ``deliver_sm`` sent to the ESME; :meth:`status` is the ``command_status`` of the
    ``deliver_sm_resp`` it answered with."""

    def __init__(self, wait):
        self._wait = wait

    def status(self, timeout=5.0):
        return self._wait(timeout)


class SmscRecorder:
    """What both SMSCs record and how tests script them."""

    def __init__(self):
        self.submits = []
        self.binds = []
        self.statuses = {}
        self.silent = set()
        self.reverse_batch = 0
        self.receipts_during_send = False
        self.refuse_nth = {}  # arrival number (1-based, over all submits) -> command_status
        self.errors = []  # exceptions raised inside the server: a broken harness, not a pass
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_message_id(self):
        with self._lock:
            return f"MSG{next(self._ids):05d}"

    def record(self, submit):
        with self._lock:
            self.submits.append(submit)

    def decide(self, destination):
        """(status, message_id) to answer the next submit, to ``destination``, with."""
        status = self.refuse_nth.get(len(self.submits) + 1, self.statuses.get(destination, ROK))
        return status, (self.next_message_id() if status == ROK else None)


# -- smpp34.Server ----------------------------------------------------------------------------


class Smpp34Smsc(SmscRecorder):
    """``smpp34.Server`` on a free port, driven from a background event loop."""

    def __init__(self, system_id="SMSC"):
        super().__init__()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.unbound = []
        self.esmes = {}
        self._held = []
        self._never_answered = []
        self._tasks = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server = self._call(self._start, system_id)
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)

    def _submit_call(self, function, *args, **kwargs):
        """Run ``await function(...)`` on the server loop (smpp34 awaitables must be made
        there); returns a ``concurrent.futures.Future``."""

        async def call():
            return await function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    def _call(self, function, *args, timeout=5.0, **kwargs):
        return self._submit_call(function, *args, **kwargs).result(timeout)

    async def _start(self, system_id):
        server = smpp34.Server(host=self.host, port=self.port, system_id=system_id)
        await server.start()
        return server

    async def _serve(self):
        while True:
            try:
                event = await self.server.next()
            except smpp34.SmppError:
                return
            try:
                if isinstance(event, smpp34.Esme):
                    self.esmes[event.session_id] = event
                    self.binds.append(Bind(event.system_id, None, None))
                elif isinstance(event, smpp34.SubmitSmEvent):
                    self._on_submit(event)
                elif isinstance(event, smpp34.Unbound):
                    self.unbound.append(event.session_id)
            except Exception as exc:  # keep serving; the test fixture reports it
                self.errors.append(exc)

    def _on_submit(self, event):
        destination = event.destination_addr
        if destination in self.silent:
            self._never_answered.append(event)  # kept: a dropped event is NAKed
            self.record(self._submit(event, None, None))
            return
        status, message_id = self.decide(destination)
        self.record(self._submit(event, message_id, status))
        if self.reverse_batch:
            self._held.append((event, status, message_id))
            if len(self._held) >= self.reverse_batch:
                held, self._held = self._held, []
                self._tasks.append(self._loop.create_task(self._release(reversed(held))))
        else:
            self._answer(event, status, message_id)

    async def _release(self, held):
        for event, status, message_id in held:
            self._answer(event, status, message_id)
            await asyncio.sleep(0.03)  # the engine answers concurrently: keep the order

    def _answer(self, event, status, message_id):
        if status == ROK:
            event.accept(message_id=message_id)
            if self.receipts_during_send:
                esme = self.esmes[event.session_id]
                self._tasks.append(
                    asyncio.ensure_future(  # pyo3 returns a Future, not a coroutine
                        esme.deliver_sm(
                            event.source_addr,
                            receipt_text(message_id),
                            source_addr=event.destination_addr,
                            source_addr_ton=1,
                            source_addr_npi=1,
                            esm_class=0x04,
                        )
                    )
                )
        else:
            event.reject(status)

    @staticmethod
    def _submit(event, message_id, status):
        return Submit(
            sequence=None,
            source_addr=event.source_addr,
            source_ton=event.source_addr_ton,
            source_npi=event.source_addr_npi,
            destination_addr=event.destination_addr,
            dest_ton=event.dest_addr_ton,
            dest_npi=event.dest_addr_npi,
            esm_class=event.esm_class,
            data_coding=event.data_coding,
            registered_delivery=event.registered_delivery,
            short_message=bytes(event.short_message),
            message_id=message_id,
            status=status,
        )

    def _esme(self):
        assert wait_until(lambda: self.esmes), "no ESME bound"
        return list(self.esmes.values())[-1]

    def push_deliver_sm(self, destination_addr, short_message=b"", tlvs=(), **fields):
        """Send a ``deliver_sm`` to the bound ESME (without waiting for its answer)."""
        esme = self._esme()
        tlvs = [smpp34.Tlv(tag, value) for tag, value in tlvs]
        future = self._submit_call(
            esme.deliver_sm, destination_addr, short_message, tlvs=tlvs, **fields
        )
        return Pushed(lambda timeout: future.result(timeout).command_status)

    def unbind_client(self):
        self._call(self._esme().unbind)

    def close(self):
        with contextlib.suppress(Exception):
            self._call(self.server.stop)
        self._serving.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# -- scripted raw-socket SMSC ------------------------------------------------------------------


class ScriptedSmsc(SmscRecorder):
    """Thread-per-connection SMSC with every knob a test needs."""

    def __init__(self, system_id="esme", password="secret"):
        super().__init__()
        self.expected_system_id = system_id
        self.expected_password = password
        self.bind_status = None  # force this status on every bind
        self.bind_statuses = {}  # bind number (1-based) -> forced status of that bind only
        self.disconnect_on = set()  # destinations whose submit closes the connection
        self.disconnect_nth = set()  # arrival numbers (1-based) of submits that close it
        self.silent_nth = set()  # arrival numbers (1-based) of submits never answered
        self.hold_until_idle = 0.0  # hold answers until no PDU came for this long
        self.deliver_on_unbind = False
        self.answer_unbind = True
        self.unbinds = 0
        self.connections = 0
        self.max_unanswered = 0
        self.deliver_resps = {}
        self.enquire_link_resps = set()
        self.unbind_resps = set()
        self.generic_nacks = []
        self.other_resps = {}  # (command_id, sequence) -> status of other responses
        self._sequence = itertools.count(1000)
        self._sessions = []
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.host, self.port = self._listener.getsockname()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                conn, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            session = _Session(self, conn)
            self._sessions.append(session)
            thread = threading.Thread(target=session.run, daemon=True)
            self._threads.append(thread)
            thread.start()

    def next_sequence(self):
        with self._lock:
            return next(self._sequence)

    def live_sessions(self):
        return [session for session in self._sessions if not session.closed]

    def _session(self):
        assert wait_until(lambda: any(s.bound for s in self.live_sessions())), "no bound ESME"
        return [s for s in self.live_sessions() if s.bound][-1]

    def push_deliver_sm(self, destination_addr, short_message=b"", tlvs=(), **fields):
        """Send a ``deliver_sm`` (encoded by ``smpp34``) without waiting for its answer."""
        sequence = self.next_sequence()
        pdu = smpp34.DeliverSm(
            fields.pop("source_addr", ""),
            destination_addr,
            short_message,
            tlvs=[smpp34.Tlv(tag, value) for tag, value in tlvs],
            sequence_number=sequence,
            **fields,
        )
        self._session().send(pdu.encode())
        return Pushed(lambda timeout: self.deliver_resp(sequence, timeout))

    def send_raw(self, data):
        self._session().send(data)

    def release_all(self):
        """Send every held answer now (in reverse order)."""
        for session in self.live_sessions():
            session.release()

    def deliver_resp(self, sequence, timeout=5.0):
        """The ``command_status`` the ESME answered deliver_sm ``sequence`` with."""
        assert wait_until(lambda: sequence in self.deliver_resps, timeout), "no deliver_sm_resp"
        return self.deliver_resps[sequence]

    def send_enquire_link(self):
        sequence = self.next_sequence()
        self._session().send(header(ENQUIRE_LINK, ROK, sequence))
        return sequence

    def unbind_client(self):
        """SMSC-initiated unbind; the session closes once the ESME answered."""
        sequence = self.next_sequence()
        session = self._session()
        session.close_after_unbind_resp = True
        session.send(header(UNBIND, ROK, sequence))
        return sequence

    def drop(self):
        """Close every connection at once, as a crashed SMSC or a broken link would."""
        for session in self.live_sessions():
            session.close()

    def close(self):
        self._stopped.set()
        self._listener.close()
        self.drop()
        for thread in self._threads:
            thread.join(5)


class _Session:
    def __init__(self, smsc, conn):
        self.smsc = smsc
        self.conn = conn
        self.conn.settimeout(0.02)
        self.buffer = bytearray()
        self.bound = False
        self.closed = False
        self.close_after_unbind_resp = False
        self.held = []
        self.last_pdu = time.monotonic()
        self._write_lock = threading.Lock()

    def send(self, data):
        with self._write_lock, contextlib.suppress(OSError):
            self.conn.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()

    def run(self):
        while not self.closed:
            try:
                chunk = self.conn.recv(65536)
            except TimeoutError:
                self._maybe_release()
                continue
            except OSError:
                break
            if not chunk:
                break
            self.buffer += chunk
            while len(self.buffer) >= 16 and not self.closed:
                (length,) = struct.unpack_from(">L", self.buffer)
                if len(self.buffer) < length:
                    break
                frame = bytes(self.buffer[:length])
                del self.buffer[:length]
                self.last_pdu = time.monotonic()
                try:
                    self.handle(frame)
                except Exception as exc:  # keep serving; the test fixture reports it
                    self.smsc.errors.append(exc)
        self.close()

    def _maybe_release(self):
        smsc = self.smsc
        idle = time.monotonic() - self.last_pdu
        if self.held and smsc.hold_until_idle and idle >= smsc.hold_until_idle:
            self.release()

    def release(self):
        held, self.held = self.held, []
        for frames in reversed(held):
            for frame in frames:
                self.send(frame)

    def handle(self, frame):
        smsc = self.smsc
        command_id, status, sequence = struct.unpack_from(">LLL", frame, 4)
        if command_id == BIND_TRANSCEIVER:
            fields = frame[16:].split(b"\0", 3)
            bind = Bind(*(value.decode("latin-1") for value in fields[:3]))
            smsc.binds.append(bind)
            answer = smsc.bind_statuses.get(len(smsc.binds), smsc.bind_status)
            if answer is None:
                if bind.system_id != smsc.expected_system_id:
                    answer = RINVSYSID
                elif bind.password != smsc.expected_password:
                    answer = RINVPASWD
                else:
                    answer = ROK
            self.bound = answer == ROK
            body = b"SMSC\0" if self.bound else b""
            self.send(header(command_id | 0x80000000, answer, sequence, body))
        elif command_id == SUBMIT_SM:
            self.on_submit(frame, sequence)
        elif command_id == ENQUIRE_LINK:
            self.send(header(ENQUIRE_LINK_RESP, ROK, sequence))
        elif command_id == UNBIND:
            smsc.unbinds += 1
            if smsc.deliver_on_unbind:
                receipt = smpp34.DeliverSm(
                    "8613800138000",
                    "Shop",
                    receipt_text("LATE1"),
                    esm_class=0x04,
                    sequence_number=smsc.next_sequence(),
                )
                smsc.unbind_deliver_sequence = receipt.sequence_number
                self.send(receipt.encode())
            if smsc.answer_unbind:
                self.send(header(UNBIND_RESP, ROK, sequence))
        elif command_id == DELIVER_SM_RESP:
            smsc.deliver_resps[sequence] = status
        elif command_id == ENQUIRE_LINK_RESP:
            smsc.enquire_link_resps.add(sequence)
        elif command_id == UNBIND_RESP:
            smsc.unbind_resps.add(sequence)
            if self.close_after_unbind_resp:
                self.close()
        elif command_id == GENERIC_NACK:
            smsc.generic_nacks.append((sequence, status))
        elif command_id & 0x80000000:
            smsc.other_resps[(command_id, sequence)] = status
        else:
            self.send(header(GENERIC_NACK, RINVCMDID, sequence))

    def on_submit(self, frame, sequence):
        smsc = self.smsc
        pdu = smpp34.decode(frame)
        destination = pdu.destination_addr
        arrival = len(smsc.submits) + 1
        if destination in smsc.disconnect_on or arrival in smsc.disconnect_nth:
            # read, never answered: the SMSC may have taken it when the link went down
            smsc.record(_submit_of(pdu, None, None))
            self.close()
            return
        if destination in smsc.silent or arrival in smsc.silent_nth:
            smsc.record(_submit_of(pdu, None, None))
            return
        status, message_id = smsc.decide(destination)
        smsc.record(_submit_of(pdu, message_id, status))
        body = message_id.encode() + b"\0" if message_id else b""
        frames = [header(0x80000004, status, sequence, body)]
        if smsc.receipts_during_send and status == ROK:
            # a receipt comes from the handset (source) to our sender (destination)
            receipt = smpp34.DeliverSm(
                destination,
                pdu.source_addr,
                receipt_text(message_id),
                source_addr_ton=1,
                source_addr_npi=1,
                esm_class=0x04,
                sequence_number=smsc.next_sequence(),
            )
            frames.append(receipt.encode())
        if smsc.reverse_batch or smsc.hold_until_idle:
            self.held.append(frames)
            smsc.max_unanswered = max(smsc.max_unanswered, len(self.held))
            if smsc.reverse_batch and len(self.held) >= smsc.reverse_batch:
                self.release()
        else:
            for data in frames:
                self.send(data)


def _submit_of(pdu, message_id, status):
    return Submit(
        sequence=pdu.sequence_number,
        source_addr=pdu.source_addr,
        source_ton=pdu.source_addr_ton,
        source_npi=pdu.source_addr_npi,
        destination_addr=pdu.destination_addr,
        dest_ton=pdu.dest_addr_ton,
        dest_npi=pdu.dest_addr_npi,
        esm_class=pdu.esm_class,
        data_coding=pdu.data_coding,
        registered_delivery=pdu.registered_delivery,
        short_message=bytes(pdu.short_message),
        message_id=message_id,
        status=status,
    )
