"""The syslog parser's RFC 5424 reading against what each generated line was built from, and the mapping's
RFC 3339 reading against the contract's. Run with HYPOTHESIS_PROFILE=long after changing either.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from collector.field_mapping import rfc3339_ms
from collector.syslog.message import FACILITIES, KEY_SD_ID, SEVERITIES, SyslogError, parse
from lookout.contract.fields import FieldError, parse_timestamp

RECEIVED_MS = 1_796_126_400_000  # 2026-12-01T12:00:00Z
BOM = "\ufeff"
# A header field is anything up to the next space; line ends are left out, as parse drops trailing ones.
FIELDS = st.one_of(st.just("-"), st.just(""), st.text(st.characters(exclude_characters=" \r\n"), max_size=8))
SD_NAMES = st.text(st.characters(exclude_characters=' =]"', exclude_categories=["Z", "Cc"]), min_size=1, max_size=6)
SD_VALUES = st.text(st.characters(exclude_characters='"\\'), max_size=8)  # escapes: tests/unit/test_syslog.py
ELEMENTS = st.lists(
    st.tuples(st.one_of(SD_NAMES, st.just(KEY_SD_ID)),
              st.lists(st.tuples(st.one_of(SD_NAMES, st.just("key")), SD_VALUES), max_size=4)),
    max_size=3, unique_by=lambda element: element[0])
MESSAGES = st.one_of(st.just(""), st.text(st.characters(exclude_characters="\r\n"), max_size=20),
                     st.text(max_size=10).map(lambda text: BOM + text + "."))


def _params(pairs: list[tuple[str, str]]) -> dict[str, object]:
    """What a parameter list reads as: a repeated name keeps every value, as a list."""
    params: dict[str, object] = {}
    for name, value in pairs:
        if name not in params:
            params[name] = value
        elif type(params[name]) is list:
            params[name].append(value)  # type: ignore[attr-defined]
        else:
            params[name] = [params[name], value]
    return params


@given(st.integers(0, 191), st.lists(FIELDS, min_size=5, max_size=5), ELEMENTS, MESSAGES)
@example(165, ["2003-08-24T05:14:15.000003-07:00", "192.0.2.1", "myproc", "8710", "-"], [], "%% It's time")
@example(13, ["-", "-", "-", "-", "-"], [(KEY_SD_ID, [("key", "k1"), ("key", "k2")])], "")  # a list is no key
def test_rfc5424_line_reads_as_built(priority: int, fields: list[str], elements: list, message: str) -> None:
    timestamp, hostname, app_name, procid, msgid = fields
    sd = "".join(f"[{sd_id}" + "".join(f' {n}="{v}"' for n, v in pairs) + "]" for sd_id, pairs in elements) or "-"
    line = f"<{priority}>1 {' '.join(fields)} {sd}" + (f" {message}" if message else "")

    parsed, parsed_key = parse(line, received_ms=RECEIVED_MS)

    syslog: dict[str, object] = {"facility": FACILITIES[priority >> 3], "severity": SEVERITIES[priority & 7]}
    if procid != "-":
        syslog["procid"] = procid
    if msgid != "-":
        syslog["msgid"] = msgid
    sd_elements = {sd_id: _params(pairs) for sd_id, pairs in elements}
    own = sd_elements.pop(KEY_SD_ID, {})
    key = own.pop("key", None)
    if own:
        sd_elements[KEY_SD_ID] = own
    named = {"timestamp": timestamp, "instance": hostname, "service": app_name}
    document: dict[str, object] = {name: value for name, value in named.items() if value != "-"}
    document["message"] = message[1:] if message.startswith(BOM) else message
    document["level"] = SEVERITIES[priority & 7]
    document["metadata"] = {"syslog": syslog, "sd": sd_elements} if sd_elements else {"syslog": syslog}
    assert parsed == document
    assert list(parsed) == list(document)  # the order map_document would read them in
    assert parsed_key == (key if type(key) is str else None)


@given(st.integers(0, 191), st.lists(FIELDS, max_size=5))
@example(13, ["2026-12-01T00:00:00Z", "host"])
def test_rfc5424_line_without_structured_data_says_what_is_missing(priority: int, fields: list[str]) -> None:
    line = f"<{priority}>1 " + " ".join(fields)
    try:
        parse(line, received_ms=RECEIVED_MS)
    except SyslogError as exc:
        # Five fields and a MSGID: only the structured data is missing.
        missing = "structured data must be" if len(fields) == 5 and fields[4] else "an RFC 5424 header needs"
        assert str(exc).startswith(missing)
    else:
        raise AssertionError(f"{line!r} parsed")


@given(st.integers(192, 999), st.lists(FIELDS, min_size=6, max_size=6))
def test_priority_past_191_is_refused_whatever_follows(priority: int, fields: list[str]) -> None:
    try:
        parse(f"<{priority}>1 " + " ".join(fields), received_ms=RECEIVED_MS)
    except SyslogError as exc:
        assert str(exc) == f"priority {priority} is out of range (0..191)"
    else:
        raise AssertionError("parsed")


def _contract(text: str) -> int | str:
    try:
        return parse_timestamp(text)
    except FieldError as exc:
        return str(exc)


def _mapping(text: str) -> int | str:
    try:
        return rfc3339_ms(text)
    except FieldError as exc:
        return str(exc)


SECONDS = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat(timespec="seconds")),
    st.sampled_from(["2026-02-30T10:00:00", "2026-12-01t10:00:00", "2026-12-01 10:00:00", "2026-12-01T10:00:6",
                     "2026-12-01T24:00:00", "\u0662026-12-01T10:00:00", "2026-12-01T10:00:00+01:00"]),
)
FRACTIONS = st.one_of(st.just(""), st.just("."), st.text("0123456789", min_size=1, max_size=12).map(".".__add__),
                      st.sampled_from([".\u0663", ".1\u00b2", ". 1", ".+1", ".1_2"]))
ZONES = st.sampled_from(["Z", "z", "", "+00:00", "-07:30", "Zx"])


@given(st.lists(st.tuples(SECONDS, FRACTIONS, ZONES), min_size=1, max_size=6))
@example([("2026-12-01T10:00:00", ".5", "Z"), ("2026-12-01T10:00:00", ".\u0663", "Z")])
@example([("2026-12-01T10:00:00", "", "Z"), ("2026-12-01T10:00:00", ".123456789", "z")])
def test_mapping_reads_times_as_the_contract_does(times: list[tuple[str, str, str]]) -> None:
    # In sequence, and each time twice: a time read after one of the same second takes the shortcut.
    for parts in times + times:
        text = "".join(parts)
        assert _mapping(text) == _contract(text), text
