"""A throwaway PostgreSQL cluster for demos and tests: Debian's initdb and pg_ctl, unprivileged.

PostgreSQL refuses to run as root, and CI runs as root: there the cluster is created and run
as ``nobody`` through ``runuser``; as any other user it runs as that user. It listens on
127.0.0.1 at a free port and on a socket in its own folder, trusts local connections (it lives
only as long as the demo or the test session, in a temporary folder) and is stopped and
removed at the end. Never for production: trust authentication, fsync off.

``PgCluster.database()`` creates a fresh, empty database and returns its URL, so that tests
never see each other's tables.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin(name: str) -> str | None:
    """``initdb``/``pg_ctl`` from PATH or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_base() -> Path:
    """A new folder directly under the system's temporary folder (world-traversable /tmp), so
    that ``nobody`` can reach it whatever the modes of pytest's own temporary tree."""
    return Path(tempfile.mkdtemp(prefix="facesearch-pg-"))


class PgCluster:
    def __init__(self, base: Path) -> None:
        """``base``: an empty folder that the cluster's user can reach (see ``fresh_base``)."""
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.user = "facesearch"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "nobody", "--"]
            shutil.chown(base, "nobody")

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr[-2000:]}")

    def start(self) -> None:
        self._run(
            self._initdb, "-D", str(self.data), "-U", self.user, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "-N",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.base} -c fsync=off -c max_connections=200"
        )
        self._run(
            self._pg_ctl, "-D", str(self.data), "-o", options, "-l",
            str(self.base / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
