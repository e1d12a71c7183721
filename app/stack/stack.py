"""The three servers a Lookout home needs, started and stopped together."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

from app.stack.base import LOCALHOST, Service, ServiceStatus, StackError, find_free_port
from app.stack.kafka import KafkaService
from app.stack.postgres import PostgresService
from app.stack.redis import RedisService
from lookout.settings import Settings, replication_factor_for

DEFAULT_POSTGRES_DSN = "postgresql://lookout:lookout@127.0.0.1:5432/lookout"
_LOCAL_HOSTS = {LOCALHOST, "localhost"}

Progress = Callable[[str], object]


def _silent(_message: str) -> None:
    pass


def _local_port(setting: str, value: str, host: str | None, port: int | None, default: int) -> int:
    if host not in _LOCAL_HOSTS:
        raise StackError(f"{setting}={value!r} does not point at 127.0.0.1, so the local stack cannot serve it")
    return port or default


class Stack:
    """Kafka (one broker, or a KRaft cluster of several), PostgreSQL and Redis for one home, all on 127.0.0.1."""

    def __init__(
        self,
        home: Path,
        kafka_ports: Sequence[tuple[int, int]] = ((9092, 9093),),
        postgres_dsn: str = DEFAULT_POSTGRES_DSN,
        redis_port: int = 6379,
    ) -> None:
        """``kafka_ports``: (broker, controller) ports, one pair per broker."""
        self.home = Path(home).resolve()
        voters = ",".join(f"{i}@{LOCALHOST}:{controller}" for i, (_, controller) in enumerate(kafka_ports, 1))
        self.brokers = [
            KafkaService(self.home, port, controller, node_id=i, voters=voters, cluster_size=len(kafka_ports))
            for i, (port, controller) in enumerate(kafka_ports, 1)
        ]
        self.postgres = PostgresService(self.home, postgres_dsn)
        self.redis = RedisService(self.home, redis_port)

    @property
    def kafka(self) -> KafkaService:
        """The first broker (the only one unless this is a cluster)."""
        return self.brokers[0]

    @property
    def services(self) -> tuple[Service, ...]:
        return (*self.brokers, self.postgres, self.redis)

    @classmethod
    def from_settings(cls, settings: Settings) -> Stack:
        """The stack serving ``settings``; each broker's controller port is its own port + 1."""
        addresses = [server.strip() for server in settings.kafka_bootstrap.split(",")]
        if len(addresses) != settings.kafka_brokers:
            raise StackError(
                f"LOOKOUT_KAFKA_BOOTSTRAP={settings.kafka_bootstrap!r} lists {len(addresses)} broker(s) but "
                f"LOOKOUT_KAFKA_BROKERS={settings.kafka_brokers}; list every broker the local stack runs"
            )
        kafka_ports = []
        for address in addresses:
            host, _, port = address.rpartition(":")
            broker_port = _local_port("LOOKOUT_KAFKA_BOOTSTRAP", settings.kafka_bootstrap, host, int(port), 9092)
            kafka_ports.append((broker_port, broker_port + 1))
        pg = urlparse(settings.postgres_dsn)
        _local_port("LOOKOUT_POSTGRES_DSN", settings.postgres_dsn, pg.hostname, pg.port, 5432)
        redis = urlparse(settings.redis_url)
        if redis.scheme != "redis":
            raise StackError(f"LOOKOUT_REDIS_URL={settings.redis_url!r}: the local stack serves plain redis:// only")
        redis_port = _local_port("LOOKOUT_REDIS_URL", settings.redis_url, redis.hostname, redis.port, 6379)
        return cls(
            settings.home / "stack", kafka_ports=kafka_ports, postgres_dsn=settings.postgres_dsn, redis_port=redis_port
        )

    @classmethod
    def for_tests(cls, home: Path, kafka_brokers: int = 1) -> Stack:
        """A stack on free ports, so tests never collide with a developer's stack or each other."""
        ports: list[int] = []
        while len(ports) < 2 * kafka_brokers + 2:
            port = find_free_port()
            if port not in ports:
                ports.append(port)
        postgres, redis, *kafka = ports
        return cls(
            home,
            kafka_ports=list(zip(kafka[0::2], kafka[1::2], strict=True)),
            postgres_dsn=f"postgresql://lookout:lookout@{LOCALHOST}:{postgres}/lookout",
            redis_port=redis,
        )

    def apply_to(self, settings: Settings) -> Settings:
        """A copy of ``settings`` pointing at this stack's servers, topics replicated as its brokers allow."""
        return settings.with_(
            kafka_bootstrap=",".join(broker.bootstrap for broker in self.brokers),
            kafka_brokers=len(self.brokers),
            kafka_replication_factor=replication_factor_for(len(self.brokers)),
            postgres_dsn=self.postgres.dsn,
            redis_url=self.redis.url,
        )

    def up(self, progress: Progress = _silent, timeout: float = 60.0) -> list[ServiceStatus]:
        """Start whatever is not running and wait until every service answers.

        A cluster's brokers are all launched before any is waited for: none answers until a
        majority of them has formed the metadata quorum.

        Servers already running from this home are left alone. Ports are checked
        for every missing service before anything is launched, and on failure the
        services this call launched are stopped again, so a failed ``up`` leaves
        the machine as it found it.
        """
        notes = {s.name: "already running" for s in self.services if s.is_running()}
        pending = [s for s in self.services if s.name not in notes]
        for service in pending:
            service.check_ports()
        self.home.mkdir(parents=True, exist_ok=True)
        launched: dict[Service, float] = {}
        try:
            for service in pending:
                progress(f"starting {service.name} on {service.address}...")
                launched[service] = time.monotonic()
                service.start()
            # Quickest first, so their start-up times are not inflated by waiting on Kafka.
            for service in reversed(self.services):
                service.wait_ready(timeout)
                if service in launched:
                    notes[service.name] = f"started in {time.monotonic() - launched[service]:.1f}s"
                progress(f"{service.name} {notes[service.name]} on {service.address}")
        except BaseException:
            for service in launched:
                service.stop()
            raise
        return [s.status(notes[s.name]) for s in self.services]

    def down(self, progress: Progress = _silent, timeout: float = 30.0) -> list[ServiceStatus]:
        """Stop every service of this home; returns once their processes are gone."""
        for service in self.services:
            pid = service.pid()
            if pid is not None:
                service.stop(timeout)
                progress(f"{service.name} stopped (pid {pid})")
        return self.status()

    def status(self) -> list[ServiceStatus]:
        return [s.status() for s in self.services]
