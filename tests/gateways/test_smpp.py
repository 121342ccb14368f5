"""SMPP 3.4 client against real local SMSCs (``smpp34.Server`` and a scripted one).

Tests using the ``smsc`` fixture run against both servers; ``rust`` is ``smpp34.Server``
only, ``scripted`` the raw-socket SMSC for what ``smpp34``'s Python API cannot do (refuse a
bind, drop a connection, answer ``unbind``...). See ``smpp_server.py``.
"""

import socket
import struct
import threading
import time
from datetime import datetime

import pytest

from sms_marketing.core import encoding
from sms_marketing.core.gateways import base
from sms_marketing.core.gateways import smpp as smpp_gateway
from sms_marketing.core.gateways.base import (
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
    GatewayConfigError,
    InboundSms,
    OutboundSms,
    StatusReport,
)
from sms_marketing.core.gateways.smpp import SmppClient, SmppSessionError

from .smpp_server import (
    ROK,
    Bind,
    ScriptedSmsc,
    Smpp34Smsc,
    free_port,
    header,
    receipt_text,
    wait_until,
)

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_DPF_RESULT = 0x0420  # standard, but not a deliver_sm TLV in smpplib's tables
TLV_VENDOR = 0x1403

HANDSET = "8613800138000"


def sms(ref="t1", to="+8613800138000", body="Hello", sender=None):
    return OutboundSms(ref=ref, to=to, body=body, sender=sender)


def numbered(count, body="Hello"):
    """Messages t1..tN to +86138000000001.. (one destination each)."""
    return [sms(f"t{n}", to=f"+86138000000{n:02d}", body=body) for n in range(1, count + 1)]


def dest(n):
    return f"86138000000{n:02d}"


@pytest.fixture
def scripted():
    smsc = ScriptedSmsc()
    yield smsc
    smsc.close()
    assert smsc.errors == []


@pytest.fixture
def rust():
    smsc = Smpp34Smsc()
    yield smsc
    smsc.close()
    assert smsc.errors == []


@pytest.fixture(params=["smpp34", "scripted"])
def smsc(request):
    smsc = Smpp34Smsc() if request.param == "smpp34" else ScriptedSmsc()
    yield smsc
    smsc.close()
    assert smsc.errors == []


@pytest.fixture
def connect():
    """``connect(smsc, timeout=2.0, **settings)`` -> a client, closed after the test."""
    clients = []

    def make(smsc, timeout=2.0, **settings):
        client = SmppClient(
            {
                "host": "127.0.0.1",
                "port": smsc.port,
                "system_id": "esme",
                "password": "secret",
                "sender": "Shop",
                **settings,
            },
            timeout=timeout,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def receive_all(client, count, timeout=3.0):
    """Call ``receive`` until ``count`` items came (reports + inbound) or ``timeout``."""
    reports, inbound = [], []
    deadline = time.monotonic() + timeout
    while len(reports) + len(inbound) < count and time.monotonic() < deadline:
        more_reports, more_inbound = client.receive(timeout=0.2)
        reports += more_reports
        inbound += more_inbound
    return reports, inbound


def in_part_order(submits):
    """Parts sorted by their UDH sequence (smpp34's engine may record them out of order)."""
    return sorted(submits, key=lambda submit: submit.udh[5])


def push_receipt(smsc, message_id, stat="DELIVRD", err="000", **fields):
    return smsc.push_deliver_sm(
        "Shop",
        receipt_text(message_id, stat, err),
        source_addr=HANDSET,
        source_addr_ton=1,
        source_addr_npi=1,
        esm_class=0x04,
        **fields,
    )


# -- settings -------------------------------------------------------------------------------


def test_client_is_registered_under_code_smpp_with_batches_of_100():
    assert base.get_client_class("smpp") is SmppClient
    assert SmppClient.max_batch == 100


def test_client_reports_over_its_bind_not_by_webhook():
    assert SmppClient.receives_webhooks is False
    assert base.GatewayClient.receives_webhooks is True


def test_missing_password_is_a_config_error_naming_it():
    with pytest.raises(GatewayConfigError) as error:
        SmppClient({"host": "127.0.0.1", "port": 2775, "system_id": "esme"})
    assert error.value.field == "password"


@pytest.mark.parametrize(
    "key, value",
    [
        ("password", "123456789"),  # 9 characters: smpplib would cut it to 8
        ("system_id", "a-very-long-esme-id"),
        ("system_type", "thirteen-char"),
        ("sender", "TwelveLetter"),  # alphanumeric senders hold 11 characters
        ("port", "smpp"),
        ("window", "0"),
    ],
)
def test_settings_the_protocol_cannot_carry_are_config_errors(key, value):
    settings = {"host": "127.0.0.1", "port": 2775, "system_id": "esme", "password": "secret"}
    with pytest.raises(GatewayConfigError) as error:
        SmppClient({**settings, key: value})
    assert error.value.field == key


# -- session ---------------------------------------------------------------------------------


def test_binds_as_transceiver_once_lazily_and_reuses_the_bind_for_many_sends(smsc, connect):
    client = connect(smsc)
    assert not wait_until(lambda: smsc.binds, timeout=0.2)  # nothing before the first send

    for batch in range(3):
        results = client.send(numbered(4))
        assert [r.accepted for r in results] == [True] * 4, (batch, results)

    assert len(smsc.binds) == 1
    assert len(smsc.submits) == 12
    assert smsc.binds[0].system_id == "esme"


def test_bind_carries_system_id_password_and_system_type(scripted, connect):
    connect(scripted, system_type="SMSMKT").send([sms()])
    assert scripted.binds == [Bind("esme", "secret", "SMSMKT")]


@pytest.mark.parametrize("status", [0x0D, 0x0E, 0x0F])  # RBINDFAIL, RINVPASWD, RINVSYSID
def test_refused_bind_fails_every_message_as_retryable_auth_failure(scripted, connect, status):
    scripted.bind_status = status
    results = connect(scripted).send(numbered(3))

    assert [(r.accepted, r.error_kind, r.error_code) for r in results] == [
        (False, RETRYABLE, ERR_AUTH)
    ] * 3
    assert f"0x{status:08X}" in results[0].error_message
    assert [r.ref for r in results] == ["t1", "t2", "t3"]
    assert scripted.submits == []


def test_wrong_password_is_refused_by_the_smsc_and_reported_as_auth_failure(scripted, connect):
    results = connect(scripted, password="wrong").send([sms()])
    assert (results[0].error_kind, results[0].error_code) == (RETRYABLE, ERR_AUTH)
    assert scripted.binds == [Bind("esme", "wrong", "")]


def test_bind_refused_for_another_reason_is_a_retryable_server_error(scripted, connect):
    scripted.bind_status = 0x08  # ESME_RSYSERR
    result = connect(scripted).send([sms()])[0]
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_SERVER)


def test_refused_connection_is_a_retryable_network_error(connect):
    class Nowhere:
        port = free_port()

    result = connect(Nowhere).send([sms()])[0]
    assert (result.accepted, result.error_kind, result.error_code) == (
        False,
        RETRYABLE,
        ERR_NETWORK,
    )


def test_smsc_that_never_answers_the_bind_is_a_retryable_timeout(connect):
    with socket.create_server(("127.0.0.1", 0)) as mute:  # accepts, never speaks

        class Mute:
            port = mute.getsockname()[1]

        started = time.monotonic()
        result = connect(Mute, timeout=0.3).send([sms()])[0]
    assert (result.error_kind, result.error_code) == (RETRYABLE, ERR_TIMEOUT)
    assert time.monotonic() - started < 2


def test_close_unbinds_then_disconnects(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    client.close()

    assert scripted.unbinds == 1
    assert wait_until(lambda: not scripted.live_sessions())
    client.send([sms("t2")])  # a later use binds again
    assert len(scripted.binds) == 2


def test_close_copes_with_smsc_hanging_up_without_unbind_resp(rust, connect):
    client = connect(rust)
    client.send([sms()])
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 1.5  # the hang-up ends the wait, not the timeout
    assert wait_until(lambda: rust.unbound)


def test_close_without_any_send_opens_no_connection(scripted, connect):
    connect(scripted).close()
    assert scripted.connections == 0


def test_connection_dropped_between_sends_is_rebound_transparently(scripted, connect):
    client = connect(scripted)
    assert client.send([sms("t1")])[0].accepted
    scripted.drop()
    assert wait_until(lambda: not scripted.live_sessions())

    result = client.send([sms("t2")])[0]
    assert result.accepted
    assert result.provider_id == scripted.submits[-1].message_id
    assert len(scripted.binds) == 2


def test_connection_lost_mid_batch_fails_only_unconfirmed_message_and_rebinds_once(
    scripted, connect
):
    scripted.disconnect_on = {dest(3)}  # read by the SMSC, then the link drops unanswered
    results = connect(scripted, window=1).send(numbered(5))

    outcome = [(r.accepted, r.error_kind, r.error_code) for r in results]
    assert outcome == [
        (True, None, None),
        (True, None, None),
        (False, AMBIGUOUS, ERR_NETWORK),  # written, unanswered: maybe taken, never resent
        (True, None, None),
        (True, None, None),
    ]
    assert results[2].provider_id is None
    assert [s.destination_addr for s in scripted.submits] == [dest(n) for n in range(1, 6)]
    assert len(scripted.binds) == 2


def test_second_drop_in_one_send_stops_the_batch_without_another_rebind(scripted, connect):
    scripted.disconnect_on = {dest(2), dest(3)}
    results = connect(scripted, window=1).send(numbered(4))

    assert [(r.accepted, r.error_kind, r.error_code) for r in results] == [
        (True, None, None),
        (False, AMBIGUOUS, ERR_NETWORK),  # read by the SMSC before each drop
        (False, AMBIGUOUS, ERR_NETWORK),
        (False, RETRYABLE, ERR_NETWORK),  # never written: surely not taken
    ]
    assert [s.destination_addr for s in scripted.submits] == [dest(1), dest(2), dest(3)]
    assert len(scripted.binds) == 2


def test_drop_then_refused_rebind_leaves_unwritten_messages_retryable(scripted, connect):
    scripted.disconnect_on = {dest(2)}
    scripted.bind_statuses = {2: 0x0E}  # the rebind is refused (ESME_RINVPASWD)
    results = connect(scripted, window=1).send(numbered(4))

    assert [(r.accepted, r.error_kind, r.error_code) for r in results] == [
        (True, None, None),
        (False, AMBIGUOUS, ERR_NETWORK),
        (False, RETRYABLE, ERR_AUTH),
        (False, RETRYABLE, ERR_AUTH),
    ]
    assert [s.destination_addr for s in scripted.submits] == [dest(1), dest(2)]
    assert len(scripted.binds) == 2


def test_drop_with_a_full_window_in_flight_makes_each_of_them_ambiguous(scripted, connect):
    scripted.silent = {dest(1), dest(2)}  # read, not answered yet
    scripted.disconnect_on = {dest(3)}
    results = connect(scripted, window=3).send(numbered(5))

    assert [(r.accepted, r.error_kind, r.error_code) for r in results] == [
        (False, AMBIGUOUS, ERR_NETWORK),
        (False, AMBIGUOUS, ERR_NETWORK),
        (False, AMBIGUOUS, ERR_NETWORK),
        (True, None, None),  # not written before the drop: sent on the new bind
        (True, None, None),
    ]
    assert [s.destination_addr for s in scripted.submits] == [dest(n) for n in range(1, 6)]
    assert len(scripted.binds) == 2


def test_smsc_initiated_unbind_is_answered_and_the_next_send_rebinds(scripted, connect):
    client = connect(scripted)
    client.send([sms("t1")])
    sequence = scripted.unbind_client()
    time.sleep(0.2)  # the unbind is waiting in the socket when send() starts

    result = client.send([sms("t2")])[0]
    assert result.accepted
    assert wait_until(lambda: sequence in scripted.unbind_resps)  # read by the SMSC thread
    assert len(scripted.binds) == 2


def test_enquire_link_from_the_smsc_is_answered(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    sequence = scripted.send_enquire_link()
    client.receive(timeout=0.3)
    assert wait_until(lambda: sequence in scripted.enquire_link_resps)


def test_unknown_command_from_the_smsc_gets_generic_nack(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    scripted.send_raw(header(0x00000099, ROK, 4242))
    client.receive(timeout=0.3)
    assert wait_until(lambda: (4242, 0x03) in scripted.generic_nacks)


# -- what the SMSC receives ------------------------------------------------------------------


def test_gsm7_text_is_sent_as_data_coding_0_with_one_septet_per_octet(smsc, connect):
    body = "Hi @ £5 {x} €"
    result = connect(smsc).send([sms(body=body)])[0]

    assert (result.accepted, result.segments) == (True, 1)
    (submit,) = smsc.submits
    assert (submit.data_coding, submit.esm_class) == (0, 0)
    assert submit.short_message == b"Hi \x00 \x015 \x1b(x\x1b) \x1be"
    assert submit.text == body


def test_ucs2_text_is_sent_as_data_coding_8_in_utf16_big_endian(smsc, connect):
    body = "您好，周六见 😀"
    result = connect(smsc).send([sms(body=body)])[0]

    assert (result.accepted, result.segments) == (True, 1)
    (submit,) = smsc.submits
    assert submit.data_coding == 8
    assert submit.short_message == body.encode("utf-16-be")


def test_long_gsm7_message_is_sent_as_concatenated_parts_with_udh(smsc, connect):
    body = ("Spring sale: 20% off everything this weekend only! " * 7)[:340]
    assert encoding.analyze(body).segments == 3
    result = connect(smsc).send([sms(body=body)])[0]

    assert (result.accepted, result.segments) == (True, 3)
    parts = in_part_order(smsc.submits)
    assert len(parts) == 3
    reference = parts[0].udh[3]
    assert [p.udh for p in parts] == [bytes([5, 0, 3, reference, 3, n]) for n in (1, 2, 3)]
    assert {p.esm_class for p in parts} == {0x40}
    assert {p.data_coding for p in parts} == {0}
    assert all(len(p.payload) <= 153 for p in parts)
    assert "".join(p.text for p in parts) == body
    assert result.provider_id == parts[0].message_id  # the first part's id


def test_long_ucs2_message_parts_hold_67_units_and_never_split_an_emoji(smsc, connect):
    body = "优" * 66 + "😀" + "好" * 10  # the emoji would straddle unit 67
    result = connect(smsc).send([sms(body=body)])[0]

    assert (result.accepted, result.segments) == (True, 2)
    first, second = in_part_order(smsc.submits)
    assert {first.data_coding, second.data_coding} == {8}
    assert len(first.payload) == 132 and len(second.payload) == 24
    assert first.payload.decode("utf-16-be") + second.payload.decode("utf-16-be") == body


def test_consecutive_long_messages_use_different_udh_references(scripted, connect):
    body = "x" * 200
    connect(scripted).send([sms("a", body=body), sms("b", body=body)])
    references = {s.udh[3] for s in scripted.submits}
    assert len(scripted.submits) == 4 and len(references) == 2


@pytest.mark.parametrize(
    "sender, source_addr, ton, npi",
    [
        ("Shop", "Shop", 5, 0),
        ("+86 1069 0000", "8610690000", 1, 1),
        ("10690000", "10690000", 1, 1),
    ],
)
def test_source_address_ton_npi_follow_the_sender_kind(
    smsc, connect, sender, source_addr, ton, npi
):
    connect(smsc, sender=sender).send([sms()])
    (submit,) = smsc.submits
    assert (submit.source_addr, submit.source_ton, submit.source_npi) == (source_addr, ton, npi)


def test_message_sender_overrides_the_configured_sender(smsc, connect):
    connect(smsc).send([sms(sender="Promo")])
    assert smsc.submits[0].source_addr == "Promo"


def test_destination_is_the_e164_digits_with_ton_1_npi_1_and_a_receipt_requested(smsc, connect):
    connect(smsc).send([sms(to="+86 138-0013-8000")])
    (submit,) = smsc.submits
    assert (submit.destination_addr, submit.dest_ton, submit.dest_npi) == (HANDSET, 1, 1)
    assert submit.registered_delivery == 1


def test_ton_npi_and_registered_delivery_settings_override_the_defaults(scripted, connect):
    connect(
        scripted,
        source_ton=3,
        source_npi=9,
        dest_ton=2,
        dest_npi=8,
        registered_delivery=0,
    ).send([sms()])
    (submit,) = scripted.submits
    assert (submit.source_ton, submit.source_npi, submit.dest_ton, submit.dest_npi) == (3, 9, 2, 8)
    assert submit.registered_delivery == 0


def test_empty_odoo_fields_fall_back_to_the_defaults(scripted, connect):
    connect(scripted, source_ton=False, system_type=False, window=False).send([sms()])
    (submit,) = scripted.submits
    assert (submit.source_ton, submit.source_npi) == (5, 0)
    assert scripted.binds[0].system_type == ""


@pytest.mark.parametrize(
    "message, code",
    [
        (sms(to="not a number"), ERR_INVALID_NUMBER),
        (sms(body=""), ERR_REJECTED),
        (sms(body="x" * 153 * 256), ERR_REJECTED),  # 256 parts: UDH counts to 255
        (sms(sender="Nom d’expéditeur"), ERR_REJECTED),
    ],
    ids=["no-digits", "empty-body", "too-many-parts", "unusable-sender"],
)
def test_unsendable_message_is_refused_without_contacting_the_smsc(
    scripted, connect, message, code
):
    result = connect(scripted).send([message])[0]
    assert (result.accepted, result.error_kind, result.error_code) == (False, PERMANENT, code)
    assert scripted.connections == 0


# -- responses -------------------------------------------------------------------------------


def test_out_of_order_responses_are_matched_by_sequence_number(smsc, connect):
    smsc.reverse_batch = 4
    results = connect(smsc).send(numbered(4))

    id_by_destination = {s.destination_addr: s.message_id for s in smsc.submits}
    assert len(set(id_by_destination.values())) == 4
    assert [r.provider_id for r in results] == [id_by_destination[dest(n)] for n in range(1, 5)]


def test_window_caps_the_submits_awaiting_a_response(scripted, connect):
    scripted.hold_until_idle = 0.15
    results = connect(scripted, window=3).send(numbered(7))

    assert all(r.accepted for r in results)
    assert scripted.max_unanswered == 3


@pytest.mark.parametrize(
    "status, kind, code",
    [
        (0x58, RETRYABLE, ERR_RATE_LIMITED),  # ESME_RTHROTTLED
        (0x14, RETRYABLE, ERR_RATE_LIMITED),  # ESME_RMSGQFUL
        (0x0B, PERMANENT, ERR_INVALID_NUMBER),  # ESME_RINVDSTADR
        (0x08, RETRYABLE, ERR_SERVER),  # ESME_RSYSERR
        (0x45, RETRYABLE, ERR_SERVER),  # ESME_RSUBMITFAIL
        (0x0A, PERMANENT, ERR_REJECTED),  # ESME_RINVSRCADR
        (0x43, PERMANENT, ERR_REJECTED),  # ESME_RINVESMCLASS
    ],
)
def test_command_status_maps_to_error_kind_and_code(smsc, connect, status, kind, code):
    smsc.statuses[dest(2)] = status
    results = connect(smsc).send(numbered(2))

    assert results[0].accepted
    assert (results[1].accepted, results[1].error_kind, results[1].error_code) == (
        False,
        kind,
        code,
    )
    assert f"0x{status:08X}" in results[1].error_message


def test_vendor_specific_status_is_a_permanent_unknown_error(scripted, connect):
    scripted.statuses[dest(1)] = 0x0401
    result = connect(scripted).send(numbered(1))[0]
    assert (result.error_kind, result.error_code) == (PERMANENT, ERR_UNKNOWN)


def test_throttling_stops_submitting_the_rest_of_the_batch(scripted, connect):
    scripted.statuses[dest(2)] = 0x58
    results = connect(scripted, window=1).send(numbered(4))

    assert results[0].accepted
    # the throttled one was refused, the others never written: all surely not taken
    assert [(r.error_kind, r.error_code) for r in results[1:]] == [
        (RETRYABLE, ERR_RATE_LIMITED)
    ] * 3
    assert [s.destination_addr for s in scripted.submits] == [dest(1), dest(2)]


def test_throttled_message_is_retryable_while_the_others_in_flight_are_answered(smsc, connect):
    smsc.statuses[dest(2)] = 0x58
    results = connect(smsc, window=4).send(numbered(4))  # all four written before any answer

    assert [(r.accepted, r.error_kind) for r in results] == [
        (True, None),
        (False, RETRYABLE),
        (True, None),
        (True, None),
    ]
    assert results[1].error_code == ERR_RATE_LIMITED
    assert len(smsc.submits) == 4


def test_missing_response_is_ambiguous_and_never_accepted(smsc, connect):
    smsc.silent = {dest(2)}
    started = time.monotonic()
    results = connect(smsc, timeout=0.5).send(numbered(3))

    assert [r.accepted for r in results] == [True, False, True]
    assert (results[1].error_kind, results[1].error_code) == (AMBIGUOUS, ERR_TIMEOUT)
    assert results[1].provider_id is None
    assert time.monotonic() - started < 2.5


def test_smsc_that_stops_answering_costs_one_timeout_not_one_per_message(scripted, connect):
    scripted.silent = {dest(2)}
    started = time.monotonic()
    results = connect(scripted, window=1, timeout=0.4).send(numbered(5))

    assert results[0].accepted
    assert [(r.error_kind, r.error_code) for r in results[1:]] == [
        (AMBIGUOUS, ERR_TIMEOUT),  # written, unanswered
        (RETRYABLE, ERR_TIMEOUT),  # never written once the batch stopped
        (RETRYABLE, ERR_TIMEOUT),
        (RETRYABLE, ERR_TIMEOUT),
    ]
    assert [s.destination_addr for s in scripted.submits] == [dest(1), dest(2)]
    assert time.monotonic() - started < 1.5


def test_long_message_not_started_before_the_stop_stays_retryable(scripted, connect):
    scripted.silent = {dest(1)}
    messages = [sms("t1", to=f"+{dest(1)}"), sms("t2", to=f"+{dest(2)}", body="w" * 300)]
    results = connect(scripted, window=1, timeout=0.3).send(messages)

    assert [(r.error_kind, r.error_code) for r in results] == [
        (AMBIGUOUS, ERR_TIMEOUT),
        (RETRYABLE, ERR_TIMEOUT),
    ]
    assert [s.destination_addr for s in scripted.submits] == [dest(1)]


def test_response_arriving_after_the_timeout_is_ignored(scripted, connect):
    scripted.hold_until_idle = 60  # hold the answer until released by hand
    client = connect(scripted, timeout=0.3)
    late = client.send([sms("t1")])[0]
    assert (late.accepted, late.error_kind, late.error_code) == (False, AMBIGUOUS, ERR_TIMEOUT)

    scripted.release_all()
    scripted.hold_until_idle = 0
    result = client.send([sms("t2")])[0]
    assert result.accepted
    assert result.provider_id == scripted.submits[1].message_id != scripted.submits[0].message_id


def test_refused_part_after_an_accepted_one_is_ambiguous_never_resent(scripted, connect):
    scripted.refuse_nth = {2: 0x08}
    result = connect(scripted, window=1).send([sms(body="y" * 400)])[0]

    # part 1 was accepted: sending the message again would deliver it twice
    assert (result.accepted, result.error_kind, result.error_code) == (False, AMBIGUOUS, ERR_SERVER)
    assert "part 2/3" in result.error_message
    assert len(scripted.submits) == 2  # the third part is not sent


def test_multipart_message_with_a_part_left_unanswered_is_ambiguous(scripted, connect):
    scripted.silent_nth = {2}  # parts 1 and 3 accepted, part 2 never answered
    result = connect(scripted, timeout=0.4).send([sms(body="y" * 400)])[0]

    assert len(scripted.submits) == 3
    assert [s.message_id is not None for s in scripted.submits] == [True, False, True]
    assert (result.accepted, result.error_kind, result.error_code) == (
        False,
        AMBIGUOUS,
        ERR_TIMEOUT,
    )
    assert result.provider_id is None
    assert "part 2" in result.error_message


def test_retryable_refusal_of_one_part_is_ambiguous_when_another_goes_unanswered(scripted, connect):
    scripted.refuse_nth = {1: 0x08}  # ESME_RSYSERR: alone it would be retryable
    scripted.silent_nth = {2}
    result = connect(scripted, timeout=0.4).send([sms(body="y" * 400)])[0]

    assert len(scripted.submits) == 3  # all parts were written before any answer
    assert (result.error_kind, result.error_code) == (AMBIGUOUS, ERR_TIMEOUT)


def test_permanent_refusal_of_one_part_wins_over_an_unanswered_part(scripted, connect):
    scripted.refuse_nth = {1: 0x0B}  # ESME_RINVDSTADR
    scripted.silent_nth = {2}
    result = connect(scripted, timeout=0.4).send([sms(body="y" * 400)])[0]

    assert (result.error_kind, result.error_code) == (PERMANENT, ERR_INVALID_NUMBER)
    assert "part 1/3" in result.error_message


def test_multipart_message_cut_by_a_drop_is_ambiguous_and_not_resumed(scripted, connect):
    scripted.disconnect_nth = {2}  # part 1 accepted, part 2 read, then the link drops
    messages = [sms("t1", body="y" * 400), sms("t2", to=f"+{dest(2)}")]
    results = connect(scripted, window=1).send(messages)

    assert (results[0].accepted, results[0].error_kind, results[0].error_code) == (
        False,
        AMBIGUOUS,
        ERR_NETWORK,
    )
    assert results[1].accepted  # sent on the new bind
    assert [s.destination_addr for s in scripted.submits] == [HANDSET, HANDSET, dest(2)]
    assert len(scripted.binds) == 2


# -- receiving -------------------------------------------------------------------------------


def test_receive_returns_a_receipt_parsed_from_the_standard_text(smsc, connect):
    client = connect(smsc)
    provider_id = client.send([sms()])[0].provider_id
    pushed = push_receipt(smsc, provider_id)

    reports, inbound = receive_all(client, 1)
    assert reports == [
        StatusReport(
            provider_id=provider_id,
            status=STATUS_DELIVERED,
            to="+8613800138000",
            occurred_at=datetime(2025, 1, 2, 15, 30),
        )
    ]
    assert inbound == []
    assert pushed.status() == ROK


@pytest.mark.parametrize(
    "stat, status",
    [
        ("DELIVRD", STATUS_DELIVERED),
        ("UNDELIV", STATUS_UNDELIVERED),
        ("EXPIRED", STATUS_UNDELIVERED),
        ("REJECTD", STATUS_FAILED),
        ("DELETED", STATUS_FAILED),
        ("UNKNOWN", STATUS_FAILED),
        ("ACCEPTD", STATUS_SENT),
        ("ENROUTE", STATUS_SENT),
    ],
)
def test_receipt_stat_maps_to_status(scripted, connect, stat, status):
    client = connect(scripted)
    client.send([sms()])
    push_receipt(scripted, "MSG00001", stat=stat, err="000" if stat == "DELIVRD" else "012")

    (report,), _inbound = receive_all(client, 1)
    assert (report.provider_id, report.status) == ("MSG00001", status)
    if status == STATUS_DELIVERED:
        assert (report.error_code, report.error_message) == (None, None)
    else:
        assert (report.error_code, report.error_message) == ("012", stat)


def test_receipt_tlvs_are_preferred_over_the_text(smsc, connect):
    client = connect(smsc)
    provider_id = client.send([sms()])[0].provider_id
    smsc.push_deliver_sm(
        "Shop",
        receipt_text("WRONG", "UNDELIV"),
        source_addr=HANDSET,
        source_addr_ton=1,
        esm_class=0x04,
        tlvs=[
            (TLV_RECEIPTED_MESSAGE_ID, provider_id.encode() + b"\0"),
            (TLV_MESSAGE_STATE, b"\x02"),  # DELIVERED
            (TLV_DPF_RESULT, b"\x00"),
            (TLV_VENDOR, b"\xaa\xbb"),
        ],
    )

    (report,), _inbound = receive_all(client, 1)
    assert (report.provider_id, report.status) == (provider_id, STATUS_DELIVERED)


def test_receipt_made_of_tlvs_only_uses_the_network_error_code(smsc, connect):
    client = connect(smsc)
    provider_id = client.send([sms()])[0].provider_id
    smsc.push_deliver_sm(
        "Shop",
        source_addr=HANDSET,
        source_addr_ton=1,
        esm_class=0x04,
        tlvs=[
            (TLV_RECEIPTED_MESSAGE_ID, provider_id.encode()),  # no NUL, as some SMSCs send
            (TLV_MESSAGE_STATE, b"\x05"),  # UNDELIVERABLE
            (TLV_NETWORK_ERROR_CODE, b"\x03\x00\x01"),  # GSM, error 1
        ],
    )

    (report,), _inbound = receive_all(client, 1)
    assert (report.provider_id, report.status) == (provider_id, STATUS_UNDELIVERED)
    assert (report.error_code, report.error_message) == ("3:1", "UNDELIVERABLE")


def test_receipt_of_a_later_part_is_not_reported_as_the_message(scripted, connect):
    client = connect(scripted)
    result = client.send([sms(body="z" * 200)])[0]
    first, second = (s.message_id for s in scripted.submits)
    push_receipt(scripted, second, stat="UNDELIV")
    push_receipt(scripted, first)

    reports, _inbound = receive_all(client, 2, timeout=1.0)
    assert [(r.provider_id, r.status) for r in reports] == [(result.provider_id, STATUS_DELIVERED)]


@pytest.mark.parametrize(
    "data_coding, payload, body",
    [
        (0, b"STOP \x00 \x1be \x11", "STOP @ € _"),  # GSM-7 septets
        (8, "退订，谢谢".encode("utf-16-be"), "退订，谢谢"),  # UCS-2
        (3, "Olá, não".encode("latin-1"), "Olá, não"),  # Latin-1
        (1, b"Hello", "Hello"),  # IA5 / ASCII
    ],
    ids=["gsm7", "ucs2", "latin1", "ascii"],
)
def test_mo_message_is_decoded_by_data_coding(smsc, connect, data_coding, payload, body):
    client = connect(smsc)
    client.send([sms()])
    pushed = smsc.push_deliver_sm(
        "10690000",
        payload,
        source_addr=HANDSET,
        source_addr_ton=1,
        source_addr_npi=1,
        dest_addr_ton=0,
        data_coding=data_coding,
    )

    reports, inbound = receive_all(client, 1)
    assert reports == []
    assert inbound == [InboundSms(sender="+8613800138000", body=body, to="10690000")]
    assert pushed.status() == ROK


def test_mo_sent_as_data_sm_with_message_payload_is_received_and_answered(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    body = (
        b"\0"  # service_type
        + bytes([1, 1]) + HANDSET.encode() + b"\0"
        + bytes([0, 0]) + b"10690000\0"
        + bytes([0, 0, 8])  # esm_class, registered_delivery, data_coding UCS-2
        + struct.pack(">HH", 0x0424, 4) + "好的".encode("utf-16-be")
    )  # fmt: skip
    scripted.send_raw(header(0x00000103, ROK, 777, body))

    _reports, inbound = receive_all(client, 1)
    assert inbound == [InboundSms(sender="+8613800138000", body="好的", to="10690000")]
    assert wait_until(lambda: scripted.other_resps.get((0x80000103, 777)) == ROK)


def test_mo_sender_is_kept_as_given_when_ton_is_not_international(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    scripted.push_deliver_sm("10690000", b"TD", source_addr="13800138000", source_addr_ton=2)

    _reports, (message,) = receive_all(client, 1)
    assert (message.sender, message.body) == ("13800138000", "TD")


def test_concatenated_mo_is_reassembled_whatever_the_part_order(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    text = "您好，我想问一下周六几点开门？" * 6
    units = text.encode("utf-16-be")
    halves = [units[:134], units[134:]]
    for number in (2, 1):
        scripted.push_deliver_sm(
            "10690000",
            bytes([5, 0, 3, 0x2A, 2, number]) + halves[number - 1],
            source_addr=HANDSET,
            source_addr_ton=1,
            esm_class=0x40,
            data_coding=8,
        )

    reports, inbound = receive_all(client, 1)
    assert reports == []
    assert inbound == [InboundSms(sender="+8613800138000", body=text, to="10690000")]


def test_incomplete_concatenated_mo_is_returned_after_close(scripted, connect):
    client = connect(scripted)
    client.send([sms()])
    pushed = scripted.push_deliver_sm(
        "10690000", bytes([5, 0, 3, 7, 3, 1]) + b"first third", source_addr=HANDSET, esm_class=0x40
    )
    assert client.receive(timeout=0.5) == ([], [])
    assert pushed.status() == ROK

    client.close()
    _reports, inbound = client.receive()
    assert [m.body for m in inbound] == ["first third"]
    assert len(scripted.binds) == 1  # returning buffered items does not bind again


def test_receipts_arriving_during_send_are_kept_for_the_next_receive(smsc, connect):
    smsc.receipts_during_send = True
    client = connect(smsc)
    results = client.send(numbered(3))
    assert all(r.accepted for r in results)

    reports, _inbound = receive_all(client, 3)
    assert sorted(r.provider_id for r in reports) == sorted(r.provider_id for r in results)
    assert {r.status for r in reports} == {STATUS_DELIVERED}


def test_receipts_read_during_send_survive_a_later_connection_loss(scripted, connect):
    scripted.receipts_during_send = True
    client = connect(scripted)
    results = client.send(numbered(3))
    scripted.drop()  # whatever was read during send is already buffered and acknowledged

    reports, _inbound = client.receive(timeout=0)
    # receipts 1 and 2 came in before the 3rd submit_sm_resp, so send() read them
    assert {r.provider_id for r in reports} >= {results[0].provider_id, results[1].provider_id}
    assert all(status == ROK for status in scripted.deliver_resps.values())


def test_receive_collects_a_paced_train_of_receipts_in_one_call_and_returns_early(
    scripted, connect
):
    client = connect(scripted)
    results = client.send(numbered(5))

    def paced():
        for result in results:
            push_receipt(scripted, result.provider_id)
            time.sleep(0.05)  # an SMSC windowing its deliver_sm

    pusher = threading.Thread(target=paced)
    started = time.monotonic()
    pusher.start()
    reports, _inbound = client.receive(timeout=5)
    pusher.join()

    assert [r.provider_id for r in reports] == [r.provider_id for r in results]
    assert time.monotonic() - started < 2


def test_receive_with_nothing_pending_binds_and_returns_empty_within_the_timeout(smsc, connect):
    client = connect(smsc)
    started = time.monotonic()
    assert client.receive(timeout=0.3) == ([], [])
    assert 0.25 <= time.monotonic() - started < 1.5
    assert len(smsc.binds) == 1


def test_receive_raises_a_session_error_when_the_bind_is_refused(scripted, connect):
    with pytest.raises(SmppSessionError) as error:
        connect(scripted, password="wrong").receive(timeout=0.1)
    assert error.value.error_code == ERR_AUTH


def test_deliver_sm_arriving_during_unbind_is_refused_so_the_smsc_delivers_it_again(
    scripted, connect
):
    scripted.deliver_on_unbind = True
    client = connect(scripted)
    client.send([sms()])
    client.close()

    assert scripted.deliver_resp(scripted.unbind_deliver_sequence) == 0x64  # ESME_RX_T_APPN


# -- pure helpers ----------------------------------------------------------------------------


def test_gsm_tables_match_the_encoding_module_and_round_trip():
    gsm_characters = "".join(sorted(encoding._GSM_ALL))
    assert encoding.is_gsm7(gsm_characters)
    assert smpp_gateway.gsm_decode(smpp_gateway.gsm_encode(gsm_characters)) == gsm_characters


def test_receipt_text_fields_are_read_case_insensitively_with_free_text_last():
    fields = smpp_gateway.parse_receipt_text(
        "id:0A1B2C sub:001 dlvrd:000 Submit date:2501021529 Done date:250102153012 "
        "stat:UNDELIV err:034 Text:Your code is 1234 stat:x"
    )
    assert fields["id"] == "0A1B2C"
    assert fields["stat"] == "UNDELIV"
    assert fields["err"] == "034"
    assert fields["text"].startswith("Your code is 1234")
    assert smpp_gateway.parse_receipt_date(fields["done_date"]) == datetime(2025, 1, 2, 15, 30, 12)
    assert smpp_gateway.parse_receipt_date("99999") is None


def test_default_alphabet_falls_back_to_latin1_for_octets_above_0x7f():
    assert smpp_gateway.decode_short_message("café".encode("latin-1"), 0) == "café"


def test_pdu_framing_constant_matches_the_spec_header_size():
    # a sanity check of the test harness itself: 16-octet header, big-endian
    assert header(0x15, 0, 7) == struct.pack(">LLLL", 16, 0x15, 0, 7)
