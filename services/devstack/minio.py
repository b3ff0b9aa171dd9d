"""MinIO, single node and single drive, built from source with Go."""

from __future__ import annotations

import httpx

from services.common.s3 import ensure_buckets
from services.devstack.component import Component
from services.devstack.gotools import MINIO
from services.devstack.process import StackError


class MinIO(Component):
    name = "minio"

    @property
    def host(self) -> str:
        return self.settings.s3.host

    def ports(self) -> list[int]:
        return [self.settings.s3.port, self.settings.s3.console_port]

    def address(self) -> str:
        s3 = self.settings.s3
        return f"http://{s3.endpoint} (console http://{s3.host}:{s3.console_port})"

    @property
    def binary(self) -> str:
        return str(MINIO.path(self.cache_dir))

    def version(self) -> str:
        # A source build reports "DEVELOPMENT.GOGET"; the module version is the real pin.
        return f"MinIO {MINIO.version}"

    def install(self) -> None:
        MINIO.ensure(self.cache_dir, self.log_dir / "build-minio.log")

    def launch(self) -> None:
        s3 = self.settings.s3
        drive = s3.data_dir or self.data_dir / "data"
        drive.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                self.binary,
                "server",
                str(drive),
                "--address",
                f"{s3.host}:{s3.port}",
                "--console-address",
                f"{s3.host}:{s3.console_port}",
                "--quiet",
            ],
            env={
                "MINIO_ROOT_USER": s3.access_key,
                "MINIO_ROOT_PASSWORD": s3.secret_key.get_secret_value(),
                "MINIO_BROWSER_REDIRECT": "off",
                "MINIO_UPDATE": "off",
                "MINIO_PROMETHEUS_AUTH_TYPE": "public",  # local stack: scraped without a token
            },
        )

    def healthy(self) -> bool:
        s3 = self.settings.s3
        r = httpx.get(f"http://{s3.endpoint}/minio/health/ready", timeout=2)
        return r.status_code == 200

    def after_start(self) -> None:
        try:
            ensure_buckets(self.settings.s3, self.settings.retention)
        except Exception as exc:
            raise StackError(f"minio: creating the project's buckets failed: {exc}") from exc
