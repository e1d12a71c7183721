"""The local stack against the real servers: idempotent up, clean down, port clashes."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from app.stack import ServiceStatus, Stack, StackError
from app.stack.base import LOCALHOST, pid_alive, port_in_use
from lookout.settings import Settings

pytestmark = pytest.mark.integration


def _make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="lookout-stack-test-"))
    # pytest's tmp_path sits under a 0700 directory the postgres OS user cannot enter.
    home.chmod(0o755)
    return home


def _processes_under(home: Path) -> list[str]:
    """Every live process whose cwd or command line points into ``home``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(home) in cmdline or cwd.startswith(str(home)):
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    path = _make_home()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def first_up(home: Path) -> Iterator[tuple[Stack, list[ServiceStatus]]]:
    """One stack shared by the module, so Kafka's JVM starts as few times as possible."""
    stack = Stack.for_tests(home)
    try:
        yield stack, stack.up()
    finally:
        stack.down()


@pytest.fixture
def stack(first_up: tuple[Stack, list[ServiceStatus]]) -> Stack:
    return first_up[0]


def _produce(stack: Stack, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka.bootstrap)
    producer.send(topic, value).get(timeout=30)
    producer.close()


def _read_topic(stack: Stack, topic: str, count: int) -> list[bytes]:
    """The first ``count`` records of the topic's only partition."""
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka.bootstrap)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    consumer.close()
    return values


def test_up_twice_is_harmless(first_up: tuple[Stack, list[ServiceStatus]]) -> None:
    stack, first = first_up
    assert [s.name for s in first] == ["kafka", "postgres", "redis"]
    assert all(s.running and s.note.startswith("started in") for s in first)

    second = stack.up()

    assert [s.note for s in second] == ["already running"] * 3
    assert [s.pid for s in second] == [s.pid for s in first]
    status = stack.status()
    assert all(s.running for s in status)
    assert [s.pid for s in status] == [s.pid for s in first]


def test_services_answer_with_the_configured_credentials(stack: Stack) -> None:
    _produce(stack, "stack-smoke", b"hello")
    assert _read_topic(stack, "stack-smoke", 1) == [b"hello"]

    with psycopg.connect(stack.postgres.dsn) as conn:
        user, superuser, owner = conn.execute(
            "SELECT current_user, rolsuper, pg_get_userbyid(d.datdba) FROM pg_roles, pg_database d"
            " WHERE rolname = current_user AND d.datname = current_database()"
        ).fetchone()
    assert (user, superuser, owner) == ("lookout", False, "lookout")

    client = redis.Redis.from_url(stack.redis.url)
    assert client.ping()
    client.close()


def test_services_restart_on_their_data(stack: Stack) -> None:
    with psycopg.connect(stack.postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE survives (v text)")
        conn.execute("INSERT INTO survives VALUES ('kept')")
    _produce(stack, "stack-restart", b"kept")
    kafka_pid = stack.kafka.pid()

    stack.postgres.stop()
    stack.kafka.stop()
    assert not stack.postgres.is_running() and not stack.kafka.is_running()
    assert not port_in_use(stack.postgres.port) and not port_in_use(stack.kafka.port)

    notes = {s.name: s.note for s in stack.up()}

    assert notes["redis"] == "already running"
    assert notes["postgres"].startswith("started in") and notes["kafka"].startswith("started in")
    assert stack.kafka.pid() != kafka_pid
    with psycopg.connect(stack.postgres.dsn) as conn:
        assert conn.execute("SELECT v FROM survives").fetchall() == [("kept",)]
    assert _read_topic(stack, "stack-restart", 1) == [b"kept"]


def test_down_leaves_no_process_behind(stack: Stack, home: Path) -> None:
    pids = [s.pid for s in stack.status()]
    assert all(pids)

    statuses = stack.down()

    assert not any(s.running for s in statuses)
    for pid in pids:
        # pid_alive counts zombies as gone: pg_ctl detaches the postmaster, so once it
        # exits, reaping it is init's job, and a minimal container init may be slow at it.
        assert not pid_alive(pid), f"pid {pid} is still running"
    for port in (stack.kafka.port, stack.kafka.controller_port, stack.postgres.port, stack.redis.port):
        assert not port_in_use(port), f"port {port} still bound"
    assert _processes_under(home) == []
    assert [s.running for s in stack.down()] == [False] * 3  # a second down is a no-op


@pytest.mark.parametrize("role", ["kafka", "kafka-controller", "postgres", "redis"])
def test_occupied_port_fails_before_anything_starts(role: str) -> None:
    home = _make_home()
    try:
        stack = Stack.for_tests(home)
        service, port = {
            "kafka": (stack.kafka, stack.kafka.port),
            "kafka-controller": (stack.kafka, stack.kafka.controller_port),
            "postgres": (stack.postgres, stack.postgres.port),
            "redis": (stack.redis, stack.redis.port),
        }[role]
        with socket.create_server((LOCALHOST, port)):
            started = time.monotonic()
            with pytest.raises(StackError) as excinfo:
                stack.up()
            elapsed = time.monotonic() - started

        message = str(excinfo.value)
        assert "\n" not in message
        assert message.startswith(f"{service.name} did not come up on {service.address}: ")
        assert "already in use by another process" in message
        assert f"pid {os.getpid()}" in message  # the holder is named
        assert message.endswith(f"(log: {service.log_file})")
        # Nothing was launched or initialised: no JVM, no initdb, not even a directory.
        assert elapsed < 2
        assert list(home.iterdir()) == []
        assert not any(s.running for s in stack.status())
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_from_settings_uses_the_configured_ports(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOOKOUT_HOME": str(tmp_path),
            "LOOKOUT_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
            "LOOKOUT_POSTGRES_DSN": "postgresql://app:secret@localhost:15432/appdb",
            "LOOKOUT_REDIS_URL": "redis://127.0.0.1:16379/2",
        }
    )

    stack = Stack.from_settings(settings)

    assert stack.home == tmp_path.resolve() / "stack"
    assert (stack.kafka.port, stack.kafka.controller_port) == (19092, 19093)
    assert (stack.postgres.port, stack.postgres.role, stack.postgres.database) == (15432, "app", "appdb")
    assert stack.redis.port == 16379
    assert stack.apply_to(settings).postgres_dsn == settings.postgres_dsn

    with pytest.raises(StackError, match="LOOKOUT_KAFKA_BOOTSTRAP"):
        Stack.from_settings(settings.with_(kafka_bootstrap="broker.internal:9092"))
