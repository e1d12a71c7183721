"""One syslog message (RFC 5424 or RFC 3164) -> a document for collector.field_mapping. Pure: no I/O.

* RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD...] MSG``, ``-`` for a nil field, the
  message optionally after a UTF-8 BOM. Structured data is kept in metadata as ``{"sd": {id: {name:
  value}}}`` (a repeated parameter keeps every value, as a list).
* RFC 3164 (BSD): ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG``. The timestamp has no year and no zone:
  it is read as UTC in the latest year that does not put it more than a day after the time received (a
  December line read in January belongs to last year). Senders that write an RFC 3339 time there instead (rsyslog's
  ``RSYSLOG_ForwardFormat``) are read too, and a line without a hostname (``TAG: MSG``) is accepted.

The API key may travel in the structured-data element ``[lookout@32473 key="..."]``; it is taken out of
the document (never stored) and returned beside it.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

# The SD-ID under which a sender passes its Lookout key; 32473 is the private enterprise number RFC 5612
# reserves for documentation, as RFC 5424's own examples use it.
KEY_SD_ID = "lookout@32473"
KEY_PARAM = "key"
FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
)
# The contract's level aliases map these names onto its five levels (emerg..err -> error, notice -> info).
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_NIL = "-"
_BOM = "\ufeff"
_PRI = re.compile(r"<(\d{1,3})>")
_MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
_BSD_TIME = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?) ")
_TAG = re.compile(r"([^\s:\[]{1,128})(?:\[([^\]\s]{1,128})\])?:(?: |$)")
_CLOCK_SKEW = timedelta(days=1)  # a sender's clock slightly ahead must not make its line a year old
_SD_NAME = re.compile(r'[^\s=\]"]{1,32}')
# A PARAM-VALUE runs to the first quote not escaped; \" \\ \] are its escapes (another backslash is kept).
# Written as runs of plain characters between escapes, possessive: an alternation per character
# ((?:[^"\\]|\\.)*) made the element match two thirds of the parser's time.
_SD_VALUE = r'[^"\\]*+(?:\\.[^"\\]*+)*+'
_SD_PARAM = re.compile(rf' ([^\s=\]"]{{1,32}}+)="({_SD_VALUE})"')
_SD_ELEMENT = re.compile(rf'\[([^\s=\]"]{{1,32}}+)((?: [^\s=\]"]{{1,32}}+="{_SD_VALUE}")*+)\]')
_PLAIN_PARAM = re.compile(r' ([^=]*)="([^"]*)"')
_SD_ESCAPE = re.compile(r'\\(["\\\]])')


class SyslogError(ValueError):
    """The message cannot be read as syslog; the reason names what is wrong."""


# (document, key): the key from [lookout@32473 key="..."], if the message carried one. A plain tuple, built
# per message: a NamedTuple's constructor (a Python function) cost ten times as much, 0.4 us a message.
Parsed = tuple[dict[str, object], str | None]


def parse(line: str, *, received_ms: int) -> Parsed:
    """A syslog message without its framing; SyslogError if it has no valid ``<PRI>``.

    Trailing line ends are dropped: syslog-ng's ``syslog()`` driver counts an LF into the frame.
    """
    line = line.rstrip("\r\n")
    found = _PRI.match(line)
    if found is None:
        raise SyslogError("a syslog message starts with <PRI>, a priority of 0..191 in angle brackets")
    priority = int(found.group(1))
    if priority > 191:
        raise SyslogError(f"priority {priority} is out of range (0..191)")
    rest = line[found.end():]
    facility, severity = FACILITIES[priority >> 3], SEVERITIES[priority & 7]
    syslog: dict[str, object] = {"facility": facility, "severity": severity}
    metadata: dict[str, object] = {"syslog": syslog}
    if rest.startswith("1 "):
        document, key = _rfc5424(rest[2:], syslog, metadata)
    else:
        document, key = _rfc3164(rest, syslog, received_ms), None
    document["level"] = severity
    document["metadata"] = metadata
    return document, key


def _rfc5424(rest: str, syslog: dict[str, object], metadata: dict[str, object]) -> tuple[dict[str, object], str | None]:
    parts = rest.split(" ", 5)
    if len(parts) < 6:
        parts += [""] * (6 - len(parts))
        if parts[4] == "":
            raise SyslogError("an RFC 5424 header needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA")
    timestamp, hostname, app_name, procid, msgid, tail = parts
    document: dict[str, object] = {}
    if timestamp != _NIL:
        document["timestamp"] = timestamp
    if hostname != _NIL:
        document["instance"] = hostname
    if app_name != _NIL:
        document["service"] = app_name
    if procid != _NIL:
        syslog["procid"] = procid
    if msgid != _NIL:
        syslog["msgid"] = msgid
    elements, message = _structured_data(tail)
    key = None
    own = elements.get(KEY_SD_ID)
    if own is not None:
        value = own.pop(KEY_PARAM, None)
        key = value if type(value) is str else None
        if not own:
            del elements[KEY_SD_ID]
    if elements:
        metadata["sd"] = elements
    document["message"] = message[1:] if message.startswith(_BOM) else message
    return document, key


def _structured_data(text: str) -> tuple[dict[str, dict[str, object]], str]:
    """The SD elements and the message after them."""
    if not text.startswith("["):
        if text == _NIL or text.startswith(_NIL + " "):
            return {}, text[2:]
        raise SyslogError('structured data must be "-" or [ID name="value" ...] elements')
    elements: dict[str, dict[str, object]] = {}
    position, end = 0, len(text)
    while True:
        # One match per element and one findall for its parameters: a loop per parameter in Python was the
        # listener's largest cost.
        element = _SD_ELEMENT.match(text, position)
        if element is None:
            _explain(text, position)
        sd_id, body = element.groups()  # type: ignore[union-attr]
        pairs = _params(body)
        params: dict[str, object] = dict(pairs)
        if len(params) != len(pairs):  # a repeated parameter keeps every value, as a list
            params = {}
            for name, value in pairs:
                previous = params.get(name)
                if previous is None:
                    params[name] = value
                elif type(previous) is list:
                    previous.append(value)
                else:
                    params[name] = [previous, value]
        elements[sd_id] = params
        position = element.end()  # type: ignore[union-attr]
        if position == end:
            return elements, ""
        following = text[position]
        if following == " ":
            return elements, text[position + 1:]
        if following != "[":
            raise SyslogError(f"expected a space after the structured data at character {position + 1}")


def _params(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of an element's parameters, already matched by _SD_ELEMENT."""
    if "\\" in text:
        return [(name, _SD_ESCAPE.sub(r"\1", value) if "\\" in value else value)
                for name, value in _SD_PARAM.findall(text)]
    # Without escapes no value holds a quote and no name an "=", so a simpler pattern splits them exactly.
    return _PLAIN_PARAM.findall(text)


def _explain(text: str, position: int) -> None:
    """Raise SyslogError naming what is wrong with the SD element at ``position`` (which does not match)."""
    sd_id = _SD_NAME.match(text, position + 1)
    if sd_id is None:
        raise SyslogError(f"structured data element without an SD-ID at character {position + 1}")
    position = sd_id.end()
    while position < len(text) and text[position] == " ":
        param = _SD_PARAM.match(text, position)
        if param is None:
            name = _SD_NAME.match(text, position + 1)
            if name is not None and text.startswith('="', name.end()):
                raise SyslogError("structured data value is not closed with '\"'")
            raise SyslogError(f'structured data parameter must be name="value" at character {position + 2}')
        position = param.end()
    raise SyslogError(f"structured data element {sd_id.group()!r} is not closed with ']'")


def _rfc3164(rest: str, syslog: dict[str, object], received_ms: int) -> dict[str, object]:
    document: dict[str, object] = {}
    if bsd := _BSD_TIME.match(rest):
        month = _MONTHS.get(bsd.group(1))
        if month is not None:
            document["timestamp"] = _bsd_epoch_ms(month, *map(int, bsd.group(2, 3, 4, 5)), received_ms=received_ms)
            rest = rest[bsd.end():]
    elif iso := _ISO_TIME.match(rest):
        document["timestamp"] = iso.group(1)
        rest = rest[iso.end():]
    if "timestamp" in document and not _TAG.match(rest):
        hostname, _, after = rest.partition(" ")
        if hostname:
            document["instance"] = hostname
            rest = after
    if tag := _TAG.match(rest):
        document["service"] = tag.group(1)
        if tag.group(2):
            syslog["procid"] = tag.group(2)
        rest = rest[tag.end():]
    document["message"] = rest
    return document


def _bsd_epoch_ms(month: int, day: int, hour: int, minute: int, second: int, *, received_ms: int) -> int:
    """A yearless BSD time in the latest year that does not put it more than a day after it was received."""
    received = datetime.fromtimestamp(received_ms / 1000, UTC)
    candidates = []
    for year in (received.year - 1, received.year, received.year + 1):
        try:
            candidates.append(datetime(year, month, day, hour, minute, second, tzinfo=UTC))
        except ValueError:  # Feb 29 outside a leap year, hour 24...
            continue
    if not candidates:
        raise SyslogError(f"invalid date in the BSD timestamp: {calendar.month_abbr[month]} {day} {hour}:{minute}")
    latest = max((moment for moment in candidates if moment <= received + _CLOCK_SKEW), default=candidates[0])
    return int(latest.timestamp()) * 1000
