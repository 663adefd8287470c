"""A pytest plugin: over the whole suite, logs carry no names, narratives, passwords or tokens.

SECURITY.md item 20. Loaded from tests/conftest.py (``pytest_plugins``), or with
``-p tests.support.log_guard``. During the session it

- keeps every log record any logger emits, as its handlers would get it (after the loggers'
  filters), with the test that was running; the loggers of the app, the development server,
  Alembic, Flask-Migrate, APScheduler and gunicorn are opened down to INFO, so that what
  production writes at INFO is checked too;
- keeps what the tests wrote to stderr (the app's stream handlers among it) and the log of each
  live server the browser tests started;
- collects the "secrets" the suite handles: every student's name, incident narrative (drafts
  included), person's name, e-mail address and TOTP secret that goes through the ORM (mapper
  events on insert and update), every password hashed or checked (argon2), the tests' shared
  password and the demo one, every session cookie and session token the app sets or receives,
  every API token issued or presented, and the apps' secret keys.

At the end (``pytest_sessionfinish``) it searches everything kept for every secret
(case-insensitive; ignoring secrets shorter than six characters or without a letter, which
would match innocent numbers) and fails the session when one appears, saying which kind of
secret leaked, where and during which test, never the secret itself.

Records are kept by patching ``logging.Logger.callHandlers``, not by a handler on the root
logger: Alembic's ``fileConfig`` (migrations/env.py, run by every ``upgrade()``) removes the root
logger's handlers and would silence such a handler for the rest of the session.

Under pytest-xdist each worker checks its own records against its own secrets and hands its
findings to the controller, which fails the session (a worker's exit status is not enough:
xdist ignores it).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

#: Shorter secrets would match innocent text.
MIN_LENGTH = 6
#: Loggers opened down to INFO when nothing set their level.
APP_LOGGERS = ("salve", "werkzeug", "alembic", "flask_migrate", "apscheduler", "gunicorn")
PLUGIN_NAME = "salve_log_guard"
WORKER_OUTPUT_KEY = "salve_log_guard"
#: How many tests a finding names at most.
NAMED_TESTS = 3

STUDENT_NAME = "student name"
NARRATIVE = "incident narrative"
PERSON_NAME = "person's name"
EMAIL = "e-mail address"
TOTP_SECRET = "TOTP secret"
PASSWORD = "password"
SESSION = "session cookie or token"
API_TOKEN = "API token"
SECRET_KEY = "secret key"


@dataclass
class Finding:
    """A kind of secret seen in one source (a logger, stderr, a live server's log)."""

    kind: str
    source: str
    tests: list[str] = field(default_factory=list)

    def describe(self) -> str:
        article = "an" if self.kind[0].lower() in "aeiou" else "a"
        during = f" (during {', '.join(self.tests)})" if self.tests else ""
        return f"{article} {self.kind} appeared in {self.source}{during}"


def _worth_guarding(value: str) -> bool:
    return len(value) >= MIN_LENGTH and any(c.isalpha() for c in value)


class LogGuard:
    """What the session logged and which secrets it handled."""

    def __init__(self):
        self.secrets: dict[str, str] = {}
        #: (source, test, text) for every log record and every non-empty stderr capture.
        self.entries: list[tuple[str, str, str]] = []
        self.current_test = ""
        self.findings: list[Finding] = []
        self.records = 0
        self._undo: list = []
        self._apps_seen: set[int] = set()

    # --- secrets ------------------------------------------------------------------------------

    def register(self, kind: str, value) -> None:
        """Remember ``value`` as a secret of ``kind`` (names, narratives, passwords, tokens)."""
        if not isinstance(value, str):
            return
        value = value.strip()
        if _worth_guarding(value):
            self.secrets.setdefault(value.lower(), kind)

    def kind_of(self, value: str) -> str | None:
        """Return the kind ``value`` was registered as, or None."""
        return self.secrets.get(value.strip().lower())

    # --- what is written ---------------------------------------------------------------------

    def observe(self, record: logging.LogRecord) -> None:
        """Keep a log record's text as its handlers would write it (message and traceback)."""
        self.records += 1
        try:
            text = record.getMessage()
        except Exception:  # a malformed call: keep what it carried
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        self.entries.append((f"logger {record.name!r}", self.current_test, text))

    def keep(self, source: str, text: str, test: str | None = None) -> None:
        """Keep other output to search, seen during ``test`` (default: the running one)."""
        if text:
            self.entries.append((source, self.current_test if test is None else test, text))

    def scan(self) -> list[Finding]:
        """Search everything kept for every secret; return what leaked, by kind and source."""
        by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for source, test, text in self.entries:
            by_source[source].append((test, text.lower()))
        findings: dict[tuple[str, str], Finding] = {}
        for source, entries in by_source.items():
            blob = "\n".join(text for _test, text in entries)
            # Every piece of a secret that occurs occurs too: a set lookup of three of them
            # spares a search of the whole text for nearly every secret.
            pieces = {blob[i : i + MIN_LENGTH] for i in range(len(blob) - MIN_LENGTH + 1)}
            for secret, kind in self.secrets.items():
                middle = (len(secret) - MIN_LENGTH) // 2
                if not (
                    secret[:MIN_LENGTH] in pieces
                    and secret[-MIN_LENGTH:] in pieces
                    and secret[middle : middle + MIN_LENGTH] in pieces
                    and secret in blob
                ):
                    continue
                finding = findings.setdefault((kind, source), Finding(kind, source))
                for test, text in entries:
                    if len(finding.tests) >= NAMED_TESTS:
                        break
                    if secret in text and test and test not in finding.tests:
                        finding.tests.append(test)
        self.findings = list(findings.values())
        return self.findings

    # --- installing the observers ------------------------------------------------------------

    def install(self) -> None:
        """Start observing logs and collecting secrets."""
        self._patch_logging()
        self._open_app_loggers()
        self._listen_to_models()
        self._wrap_password_hashing()
        self._listen_to_requests()
        self._wrap_token_issuing()
        self._register_known_passwords()

    def uninstall(self) -> None:
        """Undo everything ``install`` changed."""
        while self._undo:
            self._undo.pop()()

    def _patch_logging(self) -> None:
        original = logging.Logger.callHandlers
        guard = self

        def call_handlers(logger, record):
            guard.observe(record)
            original(logger, record)

        logging.Logger.callHandlers = call_handlers
        self._undo.append(lambda: setattr(logging.Logger, "callHandlers", original))

    def _open_app_loggers(self) -> None:
        for name in APP_LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
                self._undo.append(lambda logger=logger: logger.setLevel(logging.NOTSET))

    def _listen_to_models(self) -> None:
        from sqlalchemy import event

        from salve.auth.models import User
        from salve.incidents.models import Incident, IncidentDraft
        from salve.schools.models import Student

        def student(_mapper, _connection, target):
            given, family = target.given_names or "", target.family_names or ""
            for value in (given, family, f"{given} {family}", f"{family}, {given}"):
                self.register(STUDENT_NAME, value)

        def incident(_mapper, _connection, target):
            self.register(NARRATIVE, target.narrative)
            self.register(NARRATIVE, target.measures_note)

        def draft(_mapper, _connection, target):
            if isinstance(target.data, dict):
                self.register(NARRATIVE, target.data.get("narrative"))

        def user(_mapper, _connection, target):
            # A person's name has words for given and family names; a one-word display name
            # ("nacional", an account's label) would match innocent paths like /reportes/nacional.
            name = (target.display_name or "").strip()
            if name != target.username and len(name.split()) >= 2:
                self.register(PERSON_NAME, name)
            self.register(EMAIL, target.email)
            secret = getattr(target, "totp_secret", None)
            self.register(TOTP_SECRET, secret)
            if secret:  # stored encrypted: the secret a log must never hold is the plain one
                from salve.auth import totp_keys

                self.register(TOTP_SECRET, totp_keys.unseal(secret))

        for model, listener in ((Student, student), (Incident, incident),
                                (IncidentDraft, draft), (User, user)):  # fmt: skip
            for name in ("before_insert", "before_update"):
                event.listen(model, name, listener)
                self._undo.append(lambda m=model, n=name, f=listener: event.remove(m, n, f))

    def _wrap_password_hashing(self) -> None:
        from argon2 import PasswordHasher

        original_hash, original_verify = PasswordHasher.hash, PasswordHasher.verify
        guard = self

        def hash_(hasher, password, *args, **kwargs):
            guard.register(PASSWORD, password)
            return original_hash(hasher, password, *args, **kwargs)

        def verify(hasher, password_hash, password):
            guard.register(PASSWORD, password)
            return original_verify(hasher, password_hash, password)

        PasswordHasher.hash, PasswordHasher.verify = hash_, verify

        def undo():
            PasswordHasher.hash, PasswordHasher.verify = original_hash, original_verify

        self._undo.append(undo)

    def _listen_to_requests(self) -> None:
        import flask

        def started(app, **_extra):
            if id(app) not in self._apps_seen:
                self._apps_seen.add(id(app))
                self.register(SECRET_KEY, app.config.get("SECRET_KEY"))
                self.register(PASSWORD, app.config.get("MAIL_PASSWORD"))
            request = flask.request
            for value in request.cookies.values():
                self.register(SESSION, value)
            scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                self.register(API_TOKEN, token)

        def finished(_app, response, **_extra):
            for header in response.headers.getlist("Set-Cookie"):
                value = header.split(";", 1)[0].partition("=")[2].strip('"')
                self.register(SESSION, value)
            if flask.has_request_context():
                self.register(SESSION, flask.session.get("sid"))

        flask.request_started.connect(started, weak=False)
        flask.request_finished.connect(finished, weak=False)
        self._undo.append(lambda: flask.request_started.disconnect(started))
        self._undo.append(lambda: flask.request_finished.disconnect(finished))

    def _wrap_token_issuing(self) -> None:
        import salve.api.auth

        original = salve.api.auth.create_token
        guard = self

        def create_token(*args, **kwargs):
            row, token = original(*args, **kwargs)
            guard.register(API_TOKEN, token)
            return row, token

        # Also where it was imported by name (salve.api.cli, tests.api.conftest…).
        holders = [salve.api.auth] + [
            module
            for name, module in list(sys.modules.items())
            if name.startswith(("salve", "tests"))
            and getattr(module, "create_token", None) is original
        ]
        for module in holders:
            module.create_token = create_token
            self._undo.append(lambda m=module: setattr(m, "create_token", original))

    def _register_known_passwords(self) -> None:
        from salve.demo import DEMO_PASSWORD
        from tests.factories import PASSWORD as TEST_PASSWORD

        self.register(PASSWORD, DEMO_PASSWORD)
        self.register(PASSWORD, TEST_PASSWORD)


def server_output(log: str) -> str:
    """Return what the server process wrote, not the preparation commands before it.

    The live server's log also holds the output of ``salve demo`` and the seed scripts, which
    print the demo password on purpose (``make run`` shows it). Each command's output follows a
    ``$ command`` line; the server's is the one that starts ``flask … run`` or gunicorn.
    """
    kept, is_server = [], False
    for line in log.splitlines():
        if line.startswith("$ "):
            is_server = " run " in line or "gunicorn" in line
        elif is_server:
            kept.append(line)
    return "\n".join(kept)


# --- pytest hooks -----------------------------------------------------------------------------


class GuardPlugin:
    """The guard's hooks, registered for the session by ``pytest_configure``."""

    def __init__(self, config):
        self.config = config
        self.guard = LogGuard()
        #: (worker id, finding) handed over by xdist workers (controller side).
        self.worker_findings: list[tuple[str, str]] = []
        #: Log records, other outputs and secrets the workers checked.
        self.worker_records = self.worker_outputs = self.worker_secrets = 0
        self.scan_seconds = 0.0

    def pytest_runtest_logstart(self, nodeid):
        self.guard.current_test = nodeid

    def pytest_runtest_logfinish(self, nodeid):
        self.guard.current_test = ""

    def pytest_runtest_logreport(self, report):
        if getattr(report, "node", None) is not None:  # from an xdist worker, which checks it
            return
        for title, content in report.sections:
            # Each phase's report repeats the earlier phases' sections: take its own only.
            if title == f"Captured stderr {report.when}":
                self.guard.keep("stderr", content, report.nodeid)

    def pytest_fixture_post_finalizer(self, fixturedef, request):
        """Keep the log of a live server (tests/browser) once it stopped."""
        if fixturedef.argname != "live_server" or not fixturedef.cached_result:
            return
        server = fixturedef.cached_result[0]
        try:
            text = server_output(server.log())
        except Exception:  # it never started: its setup error says why
            return
        backend = "postgresql" if "postgresql" in server.database_url else "sqlite"
        self.guard.keep(f"the live server's log ({server.server}, {backend})", text, test="")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        """Collect a finished xdist worker's findings (controller side)."""
        output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if output:
            worker = node.gateway.id
            self.worker_findings.extend((worker, text) for text in output["findings"])
            self.worker_records += output["records"]
            self.worker_outputs += output["outputs"]
            self.worker_secrets += output["secrets"]
            self.scan_seconds = max(self.scan_seconds, output["seconds"])

    def findings(self) -> list[tuple[str, str]]:
        """Return (worker, description) of every leak found here and by the workers."""
        return [("", finding.describe()) for finding in self.guard.findings] + (
            self.worker_findings
        )

    def pytest_sessionfinish(self, session):
        guard = self.guard
        started = time.perf_counter()
        guard.scan()
        self.scan_seconds = max(self.scan_seconds, time.perf_counter() - started)
        if hasattr(self.config, "workeroutput"):  # an xdist worker: the controller fails it
            self.config.workeroutput[WORKER_OUTPUT_KEY] = {
                "findings": [finding.describe() for finding in guard.findings],
                "records": guard.records,
                "outputs": len(guard.entries) - guard.records,
                "secrets": len(guard.secrets),
                "seconds": self.scan_seconds,
            }
        if self.findings():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        findings = self.findings()
        if findings:
            terminalreporter.section("log guard: secrets in the logs", sep="=", red=True)
            for worker, description in findings:
                terminalreporter.write_line(f"[{worker}] {description}" if worker else description)
            terminalreporter.write_line(
                "SECURITY.md item 20: logs must not carry personal data, passwords or tokens; "
                "the secrets themselves are not shown here."
            )
            return
        outputs = len(self.guard.entries) - self.guard.records + self.worker_outputs
        records = self.guard.records + self.worker_records
        secrets = len(self.guard.secrets) + self.worker_secrets
        terminalreporter.write_line(
            f"log guard: {records} log records and {outputs} captured outputs (stderr, live "
            f"servers) checked against {secrets} secrets in {self.scan_seconds:.1f} s; nothing "
            "leaked."
        )


def pytest_configure(config):
    plugin = GuardPlugin(config)
    plugin.guard.install()
    config.pluginmanager.register(plugin, PLUGIN_NAME)


def pytest_unconfigure(config):
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is not None:
        plugin.guard.uninstall()
        config.pluginmanager.unregister(plugin, PLUGIN_NAME)
