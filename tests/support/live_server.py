"""Run the real app in a subprocess against a database prepared through the command line.

The browser tests talk to this server over HTTP exactly as a user's browser would: nothing is
shared with the test process but the database, which ``salve init`` migrates and a seed fills.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

#: Creates one account per role (the seeded world of tests/conftest.py) and prints them as JSON.
SEED_SCRIPT = """
import json
from salve import create_app
from salve.extensions import db
from tests.conftest import ROLE_ACCOUNTS, seed_world
from tests.factories import PASSWORD

app = create_app()
with app.app_context():
    seed_world()
    db.session.remove()
    db.engine.dispose()
print(json.dumps({"accounts": ROLE_ACCOUNTS, "password": PASSWORD}))
"""

#: Prints one demo account per role, and the demo password, as JSON.
DEMO_ACCOUNTS_SCRIPT = """
import json
import sqlalchemy as sa
from salve import create_app
from salve.auth.models import User
from salve.demo import DEMO_PASSWORD
from salve.extensions import db

app = create_app()
with app.app_context():
    accounts = {}
    for user in db.session.scalars(sa.select(User).where(User.is_demo).order_by(User.id)):
        # The account named after its role (README: docente, director, …), else the first one.
        if user.username == user.primary_role or user.primary_role not in accounts:
            accounts[user.primary_role] = user.username
    db.engine.dispose()
print(json.dumps({"accounts": accounts, "password": DEMO_PASSWORD}))
"""


class LiveServerError(RuntimeError):
    """The server could not be prepared or did not come up; the message carries its log."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    """The app served from a subprocess on a free localhost port, with its own database."""

    database_url: str
    workdir: Path
    #: "flask" (development server, threaded) or "gunicorn" (several worker processes).
    server: str = "flask"
    #: "demo" (``salve demo --scale small``, what ``make run`` shows) or "seed" (the small world
    #: of tests/conftest.py, for a server that needs no demo country).
    seed: str = "demo"
    port: int = 0
    accounts: dict[str, str] = field(default_factory=dict)
    password: str = ""
    #: username → TOTP secret, learnt when a browser test enrols the account's authenticator.
    totp_secrets: dict[str, str] = field(default_factory=dict)
    #: username → the last 30-second step whose code was used (a code is accepted once).
    totp_steps: dict[str, int] = field(default_factory=dict)
    #: Extra gunicorn options, after the defaults (a repeated option overrides the default).
    gunicorn_options: tuple[str, ...] = ()
    #: Extra environment variables for the server and the preparation commands.
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    _env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """Return the base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Return the file collecting the server's output."""
        return self.workdir / "server.log"

    def log(self) -> str:
        """Return what the server and the preparation commands printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def environ(self) -> dict[str, str]:
        """Return the environment of every command run against this server's database."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SALVE_", "FLASK_", "WERKZEUG_"))
        }
        env.update(
            {
                "SALVE_ENV": "development",
                "SALVE_DATABASE_URL": self.database_url,
                "SALVE_SECRET_KEY": secrets.token_urlsafe(32),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        env.update(self.extra_env)
        return env

    def _run(self, *command: str, timeout: float = 300) -> str:
        """Run a preparation command; append its output to the log; return its stdout."""
        started = time.monotonic()
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        shown = " ".join(part if "\n" not in part else "<script>" for part in command)
        with self.log_path.open("a") as log:
            log.write(f"$ {shown}  # {time.monotonic() - started:.1f} s\n")
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise LiveServerError(
                f"{shown} exited {result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def flask(self, *args: str) -> str:
        """Run ``flask --app app ARGS`` against the server's database; return its stdout."""
        return self._run(str(BIN / "flask"), "--app", "app", *args)

    def prepare(self) -> None:
        """Migrate the database with ``salve init`` and fill it with accounts for every role."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._env = self.environ()
        flask = str(BIN / "flask")
        self._run(flask, "--app", "app", "salve", "init")
        if self.seed == "demo":
            self._run(flask, "--app", "app", "salve", "demo", "--scale", "small", "--seed", "1")
            script = DEMO_ACCOUNTS_SCRIPT
        else:
            script = SEED_SCRIPT
        output = self._run(str(BIN / "python"), "-c", script)
        found = json.loads(output.strip().splitlines()[-1])
        self.accounts, self.password = found["accounts"], found["password"]

    def start(self, timeout: float = 60) -> LiveServer:
        """Prepare the database, start the server and wait until it answers; return self."""
        self.prepare()
        self.port = free_port()
        if self.server == "gunicorn":
            command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
                       "--workers", "2", "--threads", "2", "--timeout", "60",
                       "--access-logfile", "-", "--error-logfile", "-",
                       *self.gunicorn_options, "app:app"]  # fmt: skip
        else:
            command = [str(BIN / "flask"), "--app", "app", "run", "--no-reload",
                       "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        log = self.log_path.open("a")
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stop() reaches gunicorn's workers too
        )
        log.close()
        self._wait_until_up(timeout)
        return self

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LiveServerError(
                    f"the server exited with {self.process.returncode}\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/salud", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise LiveServerError(f"the server did not answer within {timeout} s\n{self.log()}")

    def stop(self) -> None:
        """Stop the server and everything it started."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
