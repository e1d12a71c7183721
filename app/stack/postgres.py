"""A PostgreSQL cluster from the machine's server binaries, owned by a stack home.

PostgreSQL refuses to run as root, so when we are root every server-side
command runs as the ``postgres`` OS user and the cluster's files belong to it.
Only TCP on 127.0.0.1 (password auth) and a socket inside the home (peer auth,
for the one-time role/database set-up) are open.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from app.stack.base import LOCALHOST, Service, StackError, telling_line
from lookout.settings import ToolPaths

_PG_OS_USER = "postgres"
_LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _bindir() -> Path:
    """$LOOKOUT_PG_BIN, else the newest Debian server install, else pg_ctl on PATH."""
    override = ToolPaths.from_env().pg_bin
    if override:
        return override
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if versions:
        return versions[-1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise StackError("PostgreSQL server binaries not found: install postgresql or set LOOKOUT_PG_BIN")
    return Path(pg_ctl).parent


def _sql_literal(value: str) -> str:
    # standard_conforming_strings is on, so doubling quotes is the whole job.
    return "'" + value.replace("'", "''") + "'"


class PostgresService(Service):
    name = "postgres"

    def __init__(self, home: Path, dsn: str) -> None:
        url = urlparse(dsn)
        if url.hostname not in _LOCAL_HOSTS:
            raise StackError(f"the local stack only serves 127.0.0.1, not the PostgreSQL host in {dsn!r}")
        if not (url.username and url.password and url.path.strip("/")):
            raise StackError("the PostgreSQL DSN for the local stack needs a user, a password and a database")
        super().__init__(home, url.port or 5432)
        self.dsn = dsn
        self.role = unquote(url.username)
        self.password = unquote(url.password)
        self.database = unquote(url.path.strip("/"))
        self.pgdata = self.data_dir / "pgdata"
        self.socket_dir = self.data_dir / "run"
        # postgres keeps its own pid file and runs with the cluster directory as cwd.
        self.pid_file = self.pgdata / "postmaster.pid"
        self.workdir = self.pgdata
        self._as_root = os.geteuid() == 0
        self._superuser = _PG_OS_USER if self._as_root else pwd.getpwuid(os.geteuid()).pw_name

    def start(self) -> None:
        self.check_ports()
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initdb()
        self._write_conf()
        result = self._run_pg(["pg_ctl", "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log_file)])
        if result.returncode != 0:
            self.stop()  # pg_ctl gives up after its timeout but leaves a slow server starting
            raise self.error(f"pg_ctl start failed: {self.log_excerpt()}")
        self.ensure_database()

    def stop(self, timeout: float = 30.0) -> None:
        if not self.is_running():
            return
        # "fast" rolls back open transactions instead of waiting for clients to leave.
        self._run_pg(["pg_ctl", "stop", "-m", "fast", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata)])
        super().stop(timeout)  # no-op once pg_ctl succeeded; SIGTERM/SIGKILL otherwise

    def _ready(self) -> bool:
        result = self._run_pg(["pg_isready", "-q", "-h", LOCALHOST, "-p", str(self.port)])
        return result.returncode == 0

    def _prepare_dirs(self) -> None:
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            self._give_to_server(directory)
        self.log_file.touch()
        self._give_to_server(self.log_file)
        if self._as_root:
            probe = subprocess.run(["runuser", "-u", _PG_OS_USER, "--", "test", "-w", str(self.data_dir)])
            if probe.returncode != 0:
                raise self.error(
                    f"the {_PG_OS_USER} OS user cannot reach {self.data_dir}; make its parent directories "
                    "traversable (chmod o+x)"
                )

    def _initdb(self) -> None:
        result = self._run_pg(
            [
                "initdb",
                "-D", str(self.pgdata),
                "-U", self._superuser,
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)  # so the next start retries from scratch
            raise self.error(f"initdb failed: {telling_line(result.stdout + result.stderr)}")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("include = 'lookout.conf'\n")

    def _write_conf(self) -> None:
        # Rewritten every start so a changed port takes effect on the same cluster.
        conf = self.pgdata / "lookout.conf"
        settings = {"listen_addresses": LOCALHOST, "port": self.port, "unix_socket_directories": self.socket_dir}
        conf.write_text("".join(f"{key} = '{value}'\n" for key, value in settings.items()))
        self._give_to_server(conf)

    def ensure_database(self, name: str | None = None) -> str:
        """Create the DSN's role (not a superuser) and a database it owns, if missing; that database's DSN.

        ``name`` defaults to the DSN's database; tests give a `lookout up` of their own a database of its own.
        """
        name = name or self.database
        role, password, database = map(_sql_literal, (self.role, self.password, name))
        script = (
            f"SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', {role}, {password})"
            f" WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {role}) \\gexec\n"
            f"SELECT format('CREATE DATABASE %I OWNER %I', {database}, {role})"
            f" WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {database}) \\gexec\n"
        )
        # The script goes through stdin so the password never shows up in `ps`.
        result = self._run_pg(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(self.port),
             "-U", self._superuser, "-d", "postgres"],
            stdin=script,
        )  # fmt: skip
        if result.returncode != 0:
            raise self.error(f"creating role {self.role!r} and database {name!r} failed: "
                             f"{telling_line(result.stderr)}")  # fmt: skip
        return urlparse(self.dsn)._replace(path=f"/{quote(name)}").geturl()

    def _run_pg(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(_bindir() / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", _PG_OS_USER, "--", *command]
        # cwd inside the home: the postgres user may not be allowed into ours.
        return subprocess.run(command, cwd=self.data_dir, input=stdin, capture_output=True, text=True)

    def _give_to_server(self, path: Path) -> None:
        if self._as_root:
            shutil.chown(path, _PG_OS_USER, _PG_OS_USER)
