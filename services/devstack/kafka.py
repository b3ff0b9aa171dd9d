"""Apache Kafka in KRaft mode, run from Maven Central jars on the local JVM."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import string
import uuid
from pathlib import Path

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


def pinned_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if match is None:
        raise StackError(f"{POM} does not pin <kafka.version>")
    return match.group(1)


class Kafka(Component):
    name = "kafka"
    start_timeout = 120.0

    @property
    def host(self) -> str:
        return self.settings.kafka.host

    def ports(self) -> list[int]:
        return [self.settings.kafka.port, self.settings.kafka.controller_port]

    def address(self) -> str:
        return self.settings.kafka.bootstrap_servers

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
        rendered = string.Template(SERVER_PROPERTIES.read_text()).substitute(
            host=k.host,
            port=k.port,
            controller_port=k.controller_port,
            data_dir=self.data_dir / "data",
        )
        self.config_file.write_text(rendered)
        cluster_file = self.data_dir / "cluster.id"
        if not cluster_file.exists():
            cluster_file.write_text(
                base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            )
        if not (self.data_dir / "data" / "meta.properties").exists():
            run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_file.read_text().strip(),
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
        k = self.settings.kafka
        return port_open(k.host, k.port) and asyncio.run(_broker_answers(k.bootstrap_servers))


async def _broker_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    finally:
        await admin.close()
