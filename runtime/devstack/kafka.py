"""A single-node Apache Kafka broker (KRaft) run from Maven Central jars.

The jars are resolved once with Maven into ``~/.cache/rt/kafka-<version>/lib``
(``RT_CACHE_DIR`` overrides the cache root). The broker is formatted on first
start, listens on loopback only, and keeps its log dirs under the given data
directory so a restart finds every record where it was.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from runtime.devstack import process

_POM = Path(__file__).with_name("kafka-pom.xml")
_LOG4J2_VERSIONS = {"4.0": "2.24.3", "4.1": "2.24.3", "4.2": "2.25.3", "4.3": "2.25.3"}
_JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:MaxDirectMemorySize=128m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def cache_root() -> Path:
    return Path(os.environ.get("RT_CACHE_DIR", Path.home() / ".cache" / "rt"))


def jars_dir(version: str) -> Path:
    return cache_root() / f"kafka-{version}" / "lib"


def ensure_jars(version: str) -> Path:
    """Resolve the broker's classpath with Maven (once); return the lib directory."""
    lib = jars_dir(version)
    marker = lib.parent / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed to fetch Kafka; run ./scripts/setup.sh")
    if shutil.which("java") is None:
        raise RuntimeError("Java 17+ is needed to run Kafka; run ./scripts/setup.sh")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    major_minor = ".".join(version.split(".")[:2])
    log4j2 = _LOG4J2_VERSIONS.get(major_minor, "2.25.3")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(_POM),
        f"-Dkafka.version={version}",
        f"-Dlog4j2.version={log4j2}",
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"resolving Kafka {version} with Maven failed:\n{output}")
    if not any(lib.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Maven finished but no kafka_2.13 jar is in {lib}")
    marker.write_text(version)
    return lib


def _cluster_id() -> str:
    """A Kafka cluster id (URL-safe base64 of 16 bytes) that the CLI cannot take for an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


@dataclass
class LocalKafka:
    """A broker+controller process owning ``data_dir``."""

    data_dir: Path
    version: str = "4.3.1"
    port: int = 0
    controller_port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    def _choose_ports(self) -> None:
        """Reuse the ports of the previous run (stable URLs for users), else pick free ones."""
        saved = self.data_dir / "ports.json"
        if not self.port and saved.exists():
            prev = json.loads(saved.read_text())
            if process.port_is_free(prev["port"]) and process.port_is_free(prev["controller_port"]):
                self.port, self.controller_port = prev["port"], prev["controller_port"]
        if not self.port:
            self.port = process.free_port()
        if not self.controller_port:
            self.controller_port = process.free_port()
            while self.controller_port == self.port:
                self.controller_port = process.free_port()
        saved.write_text(json.dumps({"port": self.port, "controller_port": self.controller_port}))

    def _write_config(self) -> Path:
        logs = self.data_dir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(logs),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.dedupe.buffer.size": "16777216",
            "log.cleaner.backoff.ms": "1000",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
        }
        conf = self.data_dir / "server.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(log=self.log_file))
        return conf

    def _java(self, lib: Path, *args: str, opts: list[str]) -> list[str]:
        java = shutil.which("java") or "java"
        log4j = f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}"
        return [java, *opts, log4j, "-cp", f"{lib}/*", *args]

    def start(self, timeout: float = 90.0) -> None:
        """Format on first use, start, and wait until the broker answers metadata requests.

        Must be called from the main thread: the child's parent-death signal is
        tied to the thread that forks it.
        """
        lib = ensure_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        process.start_on_picked_ports(
            lambda: self._start_once(lib, timeout),
            picked=not self.port,
            forget_ports=self._forget_ports,
            logs=[self.log_file, self.data_dir / "kafka.out"],
        )

    def _forget_ports(self) -> None:
        self.port = self.controller_port = 0
        (self.data_dir / "ports.json").unlink(missing_ok=True)

    def _start_once(self, lib: Path, timeout: float) -> None:
        self._choose_ports()
        conf = self._write_config()
        if not (self.data_dir / "data" / "meta.properties").exists():
            fmt = self._java(
                lib,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(conf),
                opts=["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"],
            )
            result = subprocess.run(fmt, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(
                    f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}"
                )
        cmd = self._java(
            lib, "kafka.Kafka", str(conf), opts=[*_JVM_OPTS, f"-Dkafka.logs.dir={self.data_dir}"]
        )
        self.proc = process.spawn(cmd, self.data_dir / "kafka.out")
        process.wait_until(
            self._ready, self.proc, timeout, f"Kafka on {self.bootstrap}", self.log_file
        )

    def _ready(self) -> bool:
        # A cheap TCP probe first: librdkafka clients are heavy and log every refused connect.
        if not process.accepts_connections(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(
            {"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000, "log_level": 0}
        )
        try:
            md = admin.list_topics(timeout=2.0)
        except Exception:
            return False
        # Ours, not another broker that took the port first (then ours exits: retried).
        return bool(md.brokers) and md.cluster_id == self._cluster_id()

    def _cluster_id(self) -> str | None:
        meta = self.data_dir / "data" / "meta.properties"
        for line in meta.read_text().splitlines() if meta.exists() else []:
            if line.startswith("cluster.id="):
                return line.partition("=")[2].strip()
        return None

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc, timeout=30)
            self.proc = None
