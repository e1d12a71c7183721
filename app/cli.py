"""The `lookout` command line.

Each subcommand is a thin shell over a module that does the work, so the same
operations are reachable from tests and from the dashboards.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lookout.settings import Settings, SettingsError

EPILOG = """\
Configuration comes from LOOKOUT_* environment variables (see .env.example);
the defaults point at the local stack started by `lookout stack up`.
"""


def _print(message: str) -> None:
    print(message, flush=True)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from app.stack import Stack, fetch_kafka

    if args.action == "fetch":
        fetch_kafka(progress=_err)
        return 0
    stack = Stack.from_settings(settings)
    if args.action == "up":
        statuses = stack.up(progress=_print)
    elif args.action == "down":
        statuses = stack.down(progress=_print)
    else:
        statuses = stack.status()
    for status in statuses:
        state = f"running (pid {status.pid})" if status.running else "stopped"
        _print(f"{status.name:<9} {state:<22} {status.address:<22} log: {status.log_file}")
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from warehouse.migrate import migrate

    applied = migrate(settings, _print)
    _print(f"{len(applied)} migration(s) applied" if applied else "database schemas are up to date")
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from app.up import run
    from lookout.logsetup import configure

    configure(settings.log_level, settings.log_json)
    return run(settings, demo=args.demo, start_stack=not args.no_stack, demo_rate=args.demo_rate, progress=_print)


def cmd_collector(_args: argparse.Namespace, settings: Settings) -> int:
    import os

    from lookout.settings import PROJECT_ROOT

    conf = str(PROJECT_ROOT / "collector" / "gunicorn_conf.py")
    os.execvpe(sys.executable, [sys.executable, "-m", "gunicorn", "-c", conf, "collector.wsgi:app"], os.environ)
    return 0  # not reached: exec replaced this process


def cmd_syslog(_args: argparse.Namespace, settings: Settings) -> int:
    """The syslog listener: ``LOOKOUT_SYSLOG_WORKERS`` forked processes serving one socket bound here."""
    import os
    import signal

    # The workers count into the collector's Prometheus files (set before prometheus_client is imported), so
    # the collector's /metrics on this machine includes the syslog refusals and acceptances.
    settings.collector_metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.collector_metrics_dir))

    from app.parent_death import die_with_parent
    from app.signals import StopSignals
    from collector.heap import settle as settle_heap
    from collector.syslog.listener import SyslogListener, bind
    from lookout.logsetup import configure

    configure(settings.log_level, settings.log_json)
    if settings.syslog_port == 0:
        _err("lookout syslog: LOOKOUT_SYSLOG_PORT is 0; set the port to listen on")
        return 2
    try:
        server = bind(settings)
    except OSError as exc:
        _err(f"lookout syslog: cannot listen on {settings.syslog_host}:{settings.syslog_port}: {exc.strerror or exc}")
        return 1
    workers: list[int] = []
    for _ in range(settings.syslog_workers):
        pid = os.fork()  # before any thread or connection exists in this process
        if pid == 0:
            die_with_parent()
            settle_heap()  # what the worker inherited lives as long as it does
            listener = SyslogListener(settings, server=server)
            listener.start()
            _wait_for_signal()
            listener.stop()
            os._exit(0)
        workers.append(pid)
    stop = StopSignals()
    code = 0
    while not stop.wait(0.5):
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:  # a worker died: stop, so whoever runs this (lookout up, an orchestrator) sees it and restarts
            _err(f"lookout syslog: worker {pid} exited ({status}); stopping")
            workers.remove(pid)
            code = 1
            break
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    for pid in workers:
        os.waitpid(pid, 0)
    return code


def _wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (a scaled-mode process runs until its orchestrator stops it)."""
    from app.signals import StopSignals

    StopSignals().wait()


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port (0 to 65535)")
    return int(raw)


def cmd_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from lookout.logsetup import configure
    from pipeline.runner import SINKS, PipelineThreads, build_consumers

    configure(settings.log_level, settings.log_json)
    threads = PipelineThreads(build_consumers(settings, args.sink or SINKS))
    port = settings.pipeline_metrics_port if args.metrics_port is None else args.metrics_port
    server = None
    if port:
        from prometheus_client import CollectorRegistry, start_http_server

        from pipeline.prometheus import PipelineCollector

        registry = CollectorRegistry()
        registry.register(PipelineCollector(threads.consumers))
        try:
            server, _ = start_http_server(port, settings.pipeline_metrics_host, registry)
        except OSError as exc:
            print(f"lookout pipeline: cannot serve metrics on {settings.pipeline_metrics_host}:{port}: {exc.strerror}",
                  file=sys.stderr)  # fmt: skip
            return 2
    threads.start()
    if server is not None:
        logging.getLogger("lookout.pipeline").info(
            "metrics served", extra={"url": f"http://{settings.pipeline_metrics_host}:{port}/metrics"}
        )
    _wait_for_signal()
    threads.stop()
    if server is not None:
        server.shutdown()
    return 0


def cmd_scheduler(_args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from app.scheduler import create_scheduler
    from lookout.logsetup import configure

    configure(settings.log_level, settings.log_json)
    scheduler = create_scheduler(settings)
    scheduler.start()
    jobs = ", ".join(job.id for job in scheduler.get_jobs())
    logging.getLogger("lookout.scheduler").info("scheduler running: %s", jobs, extra={"jobs": jobs})
    _wait_for_signal()
    scheduler.shutdown(wait=True)
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from access import keys

    if args.action == "create":
        created = keys.create_key(
            settings,
            args.name,
            keys.parse_scopes(args.scopes),
            keys.parse_rate(args.rate_limit),
            default_kind=args.default_kind,
        )
        _err(f"created API key {created.key.id} '{created.key.name}' with scopes {','.join(created.key.scopes)}")
        _err("this is the only time the key is shown; store it now:")
        _print(created.secret)
    elif args.action == "list":
        rows = keys.list_keys(settings, include_revoked=args.all)
        _print(f"{'ID':>4}  {'NAME':<24} {'PREFIX':<12} {'RATE/S':>7}  {'CREATED':<20} {'STATE':<8} SCOPES")
        for key in rows:
            state = "revoked" if key.revoked_at else "active"
            rate = str(key.rate_limit_per_s or "default")
            created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
            scopes = ",".join(key.scopes)
            _print(f"{key.id:>4}  {key.name:<24} {key.prefix:<12} {rate:>7}  {created:<20} {state:<8} {scopes}")
    else:
        revoked = keys.revoke_key(settings, args.id)
        _print(f"revoked API key {revoked.id} '{revoked.name}'")
    return 0


def cmd_dlq(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from pipeline import dlq

    if args.action == "list":
        letters = dlq.read_dead_letters(settings.kafka_bootstrap, settings.dead_letter_topic, args.limit)
        if args.json:
            for letter in letters:
                _print(letter.original.decode(errors="replace"))
            return 0
        if not letters:
            _print(f"no dead letters in {settings.dead_letter_topic}")
        for letter in letters:
            source = letter.source
            where = f"{source.topic}[{source.partition}]@{source.offset}" + (
                f"#{source.index}" if source.index is not None else ""
            )
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(letter.timestamp_ms / 1000))
            original = letter.original[:300].decode(errors="replace")
            _print(f"{when}Z  {where}\n  reason: {letter.reason}\n  event:  {original}")
        return 0
    stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115 - closed below
    try:
        result = dlq.replay(settings, stream, int(time.time() * 1000))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for problem in result.errors:
        _err(f"skipped {problem}")
    _print(f"replayed {result.sent} event(s)" + (f", skipped {len(result.errors)}" if result.errors else ""))
    return 1 if result.errors else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookout",
        description="Lookout: self-hosted observability and log analytics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="start, stop or inspect the local Kafka, PostgreSQL and Redis")
    stack.add_argument("action", choices=["up", "down", "status", "fetch"], help="fetch only downloads the Kafka jars")
    stack.set_defaults(func=cmd_stack)

    migrate = sub.add_parser("migrate", help="apply pending ClickHouse and PostgreSQL migrations")
    migrate.set_defaults(func=cmd_migrate)

    up = sub.add_parser("up", help="run the whole platform on this machine (single-node mode)")
    up.add_argument("--demo", action="store_true", help="also send a steady stream of realistic demo events")
    up.add_argument("--demo-rate", type=float, default=50.0, metavar="N", help="demo events per second (default 50)")
    up.add_argument("--no-stack", action="store_true", help="use already-running services from the settings")
    up.set_defaults(func=cmd_up)

    collector = sub.add_parser("collector", help="run only the collector under gunicorn (scaled mode)")
    collector.set_defaults(func=cmd_collector)

    syslog = sub.add_parser(
        "syslog", help="run only the syslog TCP listener (RFC 5424/3164; LOOKOUT_SYSLOG_*; scaled mode)"
    )
    syslog.set_defaults(func=cmd_syslog)

    pipeline = sub.add_parser("pipeline", help="run only pipeline consumers (scaled mode)")
    pipeline.add_argument(
        "--sink", action="append", choices=["clickhouse", "postgres"], help="sink(s) to consume for (default: both)"
    )
    pipeline.add_argument(
        "--metrics-port", type=_port, metavar="PORT",
        help="serve Prometheus metrics (lag per topic, dead letters, paused sinks) on this port "
        "(default: LOOKOUT_PIPELINE_METRICS_PORT; 0: none)",
    )  # fmt: skip
    pipeline.set_defaults(func=cmd_pipeline)

    scheduler = sub.add_parser(
        "scheduler",
        help="run only the periodic jobs: retention, rollups, alerts (scaled mode; any number, they share the work)",
    )
    scheduler.set_defaults(func=cmd_scheduler)

    key_cmd = sub.add_parser("keys", help="create, list or revoke API keys")
    key_sub = key_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="a name to recognise the key by (unique among active keys)")
    create.add_argument(
        "--scopes",
        action="append",
        metavar="SCOPES",
        help="comma-separated event kinds the key may send, 'ingest' for all kinds, 'query' for the read API "
        "(default: every kind)",
    )
    create.add_argument("--rate-limit", metavar="N/s", help="events per second for this key (default: the setting)")
    create.add_argument(
        "--default-kind",
        metavar="KIND",
        help="the kind of events that name none, on the Elasticsearch, Loki and other shippers' routes "
        "(default: log)",
    )
    listing = key_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = key_sub.add_parser("revoke", help="revoke a key; it stops working within seconds")
    revoke.add_argument("id", type=int, help="the key's id from `lookout keys list`")
    key_cmd.set_defaults(func=cmd_keys)

    dlq_cmd = sub.add_parser("dlq", help="inspect dead letters and replay fixed events")
    dlq_sub = dlq_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    dlq_list = dlq_sub.add_parser("list", help="show the newest dead letters with their reason and origin")
    dlq_list.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    dlq_list.add_argument("--json", action="store_true", help="print only the events, one per line, ready to fix")
    dlq_replay = dlq_sub.add_parser(
        "replay", help="validate and send back fixed events (one JSON event per line, e.g. from `dlq list --json`)"
    )
    dlq_replay.add_argument("file", help="the file of fixed events, or - for standard input")
    dlq_cmd.set_defaults(func=cmd_dlq)

    from app import rules_cli

    rules_cli.register(sub)

    from app.accounts_cli import register as register_accounts

    register_accounts(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from kafka.errors import KafkaError

    from access.errors import AccessError
    from app.stack import StackError
    from warehouse.clickhouse import ClickHouseUnavailable
    from warehouse.migrate import MigrationError
    from warehouse.postgres import PostgresUnavailable

    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings) or 0)
    except (
        SettingsError,
        StackError,
        MigrationError,
        AccessError,
        PostgresUnavailable,
        ClickHouseUnavailable,
        KafkaError,
        OSError,
    ) as exc:
        _err(f"lookout {args.command}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
