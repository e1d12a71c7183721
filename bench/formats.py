"""CPU cost of each ingest route's body handling, without servers: parse (+ map) + validate + pack.

    .venv/bin/python -m bench.formats [--batch 1000] [--rounds 20] [--whole]

The same ~400-byte log events (bench.common.log_event) are encoded as each route receives them: the
native NDJSON of ``/v1/events``, an Elasticsearch ``_bulk`` body, a Loki snappy protobuf push, Fluent Bit
``json_lines`` for ``/v1/json`` and an octet-counted RFC 5424 stream for the syslog listener. Prints
events per CPU second for each and the ratio to the native route. This is the part of a request the new
routes change; HTTP, auth and Kafka are the same for all of them and are measured by bench.ingest, which
sends the bodies built here.

``--whole`` measures each route's whole handler instead, in this process: the collector's Flask app
through its test client (gzip bodies as bench.ingest sends them, answers encoded) and the syslog listener's
framing and ``handle``, with the key check, rate limit and Kafka stubbed out (they cost the same on every
route). CPU time, so a busy machine slows every route alike; the end-to-end figures are bench.ingest's.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time
from collections.abc import Callable

import cramjam
import orjson

from access.auth import Principal
from bench.common import log_event
from collector import elastic, loki, packing
from collector.app import create_app
from collector.body import BodyLimits, parse_body
from collector.field_mapping import map_document, map_native
from collector.json_documents import parse_documents
from collector.loki import PushRequest
from collector.services import CollectorServices
from collector.syslog.framing import Deframer
from collector.syslog.listener import SyslogListener
from collector.syslog.message import parse as parse_syslog
from lookout.settings import Settings

LIMITS = BodyLimits(max_body_bytes=64 << 20, max_events=100_000, max_event_bytes=1 << 20)


def ndjson_body(events: list[dict]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def _foreign(event: dict) -> dict:
    """The event as another tool's document: no ``kind`` (the key's default kind applies)."""
    return {k: v for k, v in event.items() if k != "kind"}


def bulk_body(events: list[dict]) -> bytes:
    return b"".join(b'{"index":{"_index":"checkout"}}\n' + orjson.dumps(_foreign(e)) + b"\n" for e in events)


def json_lines_body(events: list[dict]) -> bytes:
    return b"".join(orjson.dumps(_foreign(e)) + b"\n" for e in events)


def loki_body(events: list[dict]) -> bytes:
    request = PushRequest()
    stream = request.streams.add(labels='{service_name="checkout", host="web-1"}')
    for event in events:
        entry = stream.entries.add(line=event["message"])
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(event["timestamp"] * 1_000_000, 1_000_000_000)
        for name in ("request_id", "user_id", "endpoint"):
            entry.structuredMetadata.add(name=name, value=str(event[name]))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


_SYSLOG_SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}


def syslog_stream(events: list[dict]) -> bytes:
    """Octet-counted RFC 5424 messages (local0), the event's other fields as structured data."""
    out = bytearray()
    for event in events:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
        sd = "".join(f' {k}="{event[k]}"' for k in ("request_id", "user_id", "endpoint", "method", "status_code"))
        message = (f"<{128 + _SYSLOG_SEVERITY[event['level']]}>1 {stamp}.{event['timestamp'] % 1000:03d}Z "
                   f"{event['instance']} {event['service']} - - [req@32473{sd}] {event['message']}").encode()
        out += str(len(message)).encode() + b" " + message
    return bytes(out)


class _Stubs:
    """Stand-ins for the key check, the rate limiter, Redis and Kafka: the part every route shares."""

    def authenticate(self, _key: str) -> Principal:
        return Principal(1, "bench", frozenset({"log"}), None)

    def check(self, *_args: object, **_kwargs: object) -> None:
        return None

    def send_all(self, _records: object) -> None:
        return None

    def pipeline(self, *_args: object, **_kwargs: object) -> _Stubs:
        return self

    def __getattr__(self, _name: str) -> Callable[..., object]:
        return lambda *_args, **_kwargs: []


def stub_services() -> CollectorServices:
    """The collector's services with the parts every route shares stubbed out (_Stubs)."""
    stubs = _Stubs()
    return CollectorServices(authenticator=stubs, limiter=stubs, producer=stubs, redis=stubs)  # type: ignore[arg-type]


def _whole_handlers(events: list[dict]) -> dict[str, Callable[[], None]]:
    services = stub_services()
    settings = Settings.from_env({"LOOKOUT_LOG_JSON": "false", "LOOKOUT_SYSLOG_PORT": "0"})
    client = create_app(settings, services).test_client()
    auth = {"Authorization": "Bearer bench"}
    posts = {
        "/v1/events (JSON, gzip)": ("/v1/events", gzip.compress(orjson.dumps(events)),
                                    {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 202),
        "/_bulk (gzip)": ("/_bulk", gzip.compress(bulk_body(events)),
                          {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, 200),
        "/loki/api/v1/push (protobuf)": ("/loki/api/v1/push", loki_body(events),
                                         {"Content-Type": "application/x-protobuf"}, 204),
        "/v1/json (json_lines, gzip)": ("/v1/json/checkout", gzip.compress(json_lines_body(events)),
                                        {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, 200),
    }

    def post(path: str, body: bytes, headers: dict[str, str], status: int) -> None:
        answer = client.post(path, data=body, headers={**auth, **headers})
        assert answer.status_code == status, answer.data[:300]

    handlers: dict[str, Callable[[], None]] = {
        name: (lambda spec=spec: post(*spec)) for name, spec in posts.items()  # type: ignore[misc]
    }
    listener = SyslogListener(settings.with_(syslog_key="bench"), services)  # bound to a free port, never served
    stream = syslog_stream(events)
    handlers["syslog TCP (RFC 5424)"] = lambda: listener.handle(
        Deframer(settings.syslog_max_message_bytes).feed(stream), "bench")
    return handlers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--whole", action="store_true", help="whole handlers in-process, shared services stubbed")
    args = parser.parse_args(argv)
    now_ms = int(time.time() * 1000)
    rng = random.Random(7)
    events = [log_event(rng, now_ms) for _ in range(args.batch)]
    if args.whole:
        return _report(_whole_handlers(events), args.batch, args.rounds)
    ndjson, bulk, lines, loki_push, syslog = (
        ndjson_body(events), bulk_body(events), json_lines_body(events), loki_body(events), syslog_stream(events))

    def pack(items: list) -> None:
        result = packing.build_records(items, now_ms=now_ms, may_send=lambda _k: True, topic_for=lambda k: k,
                                       max_event_bytes=LIMITS.max_event_bytes)
        assert result.accepted == args.batch, result.errors[:3]

    routes: dict[str, Callable[[], None]] = {
        "/v1/events (NDJSON)": lambda: pack(parse_body(ndjson, "application/x-ndjson", None, LIMITS).items),
        "/_bulk": lambda: pack([item.event for item in elastic.parse_bulk(
            bulk, default_index=None, default_kind="log", received_ms=now_ms, max_items=LIMITS.max_events,
            max_event_bytes=LIMITS.max_event_bytes)]),
        "/loki/api/v1/push (protobuf)": lambda: pack(list(loki.events(
            loki.decode(loki_push, loki.PROTOBUF_TYPE, LIMITS.max_body_bytes), default_kind="log",
            received_ms=now_ms))),
        "/v1/json (json_lines)": lambda: pack([map_document(r, default_kind="log", received_ms=now_ms)
                                               for r in parse_documents(lines, LIMITS)]),
        "syslog TCP (RFC 5424)": lambda: pack([
            map_native(parse_syslog(frame.decode(), received_ms=now_ms)[0], default_kind="log",
                       received_ms=now_ms, fallback_service="syslog")
            for frame in Deframer(LIMITS.max_event_bytes).feed(syslog)]),
    }
    return _report(routes, args.batch, args.rounds)


def _report(routes: dict[str, Callable[[], None]], batch: int, rounds: int) -> int:
    # CPU time, not wall time, and the routes interleaved round by round: the machine is shared, and this
    # way a busy neighbour slows every route alike instead of whichever ran at the time. The total carries
    # every outlier (a neighbour's burst, an allocator trim), so the median round is printed beside it.
    spent: dict[str, list[float]] = {name: [] for name in routes}
    for run in routes.values():
        run()  # warm-up, and the assertion that every event is accepted
    for _ in range(rounds):
        for name, run in routes.items():
            started = time.process_time()
            run()
            spent[name].append(time.process_time() - started)
    native_total, native_median = (batch * rounds / sum(spent[next(iter(spent))]),
                                   batch / statistics.median(spent[next(iter(spent))]))
    for name, seconds in spent.items():
        total, median = batch * rounds / sum(seconds), batch / statistics.median(seconds)
        print(f"{name:<32} {total:>10,.0f} events/s of CPU  {total / native_total:6.0%} of native   "
              f"median round {median:>10,.0f} events/s  {median / native_median:6.0%} of native")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
