"""A PostgreSQL cluster of the project's own: its data directory, its port, its role."""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from services.devstack.component import Component
from services.devstack.process import ManagedProcess, StackError, run
from services.devstack.system import ensure_debian_packages


def _bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if not candidates:
        raise StackError("postgres: no server binaries under /usr/lib/postgresql/*/bin")
    return Path(candidates[-1])


class Postgres(Component):
    name = "postgres"
    start_timeout = 60.0

    @property
    def host(self) -> str:
        return self.settings.postgres.host

    def ports(self) -> list[int]:
        return [self.settings.postgres.port]

    def address(self) -> str:
        pg = self.settings.postgres
        return f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}"

    @functools.cached_property
    def root(self) -> Path:
        """Where the cluster lives: ``<home>/postgres``, unless the ``postgres`` user cannot
        reach the home directory (a checkout under a private directory); then a directory of
        its own under /var/tmp, linked from ``<home>/postgres``."""
        if os.geteuid() != 0 or self.data_dir.is_symlink():
            return self.data_dir.resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        reachable = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(self.home)], check=False
        )
        if reachable.returncode == 0:
            return self.data_dir
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        outside = Path("/var/tmp") / f"clearcut-postgres-{digest}"
        outside.mkdir(mode=0o755, exist_ok=True)
        if not self.data_dir.exists():
            self.data_dir.symlink_to(outside, target_is_directory=True)
        return outside

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def server_log(self) -> Path:
        """The file the server writes; the same as the log file unless the cluster lives
        outside the home directory (then the log file links to it)."""
        if self.root == self.data_dir:
            return self.process.log_file
        return self.root / "postgres.log"

    @property
    def process(self) -> ManagedProcess:
        # The postmaster writes its own pid file; its first line is the pid.
        return ManagedProcess(
            self.name, self.pgdata / "postmaster.pid", self.log_dir / "postgres.log"
        )

    def version(self) -> str:
        out = subprocess.run(
            [str(_bindir() / "postgres"), "--version"], capture_output=True, text=True
        ).stdout
        # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "PostgreSQL 15.18"
        parts = out.split()
        return f"PostgreSQL {parts[2]}" if len(parts) > 2 else out.strip()

    def install(self) -> None:
        ensure_debian_packages({"/usr/lib/postgresql": "postgresql", "psql": "postgresql-client"})

    def _as_owner(self, argv: list[str]) -> list[str]:
        # The server refuses to run as root; run it as the `postgres` system user then.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _chown(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, "postgres", "postgres")

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.server_log.touch()
        if self.server_log != self.process.log_file and not self.process.log_file.exists():
            self.process.log_file.symlink_to(self.server_log)
        self._chown(self.socket_dir, self.server_log)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.pgdata)
        run(
            self._as_owner(
                [
                    str(_bindir() / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            what="initialising the PostgreSQL cluster",
            log=self.process.log_file,
        )

    def launch(self) -> None:
        pg = self.settings.postgres
        options = (
            f"-p {pg.port} -c listen_addresses={pg.host} "
            f"-c unix_socket_directories={self.socket_dir} -c max_connections=200"
        )
        run(
            self._as_owner(
                [
                    str(_bindir() / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.server_log),
                    "-o",
                    options,
                    # Wait for the postmaster: its pid file is how this stack finds it.
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                ]
            ),
            what=f"starting PostgreSQL (log: {self.process.log_file})",
        )

    def down(self) -> bool:
        if self.process.pid() is None:
            return False
        run(
            self._as_owner(
                [str(_bindir() / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"]
            ),
            what="stopping PostgreSQL",
        )
        return True

    def healthy(self) -> bool:
        pg = self.settings.postgres
        result = subprocess.run(
            [str(_bindir() / "pg_isready"), "-q", "-h", pg.host, "-p", str(pg.port)],
            check=False,
        )
        return result.returncode == 0

    def _psql(self, sql: str) -> str:
        pg = self.settings.postgres
        return run(
            [
                str(_bindir() / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(pg.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            what="configuring PostgreSQL",
        ).strip()

    def after_start(self) -> None:
        pg = self.settings.postgres
        password = pg.password.get_secret_value().replace("'", "''")
        if self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{pg.user}'") != "1":
            self._psql(f"CREATE ROLE \"{pg.user}\" LOGIN PASSWORD '{password}'")
        else:
            self._psql(f"ALTER ROLE \"{pg.user}\" LOGIN PASSWORD '{password}'")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{pg.database}'") != "1":
            self._psql(f'CREATE DATABASE "{pg.database}" OWNER "{pg.user}"')
