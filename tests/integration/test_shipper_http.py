"""``POST /v1/json[/<service>]`` end to end: Debian's syslog-ng with its ``http()`` destination forwarding a
line written to a file, winston's built-in Http transport, and the request bodies of Vector's ``http`` sink
and Fluent Bit's ``http`` output and rsyslog's ``omhttp`` (none of them installs here) in the shapes their
documentation and source show -> Kafka -> pipeline -> ``GET /api/v1/logs``."""

from __future__ import annotations

import ctypes
import gzip
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
import requests

from tests.integration.conftest import eventually
from tests.integration.node_clients import install_node_clients, run_node  # noqa: F401 (the node_clients fixture)

pytestmark = pytest.mark.integration

SYSLOG_NG_CONFIG = """@version: 3.38
options {{ stats-freq(0); keep-hostname(yes); }};
source s_app {{ file("{log_file}" follow-freq(0.1)); }};
destination d_lookout {{
    http(
        url("{url}/v1/json/syslog-fallback")
        method("POST")
        user("lookout")
        password("{key}")
        headers("Content-Type: application/x-ndjson")
        body("$(format-json --scope rfc5424 --key ISODATE)")
        body-suffix("\\n")
        batch-lines(10)
        batch-timeout(100)
    );
}};
log {{ source(s_app); destination(d_lookout); }};
"""


def _logs(dashboards_url: str, query_key: str, **params: str) -> list[dict]:
    r = requests.get(f"{dashboards_url}/api/v1/logs", params=params,
                     headers={"Authorization": f"Bearer {query_key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["logs"]


def _post(collector_url: str, key: str | None, body: bytes, path: str = "/v1/json", **headers: str):
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(f"{collector_url}{path}", data=body, headers=headers, timeout=10)


def test_syslog_ng_http_destination(tmp_path: Path, collector_url, dashboards_url, ingest_key, query_key):
    syslog_ng = shutil.which("syslog-ng")
    assert syslog_ng, "Debian's syslog-ng and syslog-ng-mod-http must be installed (apt-get install -y ...)"
    marker = uuid.uuid4().hex[:10]
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    config = tmp_path / "syslog-ng.conf"
    config.write_text(SYSLOG_NG_CONFIG.format(log_file=log_file, url=collector_url, key=ingest_key))
    process = subprocess.Popen(
        [syslog_ng, "-F", "--no-caps", "-f", str(config), "-R", str(tmp_path / "persist"),
         "-p", str(tmp_path / "pid"), "-c", str(tmp_path / "ctl")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
        with log_file.open("a") as out:
            out.write(f"{stamp} web-9 billing[4242]: <err> invoice failed {marker}\n")

        def stored() -> list[dict]:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            return _logs(dashboards_url, query_key, service="billing", q=marker)

        (row,) = eventually(stored, timeout_s=30)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert row["message"] == f"<err> invoice failed {marker}"
    assert row["instance"] == "web-9"
    assert row["level"] == "info"  # a file line has no priority; syslog-ng gives it notice
    assert row["metadata"]["PID"] == "4242"


def test_winston_http_transport(node_clients, collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    run = run_node(node_clients, "winston_http.js", LOOKOUT_URL=collector_url, LOOKOUT_KEY=ingest_key, MARKER=marker)
    assert run.returncode == 0, run.stderr
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="winston-api", q=marker)) == 2
                      and found, timeout_s=30)
    by_level = {row["level"]: row for row in rows}
    assert by_level["warn"]["message"] == f"refund slow {marker}"
    assert by_level["warn"]["metadata"] == {"orderId": 17}
    assert by_level["warn"]["instance"] == "node-2"
    assert by_level["debug"]["message"] == f"refund done {marker}"


def test_vector_http_sink_json_and_ndjson(collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".123456789Z"
    # Vector's file source event as its http sink encodes it: codec json sends a JSON array of events.
    events = [
        {"file": "/var/log/app.log", "host": "vec-1", "message": f"vector json {marker}", "source_type": "file",
         "timestamp": now},
        {"file": "/var/log/app.log", "host": "vec-1", "message": f"vector ndjson {marker}", "source_type": "file",
         "timestamp": now},
    ]
    assert _post(collector_url, ingest_key, orjson.dumps(events[:1]), "/v1/json/vector-app",
                 **{"Content-Type": "application/json"}).status_code == 200
    r = _post(collector_url, ingest_key, gzip.compress(orjson.dumps(events[1]) + b"\n"), "/v1/json/vector-app",
              **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "rejected": 0, "errors": []}
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="vector-app", q=marker)) == 2
                      and found, timeout_s=30)
    assert {row["instance"] for row in rows} == {"vec-1"}
    assert all(row["timestamp"].endswith(".123Z") for row in rows)
    assert rows[0]["metadata"] == {"file": "/var/log/app.log", "source_type": "file"}


@pytest.mark.parametrize("framing", ["json", "json_lines", "json_stream"])
def test_fluent_bit_http_output(collector_url, dashboards_url, ingest_key, query_key, framing):
    marker = uuid.uuid4().hex[:10]
    date = round(time.time(), 6)
    # Fluent Bit's records from the tail input, with its default json_date_key "date" as float seconds.
    records = [orjson.dumps({"date": date, "log": f"{framing} line {n} {marker}"}) for n in range(2)]
    body = {"json": b"[" + b",".join(records) + b"]", "json_lines": b"\n".join(records) + b"\n",
            "json_stream": b"".join(records)}[framing]
    r = _post(collector_url, ingest_key, body, "/v1/json/fluent-app", **{"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="fluent-app", q=marker)) == 2
                      and found, timeout_s=30)
    assert sorted(row["message"] for row in rows) == [f"{framing} line 0 {marker}", f"{framing} line 1 {marker}"]
    assert all(row["level"] == "info" for row in rows)


# The json example payload of Fluent Bit's "Output Formats" page (data-pipeline/outputs/output_formats), byte
# for byte: the first three commits of its repository, formatted as the page shows it.
FLUENT_BIT_DOCUMENTED_JSON = b"""[
  {
    "timestamp": 1398282091.000,
    "log": "Core: initialization and 32 bit fixes.",
    "commit": "b327996bfcbc0f1f47e62c862c6f303592dfacea",
    "author": "Eduardo Silva"
  },
  {
    "timestamp": 1422350608.000,
    "log": "Initial import.",
    "commit": "49269c5ec3c74411943e362cfef85052665ae97f",
    "author": "Eduardo Silva"
  },
  {
    "timestamp": 1422418113.000,
    "log": "Doc: add reference to Apache License v2.0",
    "commit": "6e09478733e8273ec216328dfc921e622740695d",
    "author": "Eduardo Silva"
  }
]"""


def test_fluent_bit_documented_payload_byte_for_byte(collector_url, dashboards_url, ingest_key, query_key):
    # As documented, the records are from 2014: read and mapped, then refused for their age alone.
    r = _post(collector_url, ingest_key, FLUENT_BIT_DOCUMENTED_JSON, "/v1/json/fluent-docs",
              **{"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["accepted"] == 0, r.text
    assert [e["index"] for e in r.json()["errors"]] == [0, 1, 2]
    assert all("older than" in e["error"] for e in r.json()["errors"])
    # The same bytes with today's times (same width) are stored with their fields in place.
    now = int(time.time())
    body = FLUENT_BIT_DOCUMENTED_JSON
    for old in (b"1398282091", b"1422350608", b"1422418113"):
        body = body.replace(old, str(now).encode())
    documented = {"Core: initialization and 32 bit fixes.", "Initial import.",
                  "Doc: add reference to Apache License v2.0"}
    r = _post(collector_url, ingest_key, body, "/v1/json/fluent-docs", **{"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {"accepted": 3, "rejected": 0, "errors": []}
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="fluent-docs")) >= 3 and found,
                      timeout_s=30)
    assert {row["message"] for row in rows} == documented
    assert {row["metadata"]["commit"] for row in rows} >= {"b327996bfcbc0f1f47e62c862c6f303592dfacea"}


def test_fluent_bit_default_msgpack(collector_url, dashboards_url, ingest_key, query_key):
    """Format msgpack (the http output's default), laid out as Fluent Bit's msgpack-format page describes:
    [EventTime (fixext 8, type 0: seconds, nanoseconds), {record}] back to back, and 2.1's [[time, {}], {record}]."""
    marker = uuid.uuid4().hex[:10]
    now = int(time.time())

    def text(value: str) -> bytes:
        data = value.encode()
        return bytes([0xA0 | len(data)]) + data if len(data) < 32 else b"\xd9" + bytes([len(data)]) + data

    def record(log: str) -> bytes:
        return b"\x82" + text("log") + text(log) + text("host") + text("fb-7")

    event_time = b"\xd7\x00" + now.to_bytes(4, "big") + (250_000_000).to_bytes(4, "big")
    body = (b"\x92" + event_time + record(f"msgpack one {marker}")
            + b"\x92\x92" + event_time + b"\x80" + record(f"msgpack two {marker}")
            + b"\x92\xa3bad" + record("refused alone"))
    r = _post(collector_url, ingest_key, gzip.compress(body), "/v1/json/fluent-msgpack",
              **{"Content-Type": "application/msgpack", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2 and r.json()["errors"][0]["index"] == 2
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="fluent-msgpack", q=marker)) == 2
                      and found, timeout_s=30)
    assert {row["instance"] for row in rows} == {"fb-7"}
    assert all(row["timestamp"].endswith(".250Z") for row in rows)
    r = _post(collector_url, ingest_key, b"\xc1", "/v1/json", **{"Content-Type": "application/msgpack"})
    assert r.status_code == 400 and "MessagePack" in r.json()["error"]


# rsyslog's StdJSONFmt, omhttp's default template, as rsyslog's source defines it (template_StdJSONFmt); the test
# checks that Debian's rsyslogd carries this text before filling in one message's properties.
RSYSLOG_STD_JSON_FMT = (
    '{"message":"%msg:::json%","fromhost":"%HOSTNAME:::json%","facility":"%syslogfacility-text%",'
    '"priority":"%syslogpriority-text%","timereported":"%timereported:::date-rfc3339%",'
    '"timegenerated":"%timegenerated:::date-rfc3339%"}'
)
RSYSLOGD = Path.home() / ".cache/lookout/rsyslog/usr/sbin/rsyslogd"


def _std_json_fmt(msg: str, hostname: str, severity: str, reported: str, generated: str) -> bytes:
    """One message through StdJSONFmt. The values hold nothing the template's json option would escape, so
    substituting them is what rsyslog writes."""
    properties = {"%msg:::json%": msg, "%HOSTNAME:::json%": hostname, "%syslogfacility-text%": "local0",
                  "%syslogpriority-text%": severity, "%timereported:::date-rfc3339%": reported,
                  "%timegenerated:::date-rfc3339%": generated}
    text = RSYSLOG_STD_JSON_FMT
    for placeholder, value in properties.items():
        assert orjson.dumps(value).decode() == f'"{value}"'
        text = text.replace(placeholder, value)
    return text.encode()


def _libfastjson_array(messages: list[bytes]) -> bytes:
    """omhttp's serializeBatchJsonArray with Debian's libfastjson (rsyslog's dependency): each message parsed
    by fjson_tokener_parse, added to an array, written by fjson_object_to_json_string_ext(FJSON_TO_STRING_PLAIN)."""
    lib = ctypes.CDLL("libfastjson.so.4")
    lib.fjson_tokener_parse.restype = lib.fjson_object_new_array.restype = ctypes.c_void_p
    lib.fjson_tokener_parse.argtypes = [ctypes.c_char_p]
    lib.fjson_object_array_add.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.fjson_object_to_json_string_ext.restype = ctypes.c_char_p
    lib.fjson_object_to_json_string_ext.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.fjson_object_put.argtypes = [ctypes.c_void_p]
    array = lib.fjson_object_new_array()
    try:
        for message in messages:
            parsed = lib.fjson_tokener_parse(message)
            assert parsed, message
            assert lib.fjson_object_array_add(array, parsed) == 0
        return bytes(lib.fjson_object_to_json_string_ext(array, 0))
    finally:
        lib.fjson_object_put(array)


def test_rsyslog_omhttp_documented_bodies(collector_url, dashboards_url, ingest_key, query_key):
    """rsyslog's omhttp is not in Debian 12, so its three JSON request shapes are reproduced: batch off (the
    default: one StdJSONFmt body per request), batch.format="jsonarray" (libfastjson's array) and the default
    batch.format="newline" (messages joined by LF, no final LF), each with the Content-Type omhttp sets and the
    key as httpheaderkey="Authorization" httpheadervalue="Bearer ..." sends it."""
    assert RSYSLOGD.is_file(), "scripts/bootstrap unpacks Debian's rsyslog into ~/.cache/lookout/rsyslog"
    assert b'"' + RSYSLOG_STD_JSON_FMT.replace('"', '\\"').encode() + b'"' in RSYSLOGD.read_bytes()
    marker = uuid.uuid4().hex[:10]
    now = time.time()
    reported = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    generated = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".123456+00:00"
    messages = {mode: [_std_json_fmt(f" {mode} {n} {marker}", "rs-host", "warning", reported, generated)
                       for n in range(2)]
                for mode in ("single", "jsonarray", "newline")}
    json_type, auth = "application/json; charset=utf-8", f"Bearer {ingest_key}"
    requests_sent = [(body, json_type) for body in messages["single"]] + [
        (_libfastjson_array(messages["jsonarray"]), json_type), (b"\n".join(messages["newline"]), "text/plain")]
    assert requests_sent[2][0] == b"[" + b",".join(messages["jsonarray"]) + b"]"  # nothing in them to re-escape
    for body, content_type in requests_sent:
        r = _post(collector_url, None, body, "/v1/json/rsyslog-app",
                  **{"Content-Type": content_type, "Authorization": auth})  # its "Expect:" drops curl's header
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == 0, r.text
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="rsyslog-app", q=marker)) == 6
                      and found, timeout_s=30)
    assert sorted(row["message"].strip() for row in rows) == sorted(
        f"{mode} {n} {marker}" for mode in messages for n in range(2))
    assert {row["instance"] for row in rows} == {"rs-host"}
    assert {row["level"] for row in rows} == {"warn"}
    assert {row["timestamp"][:19] for row in rows} == {reported[:19]}
    assert rows[0]["metadata"] == {"facility": "local0", "timegenerated": generated}


def test_bad_records_are_refused_alone_with_a_200(collector_url, ingest_key):
    body = b'{"message": "good", "service": "s"}\n{broken\n42\n{"service": "s"}\n'
    r = _post(collector_url, ingest_key, body)
    assert r.status_code == 200
    answer = r.json()
    assert answer["accepted"] == 1 and answer["rejected"] == 3
    errors = {e["index"]: e["error"] for e in answer["errors"]}
    assert "invalid JSON" in errors[1] and "JSON object" in errors[2] and "message: required" in errors[3]
    assert "service: required" in _post(collector_url, ingest_key, b'{"message": "m"}').json()["errors"][0]["error"]


@pytest.mark.parametrize(("body", "status", "fragment"),
                         [(b"", 400, "empty"), (b'"text"', 400, "array"), (b"\x1f\x8bno", 400, "gzip")])
def test_malformed_bodies_are_4xx(collector_url, ingest_key, body, status, fragment):
    headers = {"Content-Encoding": "gzip"} if body.startswith(b"\x1f\x8b") else {}
    r = _post(collector_url, ingest_key, body, **headers)
    assert r.status_code == status and fragment in r.json()["error"], r.text


def test_wrong_or_missing_key_is_401(collector_url):
    assert _post(collector_url, None, b"{}").status_code == 401
    assert _post(collector_url, "lk_wrong", b"{}").status_code == 401
