"""Apache Kafka in KRaft mode, run from Maven Central jars on the local JVM."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import string
import uuid
from collections.abc import Callable
from pathlib import Path

from services.common.settings import CommonSettings
from services.devstack.component import Component
from services.devstack.process import StackError, port_open, run
from services.devstack.system import DEPLOY_DIR

POM = DEPLOY_DIR / "kafka" / "pom.xml"
SERVER_PROPERTIES = DEPLOY_DIR / "kafka" / "server.properties"
LOG4J = DEPLOY_DIR / "kafka" / "log4j2.properties"
# Kafka's own start script defaults, sized down for a development machine.
JVM_OPTS = [
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def new_cluster_id(draw: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A random cluster id as Kafka's own ``Uuid.randomUuid`` makes them: URL-safe base64 of
    16 random bytes, never beginning with "-" (a command line would take it for an option)."""
    while True:
        text = base64.urlsafe_b64encode(draw().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def pinned_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if match is None:
        raise StackError(f"{POM} does not pin <kafka.version>")
    return match.group(1)


class Kafka(Component):
    """One KRaft node (broker and controller). A stack of one node calls it ``kafka`` and
    keeps its state in ``<home>/kafka``; a cluster of N names its nodes ``kafka-1`` ...
    ``kafka-N``, each with ``<home>/kafka-<n>`` and ports of its own, sharing one cluster id."""

    group = "kafka"
    start_timeout = 120.0

    def __init__(self, settings: CommonSettings, node: int = 1) -> None:
        self.node = node
        self.name = "kafka" if settings.kafka.brokers == 1 else f"kafka-{node}"
        super().__init__(settings)
        if settings.kafka.brokers > 1:
            self.data_dir = self.cluster_dir / f"node-{node}"

    @property
    def cluster_dir(self) -> Path:
        """Where a cluster of several nodes keeps their state, one folder per size."""
        return self.home / f"kafka-cluster-{self.settings.kafka.brokers}"

    @property
    def host(self) -> str:
        return self.settings.kafka.host

    @property
    def port(self) -> int:
        return self.settings.kafka.node_port(self.node)

    def ports(self) -> list[int]:
        k = self.settings.kafka
        return [k.node_port(self.node), k.node_controller_port(self.node)]

    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def version(self) -> str:
        return f"Apache Kafka {pinned_version()}"

    @property
    def libs(self) -> Path:
        return self.cache_dir / f"kafka-{pinned_version()}" / "libs"

    def install(self) -> None:
        if shutil.which("java") is None:
            raise StackError(
                "kafka: needs Java 17 or newer on PATH (apt-get install openjdk-17-jre)."
            )
        marker = self.libs / f"kafka_2.13-{pinned_version()}.jar"
        if marker.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "kafka: resolving the broker jars needs Maven (apt-get install maven)."
            )
        print(
            f"Resolving Kafka {pinned_version()} jars from Maven Central (about 45 MB, 30 s).",
            flush=True,
        )
        staging = self.libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            what="resolving Kafka jars",
            log=self.log_dir / "build-kafka.log",
        )
        if self.libs.exists():
            shutil.rmtree(self.libs)
        os.replace(staging, self.libs)

    def _java(self) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{self.libs}/*",
        ]

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    def prepare(self) -> None:
        k = self.settings.kafka
        self.data_dir.mkdir(parents=True, exist_ok=True)
        voters = ",".join(
            f"{n}@{k.host}:{k.node_controller_port(n)}" for n in range(1, k.brokers + 1)
        )
        rendered = string.Template(SERVER_PROPERTIES.read_text()).substitute(
            node_id=self.node,
            voters=voters,
            host=k.host,
            port=k.node_port(self.node),
            controller_port=k.node_controller_port(self.node),
            replication=k.replication_factor,
            min_isr=k.min_insync_replicas,
            data_dir=self.data_dir / "data",
        )
        self.config_file.write_text(rendered)
        # Every node of a cluster is formatted with the same id, kept beside the nodes.
        cluster_file = (
            self.data_dir / "cluster.id" if k.brokers == 1 else self.cluster_dir / "cluster.id"
        )
        if not cluster_file.exists():
            cluster_file.write_text(new_cluster_id())
        if not (self.data_dir / "data" / "meta.properties").exists():
            run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    # One token, so that an id beginning with "-" is never read as an option.
                    f"--cluster-id={cluster_file.read_text().strip()}",
                    "-c",
                    str(self.config_file),
                    "--ignore-formatted",
                ],
                what="formatting Kafka storage",
                log=self.process.log_file,
            )

    def launch(self) -> None:
        self.process.start([*self._java(), "kafka.Kafka", str(self.config_file)])

    def healthy(self) -> bool:
        return port_open(self.host, self.port) and asyncio.run(_broker_answers(self.address()))


async def _broker_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    finally:
        await admin.close()
