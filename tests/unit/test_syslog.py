"""Syslog parsing (RFC 5424, RFC 3164) and TCP framing (RFC 6587), table-tested; then through field mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collector.field_mapping import map_document, map_native
from collector.syslog.framing import Deframer, FrameError
from collector.syslog.message import SyslogError, parse
from lookout.contract import InvalidEvent, validate_event
from lookout.settings import Settings, SettingsError

# 2026-12-01T12:00:00Z
RECEIVED_MS = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp() * 1000)


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("line", "document", "key"),
    [
        # RFC 5424 section 6.5, example 1 (no structured data, BOM before the message)
        (
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick",
            {
                "timestamp": "2003-10-11T22:14:15.003Z",
                "instance": "mymachine.example.com",
                "service": "su",
                "message": "'su root' failed for lonvick",
                "level": "crit",
                "metadata": {"syslog": {"facility": "auth", "severity": "crit", "msgid": "ID47"}},
            },
            None,
        ),
        # example 3: structured data kept, the message after it
        (
            '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
            'eventSource="Application" eventID="1011"] An application event log entry',
            {
                "timestamp": "2003-10-11T22:14:15.003Z",
                "instance": "mymachine.example.com",
                "service": "evntslog",
                "message": "An application event log entry",
                "level": "notice",
                "metadata": {
                    "syslog": {"facility": "local4", "severity": "notice", "msgid": "ID47"},
                    "sd": {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}},
                },
            },
            None,
        ),
        # example 4: two elements, no message; our key element is taken out and returned
        (
            '<165>1 2003-10-11T22:14:15.003Z host app 42 - [lookout@32473 key="lk_secret"]'
            '[examplePriority@32473 class="high"]',
            {
                "timestamp": "2003-10-11T22:14:15.003Z",
                "instance": "host",
                "service": "app",
                "message": "",
                "level": "notice",
                "metadata": {
                    "syslog": {"facility": "local4", "severity": "notice", "procid": "42"},
                    "sd": {"examplePriority@32473": {"class": "high"}},
                },
            },
            "lk_secret",
        ),
        # escapes in values, a repeated parameter, nil header fields
        (
            r'<14>1 - - - - - [x@1 a="q\"uo\]te\\" a="2"] hi',
            {
                "message": "hi",
                "level": "info",
                "metadata": {
                    "syslog": {"facility": "user", "severity": "info"},
                    "sd": {"x@1": {"a": ['q"uo]te\\', "2"]}},
                },
            },
            None,
        ),
        # no escapes (parameters split at the quotes): "]", "=" and spaces inside values, an empty value, two elements
        (
            '<14>1 - - - - - [x@1 a="1] 2" b="" c="k=v"][y@2 a="z"] hi',
            {
                "message": "hi",
                "level": "info",
                "metadata": {
                    "syslog": {"facility": "user", "severity": "info"},
                    "sd": {"x@1": {"a": "1] 2", "b": "", "c": "k=v"}, "y@2": {"a": "z"}},
                },
            },
            None,
        ),
        # RFC 3164 section 5.4 example 1: BSD time in the latest year not after receipt
        (
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            {
                "timestamp": _ms(2026, 10, 11, 22, 14, 15),
                "instance": "mymachine",
                "service": "su",
                "message": "'su root' failed for lonvick on /dev/pts/8",
                "level": "crit",
                "metadata": {"syslog": {"facility": "auth", "severity": "crit"}},
            },
            None,
        ),
        # a January-dated line received in December is from this year; a December one in January from the last
        (
            "<13>Jan  5 17:32:18 10.0.0.99 myapp[123]: Use the BFG!",
            {
                "timestamp": _ms(2026, 1, 5, 17, 32, 18),
                "instance": "10.0.0.99",
                "service": "myapp",
                "message": "Use the BFG!",
                "level": "notice",
                "metadata": {"syslog": {"facility": "user", "severity": "notice", "procid": "123"}},
            },
            None,
        ),
        # rsyslog's RSYSLOG_ForwardFormat: an RFC 3339 time in the BSD header
        (
            "<30>2026-12-01T11:59:00.5+01:00 web-1 nginx[7]: GET /health 200",
            {
                "timestamp": "2026-12-01T11:59:00.5+01:00",
                "instance": "web-1",
                "service": "nginx",
                "message": "GET /health 200",
                "level": "info",
                "metadata": {"syslog": {"facility": "daemon", "severity": "info", "procid": "7"}},
            },
            None,
        ),
        # no timestamp, no host: a tag and a message (what logger(1) sends to a local socket)
        (
            "<15>cron: job done",
            {
                "service": "cron",
                "message": "job done",
                "level": "debug",
                "metadata": {"syslog": {"facility": "user", "severity": "debug"}},
            },
            None,
        ),
        # nothing recognizable after PRI: all of it is the message
        (
            "<11>just text",
            {"message": "just text", "level": "err", "metadata": {"syslog": {"facility": "user", "severity": "err"}}},
            None,
        ),
    ],
)
def test_parse(line: str, document: dict, key: str | None) -> None:
    assert parse(line, received_ms=RECEIVED_MS) == (document, key)


def test_december_line_read_in_january_is_last_year() -> None:
    document, _ = parse("<13>Dec 31 23:59:59 h app: late", received_ms=_ms(2027, 1, 1, 0, 0, 5))
    assert document["timestamp"] == _ms(2026, 12, 31, 23, 59, 59)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("no pri", "starts with <PRI>"),
        ("<192>1 - - - - - - x", "out of range"),
        ("<13>1 2026-12-01T00:00:00Z host", "RFC 5424 header"),
        ('<13>1 - - - - - [unclosed a="1"', "not closed"),
        ('<13>1 - - - - - [x@1 a="open] msg', "not closed with '\"'"),
        ("<13>1 - - - - - [x@1 a=1] msg", 'name="value"'),
        ("<13>1 - - - - - nonsense msg", "structured data must be"),
        ("<13>Feb 30 10:00:00 host app: x", "invalid date"),
    ],
)
def test_unreadable_messages_say_why(line: str, fragment: str) -> None:
    with pytest.raises(SyslogError, match=None) as raised:
        parse(line, received_ms=RECEIVED_MS)
    assert fragment in str(raised.value)


def test_mapped_event_has_its_fields_in_columns() -> None:
    document, _ = parse(
        '<163>1 2026-12-01T11:00:00Z web-1 payments 99 - [lookout@32473 key="lk_supersecret"][req@1 id="7"] '
        "card declined",
        received_ms=RECEIVED_MS,
    )
    event = validate_event(
        map_document(document, default_kind="log", received_ms=RECEIVED_MS, fallback_service="syslog"),
        RECEIVED_MS,
    ).to_json_dict()
    assert (event["service"], event["instance"], event["level"], event["message"]) == (
        "payments",
        "web-1",
        "error",
        "card declined",
    )
    assert event["ts"] == _ms(2026, 12, 1, 11)
    assert event["metadata"] == {
        "syslog": {"facility": "local4", "severity": "err", "procid": "99"},
        "sd": {"req@1": {"id": "7"}},
    }
    assert "lk_supersecret" not in repr(event)


def _stored(event: dict[str, object]) -> dict[str, object] | str:
    """What validation makes of a mapped event: its wire form without the random event id, or its error."""
    try:
        wire = validate_event(event, RECEIVED_MS).to_json_dict()
    except InvalidEvent as exc:
        return str(exc)
    del wire["event_id"]
    return wire


@pytest.mark.parametrize(
    "line",
    [
        '<163>1 2026-12-01T11:00:00.123+02:00 web-1 payments 99 - [req@1 id="7"] card declined',
        "<14>1 2026-12-01T11:00:00.5z h app - - - lower-case z",
        "<14>1 2026-12-01T11:00:00 h app - - - no offset: read as UTC by map_document",
        "<14>1 2026-13-01T11:00:00Z h app - - - no such month",
        "<14>1 1971-01-01T00:00:00Z h app - - - before 1973: validation's hint is for numbers only",
        "<14>1 2003-10-11T22:14:15.003Z h app - - - older than a year",
        "<14>1 6000-01-01T00:00:00Z h app - - - far future",
        "<14>1 2026-12-01T11:00:00Z  app - - - empty hostname",
        "<14>1 2026-12-01T11:00:00Z h  - - - empty app-name",
        "<14>1 2026-12-01T11:00:00Z h app - - -",
        "<14>1 2026-12-01T11:00:00Z h app - - - nul \x00 in the message",
        "<14>1 2026-12-01T11:00:00Z h web/api:v1 - - - service name cleaned",
        "<14>1 - - - - - - nil header",
        "<30>2026-12-01T11:59:00.5+01:00 web-1 nginx[7]: rsyslog forward format",
        "<34>Oct 11 22:14:15 mymachine su: BSD time",
        "<11>just text",
    ],
)
@pytest.mark.parametrize("fallback", ["syslog", None])
def test_native_mapping_stores_what_the_general_mapping_stores(line: str, fallback: str | None) -> None:
    document = parse(line, received_ms=RECEIVED_MS)[0]
    mapped = {"default_kind": "log", "received_ms": RECEIVED_MS, "fallback_service": fallback}
    assert _stored(map_native(document, **mapped)) == _stored(map_document(document, **mapped))


FIVE = b"<13>1 - - app - - - hello"


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"<13>a\n<13>b\r\n"], [b"<13>a", b"<13>b"]),  # LF framing, CR dropped
        ([b"<13>a", b"bc\n<1", b"3>d\n"], [b"<13>abc", b"<13>d"]),  # split anywhere
        ([b"25 " + FIVE + b"25 " + FIVE], [FIVE, FIVE]),  # octet counting, back to back
        ([b"2", b"5 " + FIVE[:10], FIVE[10:]], [FIVE]),  # the count itself split
        ([b"25 " + FIVE + b"<13>x\n"], [FIVE, b"<13>x"]),  # framing chosen per message
        ([b"\n\n<13>x\n\x00"], [b"<13>x"]),  # stray terminators
    ],
)
def test_framing(chunks: list[bytes], expected: list[bytes]) -> None:
    deframer = Deframer(max_message_bytes=64)
    out: list = []
    for chunk in chunks:
        out += deframer.feed(chunk)
    assert out == expected


def test_oversized_messages_are_skipped_and_the_stream_stays_in_step() -> None:
    deframer = Deframer(max_message_bytes=10)
    out = deframer.feed(b"30 " + b"x" * 20)
    out += deframer.feed(b"y" * 10 + b"5 <13>a")  # the rest of the 30 bytes, then a good message
    out += deframer.feed(b"<13>" + b"z" * 20)  # an LF-framed one over the limit, not yet ended
    out += deframer.feed(b"zz\n<13>b\n")
    assert out == [
        FrameError("message of 30 bytes is longer than the limit of 10"),
        b"<13>a",
        FrameError("message is longer than the limit of 10 bytes"),
        b"<13>b",
    ]


def test_bad_octet_count_skips_to_the_next_line() -> None:
    deframer = Deframer(max_message_bytes=100)
    assert deframer.feed(b"12345678901 x\n<13>ok\n") == [
        FrameError("an octet-counted message must start with its length (at most 10 digits) and a space"),
        b"<13>ok",
    ]
    assert deframer.feed(b"1x2 junk\n<13>ok\n") == [FrameError("invalid octet count b'1x2'"), b"<13>ok"]


def test_close_keeps_a_last_line_without_lf_and_reports_a_cut_message() -> None:
    deframer = Deframer(max_message_bytes=100)
    assert deframer.feed(b"<13>last") == []
    assert deframer.close() == [b"<13>last"]
    assert deframer.feed(b"25 <13>1 cut") == []
    assert deframer.close() == [FrameError("the connection closed inside an octet-counted message (12 bytes kept)")]


def test_tls_settings_come_in_pairs_and_port_zero_means_off() -> None:
    with pytest.raises(SettingsError, match="LOOKOUT_SYSLOG_TLS_KEY"):
        Settings.from_env({"LOOKOUT_SYSLOG_TLS_CERT": "/etc/ssl/cert.pem"})
    assert Settings.from_env({"LOOKOUT_SYSLOG_PORT": "0"}).syslog_port == 0
    with pytest.raises(SettingsError, match="LOOKOUT_SYSLOG_PORT"):
        Settings.from_env({"LOOKOUT_SYSLOG_PORT": "70000"})
