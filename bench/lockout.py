"""Lockout under concurrency: simultaneous wrong passwords across gunicorn workers, on PostgreSQL.

    .venv/bin/python bench/lockout.py [--runs 5] [--attempts 28] [--workers 4] [--keep-logs]

The production layout of the December 2026 audit (finding 3): a throwaway PostgreSQL server,
``salve init``, ``SALVE_ENV=production``, ``gunicorn -w 4`` on 127.0.0.1. One account
(``departamental``, no second factor). Each run clears the account's counters, then
``--attempts`` clients, each with its own session cookie and CSRF token read from the sign-in
page, post a wrong password at the same instant. Counted per run: answers "incorrectos" (the
password was checked), "Demasiados intentos" (refused while locked, never hashed), 5xx and
anything else; and, from the audit log, sign-ins recorded as failed (checked) and refused.

Target (SECURITY.md items 6 and 32): at most ``LOGIN_MAX_FAILURES`` (6) checked and no 5xx in
every run. Exits 1 when a run misses it. Results also go to ``bench/results/lockout-*.json``.
Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadlib import (
    Browser,
    Gunicorn,
    Recorder,
    flask_command,
    free_port,
    machine,
    postgres_or_none,
    salve_app,
    salve_env,
    save_results,
    work_directory,
)

USERNAME = "banco-bloqueo"
PASSWORD = "frase-de-banco-larga-2026"  # noqa: S105 - a throwaway account in a throwaway database
WRONG = "Usuario o contraseña incorrectos."
LOCKED = "Demasiados intentos fallidos"
MAX_CHECKED = 6
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _create_account(database_url: str, totp_key: str) -> None:
    from salve.auth.operations import create_user
    from salve.extensions import db

    with salve_app(database_url, TOTP_KEY=totp_key):
        create_user(USERNAME, PASSWORD, "departamental", department_code="06",
                    display_name=USERNAME, check_password=False)  # fmt: skip
        db.session.commit()


def _clear_counters(database_url: str, totp_key: str) -> None:
    """Forget the account's failures, locks and the sign-in rate limit (a fresh attack)."""
    import sqlalchemy as sa

    from salve.extensions import db

    with salve_app(database_url, TOTP_KEY=totp_key):
        db.session.execute(sa.text("DELETE FROM login_throttles"))
        db.session.execute(sa.text("DELETE FROM rate_limit_counters"))
        db.session.commit()


def _audited(database_url: str, totp_key: str, since_id: int) -> tuple[Counter, int]:
    """Return the outcomes of sign-ins audited after row ``since_id``, and the last row's id."""
    import sqlalchemy as sa

    from salve.audit.models import AuditEvent
    from salve.extensions import db

    with salve_app(database_url, TOTP_KEY=totp_key):
        rows = db.session.execute(
            sa.select(AuditEvent.id, AuditEvent.outcome).where(
                AuditEvent.action == "login", AuditEvent.id > since_id
            )
        ).all()
        last = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
    return Counter(outcome for _, outcome in rows), last


def one_run(port: int, attempts: int) -> dict:
    """Fire ``attempts`` wrong passwords at once from as many sessions; count the answers."""
    recorder = Recorder()
    browsers, tokens = [], []
    for _ in range(attempts):
        browser = Browser(port, recorder, timeout=120)
        page = browser.request("form", "GET", "/ingresar")
        match = _CSRF.search(page.body)
        if page.status != 200 or match is None:
            raise RuntimeError(f"the sign-in page answered {page.status} without a CSRF token")
        browsers.append(browser)
        tokens.append(match.group(1))
    barrier = threading.Barrier(attempts)
    answers: list = [None] * attempts

    def attack(index: int) -> None:
        form = {"csrf_token": tokens[index], "username": USERNAME,
                "password": f"equivocada-{index:04d}"}  # fmt: skip
        barrier.wait(timeout=60)
        answers[index] = browsers[index].request("sign-in", "POST", "/ingresar", form)

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(attempts)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    seconds = time.monotonic() - started
    counts = Counter()
    for reply in answers:
        if reply is None or reply.status == 0:
            counts["no answer"] += 1
        elif reply.status >= 500:
            counts["5xx"] += 1
        elif WRONG in reply.body:
            counts["incorrect"] += 1
        elif LOCKED in reply.body:
            counts["locked"] += 1
        else:
            counts[f"other {reply.status}"] += 1
    return {"answers": dict(counts), "seconds": round(seconds, 2)}


def _attack(port: int, url: str, totp_key: str, options) -> tuple[list[dict], list[str]]:
    """Run the attack ``options.runs`` times; return each run's figures and what went wrong."""
    runs, problems = [], []
    _, last = _audited(url, totp_key, 0)
    for number in range(1, options.runs + 1):
        _clear_counters(url, totp_key)
        result = one_run(port, options.attempts)
        audited, last = _audited(url, totp_key, last)
        result["audited"] = dict(audited)
        runs.append(result)
        answers = result["answers"]
        checked, errors = answers.get("incorrect", 0), answers.get("5xx", 0)
        others = sum(v for k, v in answers.items() if k not in {"incorrect", "locked", "5xx"})
        print(f"  run {number}: checked {checked} (audited as failed {audited.get('failed', 0)}),"
              f" locked {answers.get('locked', 0)} (audited as refused"
              f" {audited.get('refused', 0)}), 5xx {errors}, other {others};"
              f" {result['seconds']} s")  # fmt: skip
        if checked > MAX_CHECKED or audited.get("failed", 0) > MAX_CHECKED:
            problems.append(f"run {number}: {checked} passwords checked")
        if errors or others:
            problems.append(f"run {number}: answers {answers}")
    return runs, problems


def main() -> None:
    """Run the bench; print one line per run and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--attempts", type=int, default=28, help="simultaneous wrong passwords")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    if not 1 <= options.runs <= 50 or not 1 <= options.attempts <= 100:
        parser.error("--runs 1..50 and --attempts 1..100")

    from cryptography.fernet import Fernet

    postgres = postgres_or_none()
    if postgres is None:
        print("PostgreSQL is not installed: nothing measured")
        sys.exit(0)
    runs, problems = [], []
    try:
        with work_directory("salve-lockout-", options.keep_logs) as workdir:
            url = postgres.create_database("salve_lockout")
            totp_key = Fernet.generate_key().decode()
            env = salve_env(url, SALVE_ENV="production", SALVE_TOTP_KEY=totp_key)
            flask_command(env, workdir, "salve", "init")
            _create_account(url, totp_key)
            server = Gunicorn.serve(free_port(), options.workers, env, workdir)
            try:
                print(
                    f"{options.runs} runs of {options.attempts} simultaneous wrong passwords,"
                    f" gunicorn -w {options.workers}, PostgreSQL, production settings"
                )
                runs, problems = _attack(server.port, url, totp_key, options)
            finally:
                server.stop()
            tracebacks = server.output().count("Traceback")
            if tracebacks:
                problems.append(f"{tracebacks} tracebacks in gunicorn's log")
    finally:
        postgres.stop()
    path = save_results(
        "lockout",
        {"machine": machine(), "options": vars(options), "runs": runs, "problems": problems},
    )
    print(f"results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if problems:
        print("FAILED: " + "; ".join(problems))
        sys.exit(1)
    print(f"ok: at most {MAX_CHECKED} checked and no 5xx in every run")


if __name__ == "__main__":
    main()
