"""KRaft Kafka brokers (one, or a local cluster) run from the Apache jars on Maven Central.

The jars are resolved once per machine with Maven (``kafka-pom.xml``) into a
shared cache, so every stack home and test session reuses them.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from app.stack.base import LOCALHOST, Service, StackError, telling_line, wait_for_port
from lookout.settings import ToolPaths, replication_factor_for
from lookout.topics import min_insync_replicas

_HERE = Path(__file__).resolve().parent
POM = _HERE / "kafka-pom.xml"
LOG4J2_CONFIG = _HERE / "kafka-log4j2.xml"
_STAMP = ".pom-sha256"


def _pom_kafka_version() -> str:
    # The pom is the single place the version is pinned.
    ns = "{http://maven.apache.org/POM/4.0.0}"
    node = ET.parse(POM).find(f"{ns}properties/{ns}kafka.version")
    if node is None or not node.text:
        raise StackError(f"{POM} does not define the kafka.version property")
    return node.text.strip()


KAFKA_VERSION = _pom_kafka_version()


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def kafka_libs_dir() -> Path:
    """Where the broker jars live: $LOOKOUT_KAFKA_LIBS, else a per-user, per-version cache."""
    override = ToolPaths.from_env().kafka_libs
    if override:
        return override
    return Path.home() / ".cache" / "lookout" / f"kafka-{KAFKA_VERSION}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _libs_current(libs: Path) -> bool:
    if not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return False
    if ToolPaths.from_env().kafka_libs:
        return True  # jars the user pointed us at are used as they are
    # A pom change (say, a logging binding) must not be masked by jars cached from the old one.
    stamp = libs / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def fetch_kafka(progress: Callable[[str], object] = _to_stderr) -> Path:
    """Make sure the Kafka jars are in :func:`kafka_libs_dir` (Maven, first run only); return it."""
    libs = kafka_libs_dir()
    if _libs_current(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Maven (mvn) is needed once to fetch the Kafka {KAFKA_VERSION} jars but is not on PATH")
    progress(f"resolving Kafka {KAFKA_VERSION} jars with Maven (first run only)...")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Copy into a private directory and rename it into place, so a concurrent
    # session never sees a half-filled libs dir.
    staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
    stale = staging.with_name(staging.name + "-stale")
    try:
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"],
            cwd=libs.parent,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            # Maven's first [ERROR] line is the cause; the last ones are boilerplate.
            errors = [line for line in output.splitlines() if line.startswith("[ERROR]")]
            reason = errors[0] if errors else telling_line(output)
            raise StackError(f"could not resolve Kafka {KAFKA_VERSION} jars with Maven: {reason}")
        (staging / _STAMP).write_text(_pom_digest() + "\n")
        if libs.exists() and not ToolPaths.from_env().kafka_libs:
            libs.rename(stale)  # jars from an older pom; never touch a user-chosen dir
        try:
            staging.rename(libs)
        except OSError:
            if not _libs_current(libs):
                raise StackError(f"{libs} exists but holds no Kafka {KAFKA_VERSION} jars; remove it") from None
            # Another session won the race with the same jars.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    progress(f"Kafka {KAFKA_VERSION} jars cached in {libs}")
    return libs


def _java() -> str:
    java_home = ToolPaths.from_env().java_home
    if java_home and (java_home / "bin" / "java").is_file():
        return str(java_home / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StackError("java (17 or newer) is needed to run Kafka but is not on PATH and JAVA_HOME is unset")
    return java


def _java_argv(main_class: str, *jvm_opts: str) -> list[str]:
    libs = fetch_kafka()
    return [_java(), *jvm_opts, f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}", "-cp", f"{libs}/*", main_class]


def _cluster_id() -> str:
    """A Kafka cluster id (URL-safe base64 of a random UUID), made without a JVM start."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator avoids a leading '-' so the id is never read as a CLI flag.
        if not candidate.startswith("-"):
            return candidate


class KafkaService(Service):
    """One KRaft node (broker and controller in one JVM): alone, or one of a local cluster.

    A cluster's nodes are all voters of the metadata quorum and share one cluster id, kept in
    ``cluster_id_file`` so each node is formatted with the same one.
    """

    def __init__(
        self,
        home: Path,
        port: int,
        controller_port: int,
        *,
        node_id: int = 1,
        voters: str | None = None,
        cluster_size: int = 1,
    ) -> None:
        # A lone broker keeps the directory it always had; cluster nodes get one each.
        self.name = "kafka" if cluster_size == 1 else f"kafka-{node_id}"
        super().__init__(home, port)
        self.controller_port = controller_port
        self.node_id = node_id
        self.cluster_size = cluster_size
        self.voters = voters or f"{node_id}@{LOCALHOST}:{controller_port}"
        self.cluster_id_file = home / "kafka-cluster-id"
        self.config_file = self.data_dir / "server.properties"
        self.log_dirs = self.data_dir / "data"

    @property
    def bootstrap(self) -> str:
        return self.address

    def ports(self) -> dict[str, int]:
        return {"port": self.port, "controller": self.controller_port}

    def start(self) -> None:
        self.check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Rewritten every start so a changed port takes effect on the same data.
        self.config_file.write_text(self._server_properties())
        if not (self.log_dirs / "meta.properties").is_file():
            self._format()
        # Three JVMs share the machine in a cluster, so each gets a smaller heap.
        heap = "-Xmx512m" if self.cluster_size == 1 else "-Xmx384m"
        self._launch([*_java_argv("kafka.Kafka", heap), str(self.config_file)])

    def _format(self) -> None:
        argv = [*_java_argv("kafka.tools.StorageTool"), "format", "-t", self._cluster_id(), "-c", str(self.config_file)]
        result = subprocess.run(argv, cwd=self.data_dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise self.error(f"formatting {self.log_dirs} failed: {telling_line(result.stdout + result.stderr)}")

    def _cluster_id(self) -> str:
        if self.cluster_size == 1:
            return _cluster_id()
        if not self.cluster_id_file.is_file():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            self.cluster_id_file.write_text(_cluster_id() + "\n")
        return self.cluster_id_file.read_text().strip()

    def _ready(self) -> bool:
        # The port opens before the broker serves requests; a metadata round trip proves it does.
        if not wait_for_port(self.port, 0):
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="lookout-stack", request_timeout_ms=5000
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def _server_properties(self) -> str:
        listener = f"{LOCALHOST}:{self.port}"
        controller = f"{LOCALHOST}:{self.controller_port}"
        # Internal topics (consumer offsets, transactions) are replicated like Lookout's own.
        replication = replication_factor_for(self.cluster_size)
        replicas, in_sync = str(replication), str(min_insync_replicas(replication))
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "listeners": f"PLAINTEXT://{listener},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{listener}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": "1",
            "delete.topic.enable": "true",
            "default.replication.factor": replicas,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": in_sync,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": in_sync,
            # Consumers in tests should not sit out the default 3 s rebalance delay.
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.cluster_size > 1:
            # A broker that dies without a goodbye keeps its partitions' leadership until the
            # controller's session for it expires (9 s by default); 6 s moves them sooner while a
            # busy machine's scheduling hiccups still do not fence a healthy broker.
            settings["broker.heartbeat.interval.ms"] = "1000"
            settings["broker.session.timeout.ms"] = "6000"
        return "".join(f"{key}={value}\n" for key, value in settings.items())


def producer_perf_test(
    bootstrap: str,
    topic: str,
    num_records: int,
    record_size: int,
    throughput: int = -1,
    extra_props: Mapping[str, str] | None = None,
    *,
    timeout: float = 600.0,
) -> str:
    """Run Kafka's ProducerPerformance tool against ``bootstrap``; return its report (stdout).

    ``throughput=-1`` means unthrottled; ``extra_props`` are producer settings
    such as ``{"acks": "all", "compression.type": "lz4"}``.
    """
    props = {"bootstrap.servers": bootstrap, **(extra_props or {})}
    argv = [
        *_java_argv("org.apache.kafka.tools.ProducerPerformance"),
        "--topic", topic,
        "--num-records", str(num_records),
        "--record-size", str(record_size),
        "--throughput", str(throughput),
        "--producer-props", *(f"{key}={value}" for key, value in props.items()),
    ]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StackError(f"ProducerPerformance against {bootstrap} did not finish within {timeout:.0f}s") from None
    if result.returncode != 0:
        raise StackError(
            f"ProducerPerformance against {bootstrap} failed (exit {result.returncode}): "
            f"{telling_line(result.stderr + result.stdout)}"
        )
    return result.stdout
