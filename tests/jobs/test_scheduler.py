"""Real ``salve scheduler`` processes on one database: one leads, the others run nothing.

SECURITY.md item 24: a scheduler in each of four workers ran every job four times. Here two
schedulers share a database and fire every job every second, with a lease of three seconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

from salve.db import utcnow
from salve.jobs.registry import JOBS
from tests.jobs.conftest import FAST_SCHEDULE, JobDatabase
from tests.support.live_server import free_port

LEASE = float(FAST_SCHEDULE["SALVE_SCHEDULER_LEASE_SECONDS"])


def ok_rounds(database: JobDatabase, holder: str | None = None) -> int:
    """How many times every job has run to the end (by ``holder``, if given)."""
    done = Counter(
        run.job
        for run in database.runs()
        if run.status == "ok" and (holder is None or run.holder == holder)
    )
    return min(done[job] for job in JOBS)


def assert_no_overlap(runs) -> None:
    """No two runs of the same job were ever under way at the same time."""
    for job in JOBS:
        mine = sorted((run for run in runs if run.job == job), key=lambda run: run.started_at)
        for earlier, later in pairwise(mine):
            assert earlier.finished_at <= later.started_at, f"{job}: {earlier} overlaps {later}"


def test_two_schedulers_started_at_once_run_each_job_once(job_database):
    first = job_database.start("scheduler-1", "salve", "scheduler", **FAST_SCHEDULE)
    second = job_database.start("scheduler-2", "salve", "scheduler", **FAST_SCHEDULE)
    schedulers = {first.holder(): first, second.holder(): second}
    job_database.wait_for(lambda: ok_rounds(job_database) >= 1, 30, "a first round of jobs")
    leader = job_database.lease().holder
    assert leader in schedulers
    [standby] = [process for name, process in schedulers.items() if name != leader]
    job_database.wait_for(
        lambda: "stands by: another scheduler leads" in standby.output(), 30, "the standby"
    )
    rounds = ok_rounds(job_database)
    job_database.wait_for(lambda: ok_rounds(job_database) >= rounds + 2, 30, "two more rounds")
    # Stop the standby first: stopped together, it could take over in the gap, which is right
    # but would muddle the count.
    assert standby.stop() == 0, standby.output()
    assert schedulers[leader].stop() == 0, schedulers[leader].output()

    runs = job_database.runs()
    per_holder = Counter((run.holder, run.job) for run in runs)
    print("runs per job per holder:", dict(sorted(per_holder.items())))
    assert {run.holder for run in runs} == {leader}
    assert {run.status for run in runs} == {"ok"}
    assert all(per_holder[leader, job] >= 3 for job in JOBS)
    assert_no_overlap(runs)
    assert "Programador detenido; arriendo liberado." in schedulers[leader].output()
    assert job_database.lease().expires_at <= utcnow()  # released: a successor need not wait


def test_a_standby_takes_over_when_the_leader_is_killed_and_its_lease_expires(
    sqlite_job_database,
):
    # One of the two is the development server of `make run`, running the jobs in-process.
    database = sqlite_job_database
    server = database.start(
        "server", "run", "--no-reload", "--port", str(free_port()),
        SALVE_SCHEDULER_IN_PROCESS="1", **FAST_SCHEDULE,
    )  # fmt: skip
    scheduler = database.start("scheduler", "salve", "scheduler", **FAST_SCHEDULE)
    scheduler_name = scheduler.holder()
    database.wait_for(lambda: ok_rounds(database) >= 1, 30, "a first round of jobs")
    leader_name = database.lease().holder
    server_leads = f":{server.pid}:" in leader_name
    leader, standby = (server, scheduler) if server_leads else (scheduler, server)
    database.wait_for(lambda: "stands by" in standby.output(), 30, "the standby to wait")

    leader.process.kill()  # kill -9: no chance to release the lease
    leader.process.wait(timeout=10)
    killed_at = utcnow()
    lease = database.lease()
    assert lease.holder == leader_name

    def successor_ran_every_job() -> bool:
        holder = database.lease().holder
        return holder != leader_name and ok_rounds(database, holder) >= 1

    database.wait_for(successor_ran_every_job, 30, "the standby to take over and run every job")
    standby_name = database.lease().holder
    if standby is server:
        server.stop()  # the development server simply dies on SIGTERM
    else:
        assert standby.stop() == 0, standby.output()

    runs = database.runs()
    taken_over = min(run.started_at for run in runs if run.holder == standby_name)
    print(f"standby's first run {(taken_over - killed_at).total_seconds():.2f} s after the kill")
    assert {run.holder for run in runs} == {leader_name, standby_name}
    assert scheduler_name in (leader_name, standby_name)
    assert any(f":{server.pid}:" in name for name in (leader_name, standby_name))
    assert all(run.started_at < killed_at for run in runs if run.holder == leader_name)
    assert taken_over >= lease.expires_at  # it waited for the dead leader's lease to run out
    assert taken_over - killed_at < timedelta(seconds=LEASE + 5)  # about one lease
    # A run the kill cut short was marked abandoned by the standby's next run of that job. (The
    # standby's own last run may still say running when it was the development server, which
    # dies on SIGTERM mid-run: the next start marks it, as any dead run.)
    assert "running" not in {run.status for run in runs if run.holder == leader_name}
    assert_no_overlap([run for run in runs if run.status == "ok"])


def test_every_job_folds_a_backlog_never_overlaps_and_tolerates_late_runs(app):
    """SECURITY.md item 24: coalesce, max_instances=1 and an explicit misfire grace (not 1 s)."""
    from salve.alerts.policy import policy_in_force
    from salve.jobs.scheduler import JobScheduler

    scheduler = JobScheduler(app, background=True).scheduler
    scheduler.start(paused=True)  # jobs get the defaults when the scheduler starts; none runs
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(JOBS) <= jobs.keys()
    grace = policy_in_force().misfire_grace_seconds
    assert grace >= 60
    for name in JOBS:
        job = jobs[name]
        assert job.coalesce is True, name
        assert job.max_instances == 1, name
        assert job.misfire_grace_time == grace, name
