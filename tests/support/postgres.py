"""Start a throwaway PostgreSQL server in a temporary directory (no Docker, no system service).

``initdb`` refuses to run as root, so when the tests run as root (as on CI) the server runs as
the ``postgres`` system user, with its socket in the temporary directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def find_bindir() -> Path | None:
    """Return the directory holding initdb/pg_ctl, or None when PostgreSQL is not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    pg_ctl = shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(pg_ctl).parent
    return None


class PostgresServer:
    """A PostgreSQL server living in a temporary directory until ``stop``."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="salve-pg-"))
        self.datadir = self.root / "data"
        self.socketdir = self.root
        self.as_root = os.geteuid() == 0
        self.user = "postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; return self."""
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)  # noqa: S103 - the postgres user must reach its socket here
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--locale=C.UTF-8")  # fmt: skip
        options = (
            f"-k {self.socketdir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-w", "-t", "60",
                  "-l", str(self.root / "server.log"), "start")  # fmt: skip
        return self

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        self._run("createdb", "-h", str(self.socketdir), "-U", self.user, name)
        return self.url(name)

    def url(self, name: str) -> str:
        """Return the SQLAlchemy URL of database ``name``."""
        return f"postgresql+psycopg://{self.user}@/{name}?host={self.socketdir}"

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
        for _ in range(50):
            if not (self.datadir / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
