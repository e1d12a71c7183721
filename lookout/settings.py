"""Every setting Lookout reads, in one place.

Settings come from ``LOOKOUT_*`` environment variables (documented in
``.env.example``) and are validated once at start-up, so a typo fails fast with
a message naming the variable instead of surfacing later as a driver error.
Defaults point at the local stack that ``lookout stack up`` starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a value Lookout cannot use; the message names the variable."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port between 1 and 65535")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be one of true/false/1/0/yes/no/on/off")


def _clickhouse_dsn(raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in {"chdb", "http", "https"}:
        raise ValueError("must start with chdb:/// (embedded engine) or http(s):// (ClickHouse server)")
    return raw


def _postgres_dsn(raw: str) -> str:
    if urlparse(raw).scheme not in {"postgresql", "postgres"}:
        raise ValueError("must be a postgresql:// URL")
    return raw


def _redis_url(raw: str) -> str:
    if urlparse(raw).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis:// URL")
    return raw


def _bootstrap(raw: str) -> str:
    for server in raw.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("must be host:port[,host:port...]")
    return raw


def local_cluster_bootstrap(brokers: int, first_port: int = 9092) -> str:
    """The addresses `lookout stack` gives a local cluster: every second port from ``first_port``
    (each broker's KRaft controller listens on the port after its own)."""
    return ",".join(f"127.0.0.1:{first_port + 2 * i}" for i in range(brokers))


def replication_factor_for(brokers: int) -> int:
    """Topic replicas by default: one per broker, at most three."""
    return min(3, brokers)


def _retention_overrides(raw: str) -> dict[str, int]:
    overrides: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        service, sep, days = item.partition("=")
        if not sep or not service.strip() or not days.strip().isdigit() or int(days) <= 0:
            raise ValueError(f"{item!r} is not service=days (e.g. payments=365,debug-app=3)")
        overrides[service.strip()] = int(days)
    return overrides


def _compression(raw: str) -> str:
    if raw not in {"none", "gzip", "lz4", "zstd", "snappy"}:
        raise ValueError("must be one of none, gzip, lz4, zstd, snappy")
    return raw


def _url_list(raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if urlparse(url).scheme not in {"http", "https"}:
            raise ValueError(f"{url!r} is not an http(s) URL")
    return urls


def _smtp_security(raw: str) -> str:
    if raw not in {"none", "starttls", "ssl"}:
        raise ValueError("must be none, starttls or ssl")
    return raw


def _public_url(raw: str) -> str:
    if urlparse(raw).scheme not in {"http", "https"}:
        raise ValueError("must be an http(s):// URL")
    return raw.rstrip("/")


def _worker_class(raw: str) -> str:
    if raw not in {"gevent", "gthread"}:
        raise ValueError("must be gevent (a greenlet per connection) or gthread (a thread per connection)")
    return raw


def _port_or_off(raw: str) -> int:
    return 0 if raw.strip() == "0" else _port(raw)


def _syslog_settings(env: Mapping[str, str]) -> dict[str, Any]:
    cert, key = env.get("LOOKOUT_SYSLOG_TLS_CERT", "").strip(), env.get("LOOKOUT_SYSLOG_TLS_KEY", "").strip()
    if bool(cert) != bool(key):
        raise SettingsError("LOOKOUT_SYSLOG_TLS_CERT and LOOKOUT_SYSLOG_TLS_KEY must be set together (or neither)")
    return {
        "syslog_host": env.get("LOOKOUT_SYSLOG_HOST", "127.0.0.1"),
        "syslog_port": _env("LOOKOUT_SYSLOG_PORT", "5140", _port_or_off, env),
        "syslog_key": env.get("LOOKOUT_SYSLOG_KEY", "").strip(),
        "syslog_tls_cert": cert,
        "syslog_tls_key": key,
        "syslog_max_connections": _env("LOOKOUT_SYSLOG_MAX_CONNECTIONS", "256", _positive_int, env),
        "syslog_max_message_bytes": _env("LOOKOUT_SYSLOG_MAX_MESSAGE_BYTES", str(64 * 1024), _positive_int, env),
        "syslog_idle_timeout_s": _env("LOOKOUT_SYSLOG_IDLE_TIMEOUT_S", "300", _positive_float, env),
        "syslog_workers": _env("LOOKOUT_SYSLOG_WORKERS", str(min(2, os.cpu_count() or 1)), _positive_int, env),
    }


@dataclass(frozen=True)
class Limits:
    """A gauge's warning and critical levels (higher is worse); written ``warning:critical``."""

    warning: float
    critical: float

    def __str__(self) -> str:
        return f"{self.warning:g}:{self.critical:g}"


# The utilization gauges the shipper's reporter and OpenTelemetry's hostmetrics send (lookout_client.system).
DEFAULT_SYSTEM_THRESHOLDS = (
    "system.cpu.utilization=80:95,system.memory.utilization.used=85:95,system.filesystem.utilization=80:90"
)


def _system_thresholds(raw: str) -> dict[str, Limits]:
    limits: dict[str, Limits] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, levels = item.partition("=")
        warning, colon, critical = levels.partition(":")
        try:
            parsed = Limits(float(warning), float(critical)) if sep and colon and name.strip() else None
        except ValueError:
            parsed = None
        if parsed is None or not parsed.warning <= parsed.critical:
            raise ValueError(f"{item!r} is not metric=warning:critical with warning <= critical (e.g. cpu=80:95)")
        limits[name.strip()] = parsed
    return limits


def _env(name: str, default: str, parse: Callable[[str], T], environ: Mapping[str, str]) -> T:
    raw = environ.get(name, default)
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is invalid: {exc}") from None


def _default_home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("LOOKOUT_HOME", str(PROJECT_ROOT / ".lookout"))).resolve()


@dataclass(frozen=True)
class Settings:
    """Typed settings; build with :meth:`from_env`, derive test variants with :meth:`with_`."""

    home: Path
    kafka_bootstrap: str
    postgres_dsn: str
    clickhouse_dsn: str
    redis_url: str
    collector_host: str
    collector_port: int
    collector_workers: int
    collector_threads: int
    collector_worker_class: str
    collector_body_timeout_s: float
    collector_max_worker_rss_mb: int
    dashboard_host: str
    dashboard_port: int
    secret_key: str
    dashboard_threads: int
    session_idle_timeout_s: int
    session_lifetime_s: int
    login_max_failures: int
    login_lock_s: int
    login_ip_max_attempts: int
    login_ip_window_s: int
    password_hash_time_cost: int
    password_hash_memory_kib: int
    retention_days: int
    retention_overrides: dict[str, int]
    kafka_topic_partitions: int
    kafka_replication_factor: int
    kafka_compression: str
    kafka_topic_prefix: str
    batch_max_rows: int
    batch_max_wait_s: float
    rollup_interval_s: float
    max_body_bytes: int
    max_events_per_request: int
    max_event_bytes: int
    api_key_cache_ttl_s: int
    default_rate_limit_per_s: int
    produce_timeout_s: float
    log_level: str
    log_json: bool
    public_url: str
    alert_tick_s: float
    alert_evaluation_workers: int
    alert_send_timeout_s: float
    alert_max_attempts: int
    alert_retry_base_s: float
    alert_retry_max_s: float
    alert_delivery_workers: int
    alert_channel_concurrency: int
    alert_metrics_urls: tuple[str, ...]
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    smtp_password: str
    smtp_from: str
    panel_cache_ttl_s: int
    # Syslog over TCP (interoperability: collector/syslog)
    syslog_host: str
    syslog_port: int  # 0: `lookout up` starts no listener
    syslog_key: str
    syslog_tls_cert: str
    syslog_tls_key: str
    syslog_max_connections: int
    syslog_max_message_bytes: int
    syslog_idle_timeout_s: float
    syslog_workers: int
    # Kafka cluster (hardening: soak and cluster): brokers `lookout stack` runs on this machine
    kafka_brokers: int
    # Health dashboards (system metrics, blockchain events)
    system_thresholds: dict[str, Limits]
    system_metrics_interval_s: int
    system_metrics_stale_intervals: int
    blockchain_max_block_gap: int
    # collector hardening (issue 14): request-body bytes one worker holds at once, and how long a request waits
    # for room before its 503
    collector_body_bytes_in_flight: int
    collector_body_queue_s: float
    # Log explorer: live tails and exports (defaults keep a forgotten tab or a huge export cheap)
    tail_max_streams: int = 8
    tail_max_rows_per_s: int = 50
    tail_idle_timeout_s: float = 600.0
    export_max_rows: int = 1_000_000
    # Scaled mode: the port `lookout pipeline` serves its Prometheus metrics on (0: none)
    pipeline_metrics_port: int = 0
    pipeline_metrics_host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = _default_home(env)
        log_level = env.get("LOOKOUT_LOG_LEVEL", "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(f"LOOKOUT_LOG_LEVEL={log_level!r} is invalid: must be DEBUG, INFO, WARNING or ERROR")
        collector_host = env.get("LOOKOUT_COLLECTOR_HOST", "127.0.0.1")
        collector_port = _env("LOOKOUT_COLLECTOR_PORT", "4318", _port, env)
        dashboard_host = env.get("LOOKOUT_DASHBOARD_HOST", "127.0.0.1")
        dashboard_port = _env("LOOKOUT_DASHBOARD_PORT", "8000", _port, env)
        kafka_brokers = _env("LOOKOUT_KAFKA_BROKERS", "1", _positive_int, env)
        return cls(
            home=home,
            kafka_bootstrap=_env("LOOKOUT_KAFKA_BOOTSTRAP", local_cluster_bootstrap(kafka_brokers), _bootstrap, env),
            postgres_dsn=_env(
                "LOOKOUT_POSTGRES_DSN", "postgresql://lookout:lookout@127.0.0.1:5432/lookout", _postgres_dsn, env
            ),
            clickhouse_dsn=_env("LOOKOUT_CLICKHOUSE_DSN", f"chdb:///{home / 'chdb'}", _clickhouse_dsn, env),
            redis_url=_env("LOOKOUT_REDIS_URL", "redis://127.0.0.1:6379/0", _redis_url, env),
            collector_host=collector_host,
            collector_port=collector_port,
            collector_workers=_env("LOOKOUT_COLLECTOR_WORKERS", str(min(4, os.cpu_count() or 1)), _positive_int, env),
            collector_threads=_env("LOOKOUT_COLLECTOR_THREADS", "16", _positive_int, env),
            dashboard_host=dashboard_host,
            dashboard_port=dashboard_port,
            secret_key=env.get("LOOKOUT_SECRET_KEY", ""),
            dashboard_threads=_env("LOOKOUT_DASHBOARD_THREADS", "32", _positive_int, env),
            session_idle_timeout_s=_env("LOOKOUT_SESSION_IDLE_TIMEOUT_S", "1800", _positive_int, env),
            session_lifetime_s=_env("LOOKOUT_SESSION_LIFETIME_S", "43200", _positive_int, env),
            login_max_failures=_env("LOOKOUT_LOGIN_MAX_FAILURES", "5", _positive_int, env),
            login_lock_s=_env("LOOKOUT_LOGIN_LOCK_S", "900", _positive_int, env),
            login_ip_max_attempts=_env("LOOKOUT_LOGIN_IP_MAX_ATTEMPTS", "20", _positive_int, env),
            login_ip_window_s=_env("LOOKOUT_LOGIN_IP_WINDOW_S", "900", _positive_int, env),
            password_hash_time_cost=_env("LOOKOUT_PASSWORD_HASH_TIME_COST", "3", _positive_int, env),
            password_hash_memory_kib=_env("LOOKOUT_PASSWORD_HASH_MEMORY_KIB", "65536", _positive_int, env),
            collector_worker_class=_env("LOOKOUT_COLLECTOR_WORKER_CLASS", "gevent", _worker_class, env),
            collector_body_timeout_s=_env("LOOKOUT_COLLECTOR_BODY_TIMEOUT_S", "30", _positive_float, env),
            collector_max_worker_rss_mb=_env("LOOKOUT_COLLECTOR_MAX_WORKER_RSS_MB", "300", _positive_int, env),
            retention_days=_env("LOOKOUT_RETENTION_DAYS", "30", _positive_int, env),
            retention_overrides=_env("LOOKOUT_RETENTION_OVERRIDES", "", _retention_overrides, env),
            kafka_topic_partitions=_env("LOOKOUT_KAFKA_TOPIC_PARTITIONS", "4", _positive_int, env),
            kafka_replication_factor=_env(
                "LOOKOUT_KAFKA_REPLICATION_FACTOR", str(replication_factor_for(kafka_brokers)), _positive_int, env
            ),
            kafka_compression=_env("LOOKOUT_KAFKA_COMPRESSION", "lz4", _compression, env),
            kafka_topic_prefix=env.get("LOOKOUT_KAFKA_TOPIC_PREFIX", "lookout."),
            batch_max_rows=_env("LOOKOUT_BATCH_MAX_ROWS", "50000", _positive_int, env),
            batch_max_wait_s=_env("LOOKOUT_BATCH_MAX_WAIT_S", "0.5", _positive_float, env),
            rollup_interval_s=_env("LOOKOUT_ROLLUP_INTERVAL_S", "15", _positive_float, env),
            max_body_bytes=_env("LOOKOUT_MAX_BODY_BYTES", str(5 * 1024 * 1024), _positive_int, env),
            max_events_per_request=_env("LOOKOUT_MAX_EVENTS_PER_REQUEST", "10000", _positive_int, env),
            max_event_bytes=_env("LOOKOUT_MAX_EVENT_BYTES", str(256 * 1024), _positive_int, env),
            api_key_cache_ttl_s=_env("LOOKOUT_API_KEY_CACHE_TTL_S", "5", _positive_int, env),
            default_rate_limit_per_s=_env("LOOKOUT_DEFAULT_RATE_LIMIT_PER_S", "2000", _positive_int, env),
            produce_timeout_s=_env("LOOKOUT_PRODUCE_TIMEOUT_S", "5", _positive_float, env),
            log_level=log_level,
            log_json=_env("LOOKOUT_LOG_JSON", "true", _bool, env),
            public_url=_env("LOOKOUT_PUBLIC_URL", f"http://{dashboard_host}:{dashboard_port}", _public_url, env),
            alert_tick_s=_env("LOOKOUT_ALERT_TICK_S", "1", _positive_float, env),
            alert_evaluation_workers=_env("LOOKOUT_ALERT_EVALUATION_WORKERS", "4", _positive_int, env),
            alert_send_timeout_s=_env("LOOKOUT_ALERT_SEND_TIMEOUT_S", "5", _positive_float, env),
            alert_max_attempts=_env("LOOKOUT_ALERT_MAX_ATTEMPTS", "8", _positive_int, env),
            alert_retry_base_s=_env("LOOKOUT_ALERT_RETRY_BASE_S", "2", _positive_float, env),
            alert_retry_max_s=_env("LOOKOUT_ALERT_RETRY_MAX_S", "300", _positive_float, env),
            alert_delivery_workers=_env("LOOKOUT_ALERT_DELIVERY_WORKERS", "8", _positive_int, env),
            alert_channel_concurrency=_env("LOOKOUT_ALERT_CHANNEL_CONCURRENCY", "2", _positive_int, env),
            alert_metrics_urls=_env(
                "LOOKOUT_ALERT_METRICS_URLS",
                f"http://{collector_host}:{collector_port}/metrics,http://{dashboard_host}:{dashboard_port}/metrics",
                _url_list,
                env,
            ),
            smtp_host=env.get("LOOKOUT_SMTP_HOST", "127.0.0.1"),
            smtp_port=_env("LOOKOUT_SMTP_PORT", "587", _port, env),
            smtp_security=_env("LOOKOUT_SMTP_SECURITY", "starttls", _smtp_security, env),
            smtp_username=env.get("LOOKOUT_SMTP_USERNAME", ""),
            smtp_password=env.get("LOOKOUT_SMTP_PASSWORD", ""),
            smtp_from=env.get("LOOKOUT_SMTP_FROM", "lookout@localhost"),
            panel_cache_ttl_s=_env("LOOKOUT_PANEL_CACHE_TTL_S", "15", _non_negative_int, env),
            **_syslog_settings(env),
            kafka_brokers=kafka_brokers,
            # Health dashboards (system metrics, blockchain events)
            system_thresholds=_env("LOOKOUT_SYSTEM_THRESHOLDS", DEFAULT_SYSTEM_THRESHOLDS, _system_thresholds, env),
            system_metrics_interval_s=_env("LOOKOUT_SYSTEM_METRICS_INTERVAL_S", "60", _positive_int, env),
            system_metrics_stale_intervals=_env("LOOKOUT_SYSTEM_METRICS_STALE_INTERVALS", "3", _positive_int, env),
            blockchain_max_block_gap=_env("LOOKOUT_BLOCKCHAIN_MAX_BLOCK_GAP", "1", _positive_int, env),
            # Log explorer
            tail_max_streams=_env("LOOKOUT_TAIL_MAX_STREAMS", "8", _positive_int, env),
            tail_max_rows_per_s=_env("LOOKOUT_TAIL_MAX_ROWS_PER_S", "50", _positive_int, env),
            tail_idle_timeout_s=_env("LOOKOUT_TAIL_IDLE_TIMEOUT_S", "600", _positive_float, env),
            export_max_rows=_env("LOOKOUT_EXPORT_MAX_ROWS", "1000000", _positive_int, env),
            pipeline_metrics_port=_env("LOOKOUT_PIPELINE_METRICS_PORT", "0", _port_or_off, env),
            pipeline_metrics_host=env.get("LOOKOUT_PIPELINE_METRICS_HOST", "127.0.0.1"),
            # collector hardening (issue 14)
            collector_body_bytes_in_flight=_env(
                "LOOKOUT_COLLECTOR_BODY_BYTES_IN_FLIGHT", str(16 * 1024 * 1024), _positive_int, env
            ),
            collector_body_queue_s=_env("LOOKOUT_COLLECTOR_BODY_QUEUE_S", "1", _positive_float, env),
        )

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests point a copy at their own services)."""
        return replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, dict):
                value = ",".join(f"{k}={v}" for k, v in value.items())
            elif isinstance(value, tuple):
                value = ",".join(value)
            env[f"LOOKOUT_{f.name.upper()}"] = str(value)
        return env

    @property
    def collector_metrics_dir(self) -> Path:
        """Where the collector's gunicorn workers keep their Prometheus counters (one directory per port)."""
        return self.home / f"collector-metrics-{self.collector_port}"

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are sent over HTTPS only when the public address is HTTPS."""
        return self.public_url.startswith("https://")

    def topic(self, kind: str) -> str:
        """The Kafka topic that carries one event kind."""
        return f"{self.kafka_topic_prefix}{kind}"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.kafka_topic_prefix}dead_letters"


@dataclass(frozen=True)
class ToolPaths:
    """Where the local stack finds the programs it runs; None means "look in the usual places".

    Kept apart from :class:`Settings` because they describe this machine, not a deployment: a
    child process started with ``Settings.as_env()`` must not inherit them as if chosen.
    """

    pg_bin: Path | None  # LOOKOUT_PG_BIN: a PostgreSQL server's bin directory
    kafka_libs: Path | None  # LOOKOUT_KAFKA_LIBS: a directory of Kafka broker jars, used as it is
    java_home: Path | None  # JAVA_HOME, as every Java tool reads it

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ToolPaths:
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            raw = env.get(name, "").strip()
            return Path(raw).expanduser().resolve() if raw else None

        return cls(pg_bin=path("LOOKOUT_PG_BIN"), kafka_libs=path("LOOKOUT_KAFKA_LIBS"), java_home=path("JAVA_HOME"))
