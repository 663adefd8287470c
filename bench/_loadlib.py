"""Shared parts of ``bench/load.py`` and ``bench/faults.py``: servers, bench accounts, simulated
users and the figures they report.

Not a benchmark itself (``make bench`` runs it too, and it only prints how to use the others).
Everything runs in throwaway directories: a PostgreSQL server (``tests/support/postgres.py``) or
a SQLite file, gunicorn with several workers, the scheduler in its own process, and, for the
faults, an SMTP server. Simulated users are threads, each with its own cookie jar, speaking plain
HTTP/1.1 through ``http.client`` exactly as a browser would: they read the CSRF token and the
report form's idempotency key from the pages they get, and post the real forms.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresServer, find_bindir  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
#: Where the bench accounts work: San Salvador, the demo's department.
DEPARTMENT = "06"
#: How the simulated users split by role (the rest are departamentales).
ROLE_SHARES = (("docente", 0.5), ("gestor", 0.2), ("supervisor", 0.1))
#: Roles that sign in with a second factor (SECURITY.md item 7).
SECOND_FACTOR_ROLES = frozenset({"gestor", "supervisor", "nacional", "admin"})
#: Texts that must never reach a user: a traceback, gunicorn's own error page, driver errors.
LEAKS = (
    "Traceback",
    "Internal Server Error",
    "psycopg",
    "sqlalchemy",
    "OperationalError",
    "sqlite3",
    'File "',
)
#: The heading of the app's 503 page, in the bench users' language (es_SV).
UNAVAILABLE = "Servicio no disponible temporalmente"
#: Report types a bench teacher ticks: two ordinary ones, and one that raises an alert at once.
ORDINARY_TYPES = ("ACO_VERBAL", "FIS_PELEA")
IMMEDIATE_TYPES = ("ARM_AMENAZA",)
LOCATIONS = ("aula", "patio", "pasillos", "cancha")
REPETITIONS = ("primera_vez", "2_3", "4_5")
NARRATIVE = "Relato generado por el banco de carga: hechos inventados, sin personas reales."

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_HIDDEN_KEY = re.compile(r'name="idempotency_key" value="([^"]*)"')
_PARTY_ROWS = re.compile(r'name="party_rows" value="(\d+)"')
_DATE = re.compile(r'name="occurred_date" value="([^"]*)"')
_TIME = re.compile(r'name="occurred_time" value="([^"]*)"')
_NIE = re.compile(r'class="student-nie">\s*([0-9]+)\s*<')
_ALERT_LINK = re.compile(r'href="/alertas/(\d+)"')
_ANALYTICS_LINK = re.compile(r'href="(/reportes/escuelas/\d+/analisis)"')
_ACK_FORM = 'name="to" value="reconocida"'
_ALREADY_FILED = "ya estaba registrado"


# --- Processes and servers ------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now (never 5000)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != 5000:
            return port


@dataclass
class Service:
    """A background process of ours, in its own process group, its output in a file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, command: list[str], env: dict, workdir: Path) -> Service:
        """Start ``command``; its output goes to ``workdir/<name>.log`` (appended)."""
        log_path = workdir / f"{name}.log"
        with log_path.open("a") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            process = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log_path)

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.process.pid

    def running(self) -> bool:
        """Tell whether the process is still alive."""
        return self.process.poll() is None

    def output(self) -> str:
        """Return what the process printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill9(self) -> None:
        """``kill -9`` the process itself (no cleanup, no goodbye)."""
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """Stop the process and everything it started: SIGTERM, then SIGKILL."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


class Gunicorn(Service):
    """gunicorn serving ``app:app`` with sync workers."""

    #: The port it listens on (127.0.0.1).
    port: int = 0

    @classmethod
    def serve(cls, port: int, workers: int, env: dict, workdir: Path) -> Gunicorn:
        """Start gunicorn on ``port`` and wait until ``/salud`` answers 200."""
        command = [str(BIN / "gunicorn"), "--workers", str(workers),
                   "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "10",
                   "--error-logfile", "-", "app:app"]  # fmt: skip
        server = cls.start("gunicorn", command, env, workdir)
        server.port = port
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not server.running():
                raise RuntimeError(f"gunicorn exited:\n{server.output()[-3000:]}")
            if len(server.workers()) == workers and _healthy(port):
                return server
            time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"gunicorn did not answer within 90 s:\n{server.output()[-3000:]}")

    def workers(self) -> list[int]:
        """Return the pids of the master's worker processes now."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/salud")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class BenchPostgres(PostgresServer):
    """The tests' throwaway PostgreSQL server, which can also be stopped and started again."""

    OPTIONS = (
        "-c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off -c max_connections=150"
    )

    def start(self) -> BenchPostgres:
        """Create the cluster and start the server; return self."""
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)  # noqa: S103 - the postgres user must reach its socket here
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--locale=C.UTF-8")  # fmt: skip
        self.start_again()
        return self

    def start_again(self) -> None:
        """Start the (stopped) server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.datadir), "-o", f"-k {self.socketdir} {self.OPTIONS}",
                  "-w", "-t", "60", "-l", str(self.root / "server.log"), "start")  # fmt: skip

    def stop_fast(self) -> None:
        """``pg_ctl stop -m fast``: sessions are cut, the server shuts down cleanly."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")


def postgres_or_none() -> BenchPostgres | None:
    """Start a throwaway PostgreSQL server, or return None when PostgreSQL is not installed."""
    bindir = find_bindir()
    return BenchPostgres(bindir).start() if bindir else None


def salve_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of every SALVE process of a run (server, scheduler, commands)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALVE_", "FLASK_"))}
    env.update(
        {
            "SALVE_ENV": "development",  # production refuses demo accounts; debug stays off
            "SALVE_DATABASE_URL": database_url,
            "SALVE_SECRET_KEY": secrets.token_urlsafe(32),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # Every simulated person signs in from 127.0.0.1; the per-address limit (30 a
            # minute) stands for one office, not fifty.
            "SALVE_RATE_LIMITS": json.dumps({"sign-in": [1000, 60]}),
        }
    )
    env.update(extra)
    return env


def flask_command(env: dict, workdir: Path, *args: str, timeout: float = 900) -> str:
    """Run ``flask --app app ARGS`` to the end; log its output; return it; raise on failure."""
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the project's own command, fixed arguments
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    with (workdir / "commands.log").open("a") as log:
        log.write(f"$ flask --app app {' '.join(args)}  # {time.monotonic() - started:.1f} s\n")
        log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def prepare_database(env: dict, workdir: Path, seed: int) -> None:
    """``salve init`` and ``salve demo`` (the small invented country) into an empty database."""
    flask_command(env, workdir, "salve", "init")
    flask_command(env, workdir, "salve", "demo", "--seed", str(seed))


def count_in_logs(paths: list[Path], needle: str) -> int:
    """Return how many lines of the files hold ``needle``."""
    total = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError), path.open(errors="replace") as lines:
            total += sum(needle in line for line in lines)
    return total


@contextlib.contextmanager
def work_directory(prefix: str, keep: bool) -> Iterator[Path]:
    """Yield a temporary directory for logs and databases; delete it unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- The app, in this process, for setting up and counting ----------------------------------


@contextlib.contextmanager
def salve_app(database_url: str, **config) -> Iterator:
    """Yield an app context on ``database_url``; release every connection on the way out."""
    from salve import create_app
    from salve.extensions import db

    app = create_app({"DATABASE_URL": database_url, "ENV": "development", **config})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@dataclass
class Account:
    """A bench account: one per simulated user (a TOTP code serves once per 30-s step)."""

    username: str
    role: str
    password: str
    totp_secret: str | None = None
    school_code: str | None = None


def role_plan(users: int) -> list[str]:
    """Split ``users`` into roles: half teachers, then handlers, supervisors, departamentales."""
    roles = []
    for role, share in ROLE_SHARES:
        roles += [role] * max(1, round(users * share))
    roles += ["departamental"] * max(1, users - len(roles))
    return roles[: max(users, 4)]


def create_accounts(database_url: str, users: int, *, avoid_school: str | None = None) -> dict:
    """Create one account per simulated user in the prepared database; return the plan.

    Teachers work in the department's largest public schools (one school may hold several),
    everyone else in the department. Handlers and supervisors get an enrolled authenticator
    (``users.totp_secret`` and ``totp_enabled_at``), as the second factor asks of them. The demo's
    open alerts of the department are shared out among the bench handlers (reassigned by a bench
    supervisor, as the alert page would), so every handler has an inbox. Every account, the
    demo's included, gets an email address, so every alert also queues an email.
    """
    import pyotp
    import sqlalchemy as sa

    from salve.alerts.models import Alert
    from salve.alerts.operations import reassign
    from salve.auth.models import User
    from salve.auth.operations import create_user
    from salve.db import utcnow
    from salve.extensions import db
    from salve.geography.models import Department
    from salve.schools.models import School, Student

    password = secrets.token_urlsafe(18)
    roles = role_plan(users)
    with salve_app(database_url):
        department = db.session.scalar(sa.select(Department).where(Department.code == DEPARTMENT))
        enrolment = (
            sa.select(Student.school_id, sa.func.count().label("n"))
            .where(Student.is_active)
            .group_by(Student.school_id)
            .subquery()
        )
        schools = db.session.scalars(
            sa.select(School.code)
            .join(enrolment, enrolment.c.school_id == School.id)
            .where(School.department_id == department.id, School.code != (avoid_school or ""))
            .order_by(enrolment.c.n.desc(), School.code)
            .limit(max(1, roles.count("docente") // 3))
        ).all()
        accounts, seen = [], Counter()
        for role in roles:
            seen[role] += 1
            username = f"banco-{role}-{seen[role]:02d}"
            where = {"department_code": DEPARTMENT}
            school = None
            if role == "docente":
                school = schools[(seen[role] - 1) % len(schools)]
                where = {"school_code": school}
            user = create_user(username, password, role, display_name=username,
                               email=f"{username}@banco.example.org", check_password=False,
                               **where)  # fmt: skip
            secret = None
            if role in SECOND_FACTOR_ROLES and hasattr(User, "totp_secret"):
                secret = pyotp.random_base32()
                user.totp_secret = secret
                user.totp_enabled_at = utcnow()
            accounts.append(Account(username, role, password, secret, school))
        for user in db.session.scalars(sa.select(User).where(User.email == "")):
            user.email = f"{user.username}@demo.example.org"
        db.session.flush()
        handlers = db.session.scalars(
            sa.select(User).where(User.username.like("banco-gestor-%")).order_by(User.id)
        ).all()
        supervisor = db.session.scalar(
            sa.select(User).where(User.username.like("banco-supervisor-%")).order_by(User.id)
        )
        alerts = db.session.scalars(
            sa.select(Alert)
            .where(Alert.department_id == department.id, Alert.status == "abierta")
            .order_by(Alert.id)
        ).all()
        for index, alert in enumerate(alerts):
            reassign(supervisor, alert, handlers[index % len(handlers)], "Reparto del banco.")
        db.session.commit()
    return {
        "accounts": accounts,
        "schools": list(schools),
        "reassigned_alerts": len(alerts),
    }


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One answer (``status`` 0: none, the connection failed; ``error`` says how)."""

    status: int
    body: str = ""
    location: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Tell whether the server answered 2xx or 3xx."""
        return 200 <= self.status < 400

    @property
    def redirect_path(self) -> str:
        """Return the path (and query) a redirect points to, or ""."""
        if not self.location:
            return ""
        parts = urlsplit(self.location)
        return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Sample:
    """One request as the client saw it."""

    kind: str
    started: float  # seconds since the run began
    seconds: float
    status: int
    error: str = ""
    #: The body was not what a user may see (a traceback, gunicorn's page, a driver error), or an
    #: error answer was not the app's own error page.
    bad_body: bool = False


class Recorder:
    """Every request of every simulated user, with its timing, shared by the threads."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.samples: list[Sample] = []
        self.events: list[tuple[float, str]] = []
        self.bad_bodies: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return seconds since the run began."""
        return time.monotonic() - self.t0

    def add(self, sample: Sample, body: str = "") -> None:
        """Keep one request's figures (and, when it leaked something, its body's start)."""
        with self._lock:
            self.samples.append(sample)
            if sample.bad_body and len(self.bad_bodies) < 20:
                self.bad_bodies.append((sample.kind, sample.status, body[:2000]))

    def event(self, text: str) -> None:
        """Note something that happened to the run (a kill, a restart), with its time."""
        with self._lock:
            self.events.append((self.now(), text))
        print(f"  [{self.now():6.1f} s] {text}", flush=True)


def body_problem(status: int, body: str) -> bool:
    """Tell whether a body must not reach a user: a leak, or an error that is not our page."""
    if any(leak in body for leak in LEAKS):
        return True
    if status >= 400:
        ours = 'class="error-code"' in body and f"Error {status}" in body
        return not ours or (status == 503 and UNAVAILABLE not in body)
    return False


class Browser:
    """One user's HTTP client: a cookie jar, a new connection per request (sync workers)."""

    def __init__(self, port: int, recorder: Recorder, timeout: float = 60) -> None:
        self.port = port
        self.recorder = recorder
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def forget(self) -> None:
        """Drop every cookie (a new browser)."""
        self.cookies.clear()

    def request(self, kind: str, method: str, path: str, form=None) -> Reply:
        """Send one request, record it under ``kind``, and return the answer."""
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "User-Agent": "salve-bench/1",
            "Accept": "text/html",
            "Accept-Language": "es-SV,es;q=0.9",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        started = self.recorder.now()
        clock = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            seconds = time.perf_counter() - clock
            self.recorder.add(Sample(kind, started, seconds, 0, type(error).__name__))
            return Reply(0, error=type(error).__name__)
        finally:
            connection.close()
        seconds = time.perf_counter() - clock
        self._keep_cookies(response.msg.get_all("Set-Cookie") or [])
        bad = body_problem(response.status, data)
        self.recorder.add(Sample(kind, started, seconds, response.status, bad_body=bad), data)
        return Reply(response.status, data, response.getheader("Location") or "")

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                gone = morsel["max-age"] == "0" or (
                    morsel["expires"] and "1970" in morsel["expires"]
                )
                if gone or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


# --- Simulated users ------------------------------------------------------------------------


class StopRun(Exception):
    """The run is over for this user."""


@dataclass
class Ledger:
    """Every report submission by its idempotency key, as the client saw it."""

    #: key -> incident id, for each submission the server acknowledged (a redirect to it).
    acknowledged: dict[str, int] = field(default_factory=dict)
    #: Keys posted at least once.
    attempted: set[str] = field(default_factory=set)
    #: Keys whose submission needed more than one post.
    retried: set[str] = field(default_factory=set)
    #: Keys whose retry found the report already stored ("ya estaba registrado").
    already_stored: set[str] = field(default_factory=set)
    #: Keys given up on, never acknowledged.
    abandoned: set[str] = field(default_factory=set)
    #: Immediate-alert reports acknowledged.
    immediate: int = 0
    #: Alerts acknowledged by handlers (redirect after the transition).
    alerts_acknowledged: int = 0
    #: Sign-ins that needed the second factor.
    second_factor_logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Site:
    """What every simulated user of a run shares."""

    port: int
    recorder: Recorder
    ledger: Ledger
    stop_at: float  # recorder seconds
    think: tuple[float, float] = (1.0, 5.0)
    #: Retry a failed submission with the same key (the fault run); otherwise never retry.
    retry: bool = False
    #: How long past ``stop_at`` a retried submission may go on.
    grace: float = 60.0


class SimulatedUser(threading.Thread):
    """A person using SALVE through a browser: signs in, then repeats ``step`` until the end."""

    def __init__(self, site: Site, account: Account, seed: int, start_after: float) -> None:
        super().__init__(name=account.username, daemon=True)
        self.site = site
        self.account = account
        self.rng = random.Random(seed)  # noqa: S311 - think times and choices, not secrets
        self.start_after = start_after
        self.browser = Browser(site.port, site.recorder)
        self.crash: str = ""

    # The loop ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._sleep_until(self.start_after)
            self.sign_in()
            self.setup()
            while True:
                self.check_time()
                self.step()
        except StopRun:
            return
        except Exception as error:  # a bench bug: reported, never hidden
            import traceback

            self.crash = f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
            self.site.recorder.event(f"{self.name} crashed: {type(error).__name__}: {error}")

    def setup(self) -> None:
        """Things done once after signing in."""

    def step(self) -> None:
        """One round of work with think times in between."""
        raise NotImplementedError

    def check_time(self) -> None:
        """Stop when the run is over."""
        if self.site.recorder.now() >= self.site.stop_at:
            raise StopRun

    def think(self) -> None:
        """Pause like a person reading or typing (uniform within the site's range)."""
        low, high = self.site.think
        self._sleep_until(self.site.recorder.now() + self.rng.uniform(low, high))
        self.check_time()

    def _sleep_until(self, moment: float) -> None:
        delay = min(moment, self.site.stop_at) - self.site.recorder.now()
        if delay > 0:
            time.sleep(delay)

    def get(self, kind: str, path: str) -> Reply:
        """GET ``path``; sign in again if the session was lost."""
        reply = self.browser.request(kind, "GET", path)
        if reply.status in (302, 303) and reply.redirect_path.startswith("/ingresar"):
            self.sign_in()
            reply = self.browser.request(kind, "GET", path)
        return reply

    # Signing in ----------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Sign in with the password, and the TOTP code when asked; retry until it works."""
        while True:
            self.check_time()
            if self._try_sign_in():
                self.get("home", "/inicio")
                return
            time.sleep(self.rng.uniform(1.0, 3.0))

    def _try_sign_in(self) -> bool:
        self.browser.forget()
        page = self.browser.request("login_form", "GET", "/ingresar")
        token = _CSRF.search(page.body) if page.status == 200 else None
        if token is None:
            return False
        reply = self.browser.request(
            "login",
            "POST",
            "/ingresar",
            {
                "csrf_token": token.group(1),
                "username": self.account.username,
                "password": self.account.password,
            },
        )
        if reply.status not in (302, 303):
            return False
        target = reply.redirect_path
        if target.startswith("/cuenta/segundo-factor"):
            raise RuntimeError(f"{self.account.username} is not enrolled for the second factor")
        if not target.startswith("/ingresar/codigo"):
            return not target.startswith("/ingresar")
        with self.site.ledger.lock:
            self.site.ledger.second_factor_logins += 1
        return self._second_factor(target)

    def _second_factor(self, path: str) -> bool:
        import pyotp

        if not self.account.totp_secret:
            raise RuntimeError(f"{self.account.username} was asked for a code it does not have")
        totp = pyotp.TOTP(self.account.totp_secret)
        for _attempt in range(3):
            page = self.browser.request("login_code_form", "GET", path)
            token = _CSRF.search(page.body) if page.status == 200 else None
            if token is None:
                return False
            reply = self.browser.request(
                "login_code", "POST", path, {"csrf_token": token.group(1), "code": totp.now()}
            )
            if reply.status in (302, 303):
                return not reply.redirect_path.startswith("/ingresar")
            if reply.status != 200:
                return False
            # The code of this 30-s step was used already (an earlier try whose answer was lost):
            # wait for the next step, as a person would.
            time.sleep(30 - time.time() % 30 + 1)
        return False


class Teacher(SimulatedUser):
    """A docente: finds students' NIEs, then files reports through the real form."""

    def setup(self) -> None:
        self.nies: list[str] = []
        for page in (1, 2):
            reply = self.get("students", f"/incidentes/estudiantes?page={page}")
            self.nies += _NIE.findall(reply.body)
            self.think()
        if len(self.nies) < 2:
            raise RuntimeError(f"{self.account.username} found fewer than two students")

    def step(self) -> None:
        form = self.get("report_form", "/incidentes/nuevo")
        if form.status != 200:
            self.think()
            return
        fields = self._filled_form(form.body)
        self.think()  # filling it in
        self._submit(fields)
        self.think()
        if self.rng.random() < 0.3:
            self.get("incident_list", "/incidentes/")
            self.think()

    def _filled_form(self, page: str) -> list[tuple[str, str]]:
        def found(pattern: re.Pattern, default: str = "") -> str:
            match = pattern.search(page)
            return match.group(1) if match else default

        immediate = self.rng.random() < 0.15
        victim, aggressor = self.rng.sample(self.nies, 2)
        fields = [
            ("csrf_token", found(_CSRF)),
            ("idempotency_key", found(_HIDDEN_KEY)),
            ("party_rows", found(_PARTY_ROWS, "4")),
            ("occurred_date", found(_DATE)),
            ("occurred_time", found(_TIME)),
            ("location", self.rng.choice(LOCATIONS)),
            ("types", self.rng.choice(IMMEDIATE_TYPES if immediate else ORDINARY_TYPES)),
            ("relationship", "estudiante_estudiante"),
            ("parties-0-role", "victima"),
            ("parties-0-kind", "estudiante"),
            ("parties-0-nie", victim),
            ("parties-1-role", "agresor"),
            ("parties-1-kind", "estudiante"),
            ("parties-1-nie", aggressor),
            ("repetition", self.rng.choice(REPETITIONS)),
            ("measures", "separacion"),
            ("narrative", NARRATIVE),
            ("action", "submit"),
        ]
        if not fields[0][1] or not fields[1][1]:
            raise RuntimeError("the report form has no CSRF token or idempotency key")
        return fields

    def _submit(self, fields: list[tuple[str, str]]) -> None:
        """Post the form; in the fault run, post it again with the same key until acknowledged."""
        ledger = self.site.ledger
        key = dict(fields)["idempotency_key"]
        immediate = dict(fields)["types"] in IMMEDIATE_TYPES
        with ledger.lock:
            ledger.attempted.add(key)
        attempt = 0
        while True:
            attempt += 1
            reply = self.browser.request("report_submit", "POST", "/incidentes/nuevo", fields)
            stored = re.fullmatch(r"/incidentes/(\d+)", reply.redirect_path)
            if reply.status in (302, 303) and stored:
                with ledger.lock:
                    ledger.acknowledged[key] = int(stored.group(1))
                    ledger.immediate += immediate
                    if attempt > 1:
                        ledger.retried.add(key)
                shown = self.get("report_view", reply.redirect_path)
                if _ALREADY_FILED in shown.body:
                    with ledger.lock:
                        ledger.already_stored.add(key)
                return
            retriable = reply.status == 0 or reply.status >= 500
            late = self.site.recorder.now() >= self.site.stop_at + self.site.grace
            if not (self.site.retry and retriable) or late:
                with ledger.lock:
                    ledger.abandoned.add(key)
                return
            time.sleep(self.rng.uniform(1.0, 3.0))  # then press "Enviar" again


class Handler(SimulatedUser):
    """A gestor: opens the inbox, reads an alert, acknowledges it."""

    def step(self) -> None:
        inbox = self.get("alert_inbox", "/alertas/?estado=abierta")
        ids = _ALERT_LINK.findall(inbox.body)
        self.think()
        if not ids:
            listing = self.get("alert_inbox", "/alertas/")
            ids = _ALERT_LINK.findall(listing.body)
            self.think()
        if ids:
            alert_id = self.rng.choice(ids)
            page = self.get("alert_view", f"/alertas/{alert_id}")
            self.think()
            token = _CSRF.search(page.body)
            if _ACK_FORM in page.body and token:
                reply = self.browser.request(
                    "alert_ack",
                    "POST",
                    f"/alertas/{alert_id}/transicion",
                    {"csrf_token": token.group(1), "to": "reconocida"},
                )
                if reply.status in (302, 303):
                    with self.site.ledger.lock:
                        self.site.ledger.alerts_acknowledged += 1
                    self.get("alert_view", reply.redirect_path)
                self.think()
        if self.rng.random() < 0.3:
            self.get("notices", "/avisos")
            self.think()


class Regional(SimulatedUser):
    """A departamental or supervisor: the department's ranked list, then a school's analytics."""

    SORTS = ("riesgo", "tendencia", "alertas", "incidentes_30", "tasa", "nombre")

    def step(self) -> None:
        query = {"orden": self.rng.choice(self.SORTS)}
        if self.rng.random() < 0.3:
            query["page"] = "2"
        listing = self.get(
            "department_list", f"/reportes/departamentos/{DEPARTMENT}/escuelas?{urlencode(query)}"
        )
        links = _ANALYTICS_LINK.findall(listing.body)
        self.think()
        if links:
            months = self.rng.choice(("", "?meses=3", "?meses=12"))
            self.get("school_analytics", self.rng.choice(links) + months)
            self.think()
        if self.account.role == "supervisor" and self.rng.random() < 0.4:
            self.get("alert_inbox", "/alertas/")
            self.think()


USER_CLASSES: dict[str, type[SimulatedUser]] = {
    "docente": Teacher,
    "gestor": Handler,
    "supervisor": Regional,
    "departamental": Regional,
}


def start_users(site: Site, accounts: list[Account], ramp: float, seed: int) -> list:
    """Start one thread per account, their sign-ins spread evenly over ``ramp`` seconds."""
    users = []
    for index, account in enumerate(accounts):
        start_after = ramp * index / max(1, len(accounts))
        user = USER_CLASSES[account.role](site, account, seed * 1000 + index, start_after)
        user.start()
        users.append(user)
    return users


def join_users(users: list, timeout: float) -> list[str]:
    """Wait for every user thread; return the names of those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    for user in users:
        user.join(max(0.0, deadline - time.monotonic()))
    return [u.name for u in users if u.is_alive()]


# --- Figures -------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Return the nearest-rank ``p``-th percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class KindFigures:
    """Latency and outcome figures of one kind of request (or of all)."""

    kind: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def figures(samples: list[Sample]) -> list[KindFigures]:
    """Return per-kind figures, sorted by kind, then the overall row."""
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    rows = [_row(kind, group) for kind, group in sorted(by_kind.items())]
    return [*rows, _row("(todas)", samples)]


def _row(kind: str, samples: list[Sample]) -> KindFigures:
    times = sorted(s.seconds * 1000 for s in samples)
    errors = sum(1 for s in samples if not 200 <= s.status < 400)
    return KindFigures(
        kind,
        len(samples),
        errors,
        percentile(times, 50),
        percentile(times, 95),
        percentile(times, 99),
        times[-1] if times else float("nan"),
    )


def print_figures(rows: list[KindFigures], seconds: float) -> None:
    """Print the latency table and the throughput."""
    print(f"  {'petición':<18} {'n':>7} {'errores':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'máx ms':>8}")  # fmt: skip
    for row in rows:
        print(f"  {row.kind:<18} {row.requests:>7} {row.errors:>8} {row.p50_ms:>8.0f} "
              f"{row.p95_ms:>8.0f} {row.p99_ms:>8.0f} {row.max_ms:>8.0f}")  # fmt: skip
    total = rows[-1].requests
    print(f"  throughput: {total / seconds:.1f} req/s over {seconds:.0f} s")


def error_breakdown(samples: list[Sample]) -> dict[str, int]:
    """Count failed requests by kind and what went wrong (status or connection error)."""
    counts = Counter(
        f"{s.kind}: {s.status or s.error}" for s in samples if not 200 <= s.status < 400
    )
    return dict(sorted(counts.items()))


def count_reports(database_url: str, ledger: Ledger, reporters: list[str]) -> dict[str, int]:
    """Compare the acknowledged submissions with the incidents the database holds."""
    import sqlalchemy as sa

    from salve.auth.models import User
    from salve.extensions import db
    from salve.incidents.models import Incident

    with salve_app(database_url):
        keys = list(ledger.attempted)
        stored: Counter = Counter()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            stored.update(
                db.session.scalars(
                    sa.select(Incident.idempotency_key).where(Incident.idempotency_key.in_(chunk))
                )
            )
        by_bench = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Incident)
            .join(User, User.id == Incident.reporter_id)
            .where(User.username.in_(reporters))
        )
    acknowledged = set(ledger.acknowledged)
    return {
        "acknowledged": len(acknowledged),
        "stored_of_acknowledged": sum(1 for k in acknowledged if stored[k] >= 1),
        "lost": sum(1 for k in acknowledged if stored[k] == 0),
        "duplicated_keys": sum(1 for n in stored.values() if n > 1),
        "stored_unacknowledged": sum(1 for k in ledger.abandoned - acknowledged if stored[k]),
        "abandoned": len(ledger.abandoned - acknowledged),
        "incidents_by_bench_teachers": by_bench,
        "retried": len(ledger.retried),
        "retry_found_stored": len(ledger.already_stored),
    }


def save_results(name: str, data: dict) -> Path:
    """Write ``data`` as JSON under ``bench/results/`` (ignored by git); return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    return path


def machine() -> str:
    """Describe the machine: cores, and the load average now (1, 5 and 15 minutes)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} núcleos; carga media {load}"


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user + system) of ``pid``, its reaped children and live
    descendants (gunicorn's killed workers, PostgreSQL's ended sessions included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # from field 3 (state) on
    used = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return used + sum(tree_cpu_seconds(int(child)) for child in children)


class CpuMeter:
    """CPU seconds used by each part of a run (servers by pid, this process) over a window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        used = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        used["load_generator"] = time.process_time()
        return used

    def stop(self) -> dict[str, float]:
        """Return each part's CPU seconds since the start, and the seconds two cores offered."""
        after = self._now()
        used = {name: round(after[name] - self.before[name], 1) for name in after}
        used["available"] = round((time.monotonic() - self.started) * (os.cpu_count() or 1), 1)
        return used


def describe_cpu(used: dict[str, float]) -> str:
    """Say in Spanish how the CPU went (seconds per part, of those the machine offered)."""
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in used.items() if k != "available")
    return f"CPU usada: {parts}, de {used['available']:.0f} s disponibles"


def postmaster_pid(server: PostgresServer) -> int:
    """Return the PostgreSQL server's main process id."""
    return int((server.datadir / "postmaster.pid").read_text().split()[0])


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


if __name__ == "__main__":
    print("Shared helpers of bench/load.py and bench/faults.py; run those instead.")
