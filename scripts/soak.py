#!/usr/bin/env python
"""The fault soak: a large sync under injected faults, its worker killed and restarted, then drift.

    .venv/bin/python scripts/soak.py [--members 200000] [--kills 3] [--drift-runs 2] [--time-limit 300]

Three processes share one database (a temporary SQLite file, or PostgreSQL when
DATABASE_URL / --database-url names a database whose name ends in "soak": it is
dropped and created afresh):

1. the Facebook and Amplitude sandboxes, served by `run_sandbox` on a free port, the
   Facebook one injecting 10% server errors, 5% throttling (code 80003, no announced
   wait: the engine waits GRAPH_UNKNOWN_THROTTLE_WAIT) and 2% timeouts (the answer held
   back longer than the worker's GRAPH_TIMEOUT_SECONDS, after the work was done);
2. a worker, `manage.py run_sync JOB --json`, SIGKILLed at random moments of the first
   sync (before its upload, or after a random number of confirmed batches plus a random
   delay) and started again each time, until the sync completes; then runs after the
   cohort drifted (`sandbox_cohort_change`);
3. this script, which builds the world, decides the kills and checks the outcome
   independently of the engine: the audience held by the sandbox equals the cohort
   computed from the Amplitude sandbox and the shared population; the job's ledger
   equals the cohort; every batch is recorded once with a final outcome (killed runs'
   in-flight batches "interrupted", none left "sending"), every session the sandbox saw
   belongs to a recorded batch; killed runs are marked interrupted, no run is left
   running, and each run's totals equal its confirmed batches.

Prints the figures; exits 0 when nothing was lost and every check held, 1 when a check
failed (rows lost or extra, a record untrue), 2 when the time limit or the set-up failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ["EMAIL", "PHONE"]
SANDBOX_BANNER = "Facebook and Amplitude sandbox on http://"


class SoakAborted(Exception):
    """The soak could not finish: time limit, set-up (exit 2)."""


# --- configuration -------------------------------------------------------------------------


@dataclass
class Options:
    members: int
    kills: int
    drift_kills: int
    batch_rows: int
    drift_runs: int
    drift_percent: float
    time_limit: float
    seed: int
    database_url: str
    workdir: Path
    keep: bool
    server_error_share: float = 0.10
    throttle_share: float = 0.05
    timeout_share: float = 0.02
    client_timeout: float = 1.5
    held_answer_seconds: float = 3.0

    @property
    def process_env(self) -> dict[str, str]:
        """Settings of every process of the soak (read from the environment at start-up)."""
        return {
            "ENV_FILE": "",
            "DEBUG": "1",
            "SANDBOX": "1",
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "GRAPH_TIMEOUT_SECONDS": str(self.client_timeout),
            "GRAPH_RETRY_BASE_DELAY": "0.1",
            "GRAPH_UNKNOWN_THROTTLE_WAIT": "0.2",
            "AMPLITUDE_POLL_INTERVAL_SECONDS": "0.2",
            "AMPLITUDE_POLL_MAX_INTERVAL_SECONDS": "0.5",
            # A cohort refresh killed halfway holds its cohort until this lease ends (see
            # docs/reliability.md, "found"): short, so the soak's next runs get through.
            "Q_TIMEOUT_SECONDS": "10",
            "SYNC_BATCH_MAX_ROWS": str(self.batch_rows),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the worker during the first sync")
    parser.add_argument("--drift-runs", type=int, default=3)
    parser.add_argument("--drift-kills", type=int, default=1, help="SIGKILLs during the drift runs (their upload)")
    parser.add_argument("--batch-rows", type=int, default=1_000,
                        help="rows per upload call (Meta allows 10,000; fewer make more calls to fail and kill in)")
    parser.add_argument("--drift-percent", type=float, default=2.0)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for the whole soak")
    parser.add_argument("--seed", type=int, default=None, help="kills and fault dice (default: random, printed)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, logs)")
    parser.add_argument("--serve-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sandbox:
        serve_counting_sandbox()  # never returns
    workdir = Path(tempfile.mkdtemp(prefix="cohortsync-soak-"))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    url = args.database_url or f"sqlite:///{workdir / 'soak.sqlite3'}"
    return Options(
        members=args.members, kills=args.kills, drift_kills=args.drift_kills, batch_rows=args.batch_rows,
        drift_runs=args.drift_runs, drift_percent=args.drift_percent,
        time_limit=args.time_limit, seed=seed, database_url=url, workdir=workdir, keep=args.keep,
    )


# --- the sandbox process: run_sandbox, counting the faults it injects ----------------------


def serve_counting_sandbox() -> None:
    """`run_sandbox` with the fault dice counted (written to SOAK_FAULT_COUNTS as JSON)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from integrations.sandbox import faults
    from integrations.sandbox.graph_errors import GraphRefusal

    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    original = faults.roll
    path = Path(os.environ["SOAK_FAULT_COUNTS"])

    def counting_roll(switch, *, scope_id, usage_type=None):
        try:
            verdict = original(switch, scope_id=scope_id, usage_type=usage_type)
        except GraphRefusal as refusal:
            with lock:
                counts["graph_calls"] += 1
                counts["server_errors" if refusal.http_status >= 500 else "throttled"] += 1
            raise
        with lock:
            counts["graph_calls"] += 1
            counts["answers_held_back"] += bool(verdict.hold_answer_seconds)
        return verdict

    def write() -> None:
        with lock:
            text = json.dumps(dict(counts))
        partial = path.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(path)

    def keep_writing() -> None:
        while True:
            time.sleep(0.5)
            write()

    def stop(signum, frame) -> None:
        write()
        os._exit(0)

    faults.roll = counting_roll
    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=keep_writing, daemon=True).start()
    call_command("run_sandbox", "--port", "0", "--no-migrate")
    sys.exit(0)


# --- processes ------------------------------------------------------------------------------


@dataclass
class Soak:
    options: Options
    started: float = field(default_factory=time.monotonic)
    sandbox: subprocess.Popen | None = None
    graph_url: str = ""
    rng: random.Random = field(init=False)
    kills: list[dict] = field(default_factory=list)
    killed_run_ids: set[int] = field(default_factory=set)
    worker_runs: list[dict] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    worker_logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.options.seed)

    # environment and deadline
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET"}}
        env.update(self.options.process_env)
        if self.graph_url:
            env["FACEBOOK_GRAPH_URL"] = env["FACEBOOK_WWW_URL"] = env["AMPLITUDE_API_URL"] = self.graph_url
        return env

    def remaining(self) -> float:
        left = self.options.time_limit - (time.monotonic() - self.started)
        if left <= 0:
            raise SoakAborted(f"time limit of {self.options.time_limit:.0f} s reached")
        return left

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=self.env(), capture_output=True,
            text=True, timeout=self.remaining(), check=False,
        )

    # the sandbox
    def sandbox_start(self) -> None:
        counts = self.options.workdir / "faults.json"
        env = {**self.env(), "SOAK_FAULT_COUNTS": str(counts)}
        log = open(self.options.workdir / "sandbox.log", "w")  # noqa: SIM115 - lives as long as the process
        self.sandbox = subprocess.Popen(  # noqa: S603 - this script, in its sandbox mode
            [sys.executable, str(Path(__file__).resolve()), "--serve-sandbox"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
        banner = self._read_banner(self.sandbox, timeout=min(60.0, self.remaining()))
        host_port = banner.split(SANDBOX_BANNER, 1)[1].split()[0]
        self.graph_url = f"http://{host_port}"

    @staticmethod
    def _read_banner(process: subprocess.Popen, *, timeout: float) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not found or SANDBOX_BANNER not in found[0]:
            raise SoakAborted(f"the sandbox did not start (see {process.args}): {found[:1]}")
        return found[0]

    def fault_counts(self) -> dict[str, int]:
        path = self.options.workdir / "faults.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def stop(self) -> None:
        if self.sandbox is not None and self.sandbox.poll() is None:
            self.sandbox.send_signal(signal.SIGTERM)
            try:
                self.sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sandbox.kill()

    # the worker
    def worker_start(self, job_id: int) -> tuple[subprocess.Popen, Path]:
        log = self.options.workdir / f"worker-{len(self.worker_logs) + 1}.log"
        self.worker_logs.append(log)
        with open(log, "w") as stderr:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
                [sys.executable, str(ROOT / "manage.py"), "run_sync", str(job_id), "--json"], cwd=ROOT,
                env=self.env(), stdout=subprocess.PIPE, stderr=stderr, text=True,
            )
        return process, log

    def worker_finish(self, process: subprocess.Popen, log: Path, purpose: str) -> dict:
        try:
            out, _ = process.communicate(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            process.kill()
            raise SoakAborted(f"time limit reached during {purpose}") from None
        lines = [line for line in out.splitlines() if line.startswith("{")]
        report = json.loads(lines[-1]) if lines else {"status": f"no report (exit {process.returncode})"}
        report["purpose"] = purpose
        self.worker_runs.append(report)
        if not lines:
            tail = log.read_text()[-1500:]
            print(f"  worker gave no report (exit {process.returncode}); its log ends:\n{tail}", flush=True)
        return report


# --- the world (in this process, on the shared database) --------------------------------------


def database_prepare(options: Options) -> None:
    """A fresh database: a new PostgreSQL database named *soak, or the new SQLite file."""
    parsed = urlparse(options.database_url)
    if parsed.scheme.startswith("postgres"):
        name = parsed.path.lstrip("/")
        if not name.endswith("soak"):
            raise SoakAborted(f"refusing to drop database {name!r}: give a database whose name ends in 'soak'")
        import psycopg

        admin_url = options.database_url.replace(parsed.path, "/postgres", 1)
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')


def django_setup(soak: Soak) -> None:
    os.environ.update(soak.env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import syncs.services

    syncs.services.async_task = lambda *args, **kwargs: None  # runs are started by this script


@dataclass
class World:
    job_id: int
    amp_cohort_pk: int
    act_id: str
    audience_id: str


def world_build(soak: Soak) -> World:
    from cohorts.models import Cohort
    from cohorts.services import cohorts_sync_from_amplitude
    from integrations.models import FacebookConnection, KeyMapping, Project
    from integrations.sandbox import services as fb_sandbox
    from integrations.sandbox.amplitude import services as amp_sandbox
    from syncs.services import SyncJobSpec, sync_job_create

    people = fb_sandbox.sandbox_seed(reset=True)
    amp_project = amp_sandbox.sandbox_amplitude_seed()
    project = Project.objects.create(
        name="Soak", slug=f"soak-{soak.options.seed}", default_country="US",
        amplitude_api_key=amp_project.api_key, amplitude_secret_key=amp_project.secret_key,
    )
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property", property_name="phone")
    amp_cohort = amp_sandbox.sandbox_cohort_create(
        size=soak.options.members, name="Soak cohort", seed=soak.options.seed, project=amp_project
    )
    cohorts_sync_from_amplitude(project=project)
    cohort = Cohort.objects.get(project=project, amplitude_cohort_id=amp_cohort.cohort_id)
    ready = people["ready"]
    connection = FacebookConnection.objects.create(
        project=project, access_token=fb_sandbox.sandbox_token_issue(person=ready.person),
        ad_account_id=ready.act_id, status="active", facebook_user_name=ready.person.name,
    )
    job = sync_job_create(spec=SyncJobSpec(cohort=cohort, connection=connection, cadence="daily"))
    return World(job_id=job.pk, amp_cohort_pk=amp_cohort.pk, act_id=ready.act_id, audience_id=job.audience_id)


def faults_on(soak: Soak, world: World) -> None:
    from integrations.sandbox import services as fb_sandbox

    options = soak.options
    fb_sandbox.sandbox_fault_switch_set(
        ad_account_id=world.act_id, server_error_share=options.server_error_share,
        throttle_share=options.throttle_share, throttle_code=80003, throttle_regain_minutes=0,
        timeout_share=options.timeout_share, timeout_seconds=options.held_answer_seconds, seed=options.seed,
    )


# --- the first sync, killed and restarted ------------------------------------------------------


def run_of(job_id: int, pid: int):
    from syncs.models import SyncRun

    return SyncRun.objects.filter(job_id=job_id, worker__endswith=f":{pid}").order_by("-id").first()


def confirmed_batches(run_id: int) -> int:
    from syncs.models import SyncBatch

    return SyncBatch.objects.filter(run_id=run_id, status="confirmed").count()


def planned_remaining(soak: Soak, world: World) -> int:
    """Batches the first sync still has to confirm (an estimate from the ledger)."""
    from syncs.models import AudienceMember

    present = AudienceMember.objects.filter(job_id=world.job_id, present=True).count()
    return max(1, -(-(soak.options.members - present) // soak.options.batch_rows))


def kill_moment(soak: Soak, world: World, kills_left: int) -> tuple[str, int, float]:
    """("before upload", 0, delay after the run starts) or ("upload", batches to wait for, extra delay)."""
    if soak.rng.random() < 0.25:
        return "before upload", 0, soak.rng.uniform(0.2, 4.0)
    remaining = planned_remaining(soak, world)
    return "upload", soak.rng.randint(1, max(1, remaining // (kills_left + 1))), soak.rng.uniform(0.0, 0.6)


def first_sync(soak: Soak, world: World) -> None:
    attempts = 0
    while True:
        attempts += 1
        if attempts > soak.options.kills + 12:
            raise SoakAborted("the first sync did not complete after many attempts")
        kills_left = soak.options.kills - len(soak.kills)
        process, log = soak.worker_start(world.job_id)
        if kills_left > 0 and kill_during(soak, world, process, kills_left):
            continue
        report = soak.worker_finish(process, log, "first sync")
        print(f"  run {report.get('run_id')}: {report['status']} "
              f"(+{report.get('rows_added', 0):,} rows, {report.get('batches', 0)} batches) "
              f"{report.get('message', '')[:120]}", flush=True)
        if report["status"] == "succeeded" and not kills_left:
            return
        if report["status"] == "succeeded":
            print(f"  NOTE: the sync completed before kill {len(soak.kills) + 1} (too few batches left)", flush=True)
            return
        time.sleep(1.0)  # a failed run (e.g. a refresh lease): the next attempt


def kill_during(
    soak: Soak, world: World, process: subprocess.Popen, kills_left: int, stage: tuple[str, int, float] | None = None
) -> bool:
    """Kill the worker at a random moment of its run; False when it finished first."""
    stage, batches, delay = stage or kill_moment(soak, world, kills_left)
    run = None
    while run is None:
        soak.remaining()
        if process.poll() is not None:
            return False
        run = run_of(world.job_id, process.pid)
        time.sleep(0.05)
    started = time.monotonic()
    while True:
        soak.remaining()
        if process.poll() is not None:
            return False
        if stage == "before upload":
            if time.monotonic() - started >= delay:
                break
        elif confirmed_batches(run.pk) >= batches:
            time.sleep(delay)
            break
        time.sleep(0.05)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftover = process.stdout.read()
    process.stdout.close()
    run.refresh_from_db()
    if run.status != "running":
        # The run had ended (its outcome recorded) before the signal landed: not a kill during a sync.
        print(f"  (run {run.pk} had already ended {run.status} when the SIGKILL landed; not counted)", flush=True)
        lines = [line for line in leftover.splitlines() if line.startswith("{")]
        if lines:
            soak.worker_runs.append({**json.loads(lines[-1]), "purpose": "ended before its kill"})
        return True
    done = confirmed_batches(run.pk)
    moment = "during the upload" if done or run.batches.exists() else f"before the upload ({stage_of(run)})"
    phase = "first sync" if len(soak.kills) < soak.options.kills else "drift"
    soak.kills.append({"run_id": run.pk, "moment": f"{phase}, {moment}", "confirmed_batches": done,
                       "seconds_into_run": round(time.monotonic() - started, 2)})
    soak.killed_run_ids.add(run.pk)
    print(f"  SIGKILL {len(soak.kills)}: run {run.pk}, {moment}, after {done} confirmed batch(es) of this run",
          flush=True)
    return True


def stage_of(run) -> str:
    """Where a run that sent nothing yet was: checking, refreshing the cohort, or past the refresh."""
    from cohorts.models import CohortImport

    imports = CohortImport.objects.filter(cohort_id=run.job.cohort_id, started_at__gte=run.started_at)
    if imports.filter(status=CohortImport.Status.RUNNING).exists():
        return "refreshing the cohort"
    if imports.exists():
        return "cohort refreshed, comparing"
    return "checking the connection"


def drift_runs(soak: Soak, world: World) -> list[dict]:
    from integrations.sandbox.amplitude import services as amp_sandbox
    from integrations.sandbox.amplitude.models import SandboxCohort

    changes = []
    for number in range(soak.options.drift_runs):
        change = amp_sandbox.sandbox_cohort_change(
            cohort=SandboxCohort.objects.get(pk=world.amp_cohort_pk), percent=soak.options.drift_percent
        )
        changes.append({"left": change.left, "joined": change.joined, "email_changed": change.email_changed})
        for _attempt in range(4):
            process, log = soak.worker_start(world.job_id)
            if len(soak.kills) < soak.options.kills + soak.options.drift_kills and kill_during(
                soak, world, process, 1, stage=("upload", 1, soak.rng.uniform(0.0, 0.3))
            ):
                continue
            report = soak.worker_finish(process, log, f"drift {number + 1}")
            print(f"  drift {number + 1}: run {report.get('run_id')} {report['status']}: "
                  f"+{report.get('rows_added', 0):,} -{report.get('rows_removed', 0):,} rows "
                  f"{report.get('message', '')[:120]}", flush=True)
            if report["status"] == "succeeded":
                break
        else:
            raise SoakAborted(f"drift run {number + 1} did not succeed in 4 attempts")
    return changes


# --- checks, independent of the engine ----------------------------------------------------------


def expected_rows(world: World) -> list[list[str]]:
    """The cohort's members as they must be uploaded: Amplitude sandbox membership -> population."""
    from integrations.facebook.match_keys import encode_rows
    from integrations.sandbox.amplitude import services as amp_sandbox
    from integrations.sandbox.amplitude.exports import member_properties
    from integrations.sandbox.amplitude.models import SandboxCohort

    shape = amp_sandbox.cohort_shape(SandboxCohort.objects.get(pk=world.amp_cohort_pk))
    raw = [[props["email"], props["phone"]] for _, props in member_properties(shape)]
    return encode_rows(SCHEMA, raw, default_country="US").rows


def check_everything(soak: Soak, world: World) -> dict:
    from cohorts.encoding import row_serialize
    from cohorts.models import CohortMember
    from integrations.sandbox.models import SandboxAudience, SandboxAudienceMember, SandboxUploadSession
    from integrations.sandbox.rows import row_key
    from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun

    problems: list[str] = []
    job = SyncJob.objects.select_related("cohort").get(pk=world.job_id)
    audience = SandboxAudience.objects.get(fb_id=job.audience_id)

    # 1. The audience at Facebook equals the cohort, row for row.
    expected = expected_rows(world)
    expected_keys = {row_key(SCHEMA, row) for row in expected if any(row)}
    held_keys = set(SandboxAudienceMember.objects.filter(audience=audience).values_list("row_key", flat=True))
    lost, extra = expected_keys - held_keys, held_keys - expected_keys
    if lost or extra:
        problems.append(f"the audience differs from the cohort: {len(lost):,} rows lost, {len(extra):,} extra")

    # 2. The job's ledger equals the cohort's members, which equal the expected rows.
    expected_hashes = {row_serialize(row)[1] for row in expected}
    cohort_hashes = set(CohortMember.objects.filter(cohort=job.cohort).values_list("row_hash", flat=True))
    ledger = set(AudienceMember.objects.filter(job=job, present=True).values_list("row_hash", flat=True))
    if cohort_hashes != expected_hashes:
        problems.append(f"the cohort's members differ from Amplitude's: {len(expected_hashes ^ cohort_hashes):,}")
    if ledger != cohort_hashes:
        problems.append(f"the ledger differs from the cohort: {len(ledger ^ cohort_hashes):,} rows")

    # 3. The run history tells the truth.
    runs = list(SyncRun.objects.filter(job=job).order_by("id"))
    statuses = collections.Counter(run.status for run in runs)
    if statuses.get("running"):
        problems.append(f"{statuses['running']} run(s) left running")
    for run in runs:
        if run.pk in soak.killed_run_ids and (run.status != "interrupted" or run.error_code != "worker_lost"):
            problems.append(f"killed run {run.pk} is {run.status}/{run.error_code}, not interrupted")
        if run.pk not in soak.killed_run_ids and run.status == "interrupted":
            problems.append(f"run {run.pk} is marked interrupted but was not killed")
        if run.status in {"failed", "stopped"} and not (run.error_message and run.error_fix):
            problems.append(f"run {run.pk} {run.status} without a reason and a fix")
        batches = list(run.batches.order_by("sequence"))
        sequences = [batch.sequence for batch in batches]
        if sequences != list(range(1, len(batches) + 1)):
            problems.append(f"run {run.pk}: batch sequences {sequences[:5]}... are not 1..n once each")
        final = {"confirmed", "failed"} | ({"interrupted"} if run.pk in soak.killed_run_ids else set())
        unfinished = [batch.sequence for batch in batches if batch.status not in final]
        if unfinished:
            problems.append(f"run {run.pk}: batches {unfinished[:5]} without a final outcome")
        confirmed = [batch for batch in batches if batch.status == "confirmed"]
        added = sum(batch.rows_sent for batch in confirmed if batch.operation in {"add", "replace"})
        removed = sum(batch.rows_sent for batch in confirmed if batch.operation == "remove")
        if (run.rows_added, run.rows_removed, run.batches_done) != (added, removed, len(confirmed)):
            problems.append(f"run {run.pk}: totals {run.rows_added}/{run.rows_removed}/{run.batches_done} "
                            f"differ from its confirmed batches {added}/{removed}/{len(confirmed)}")
    all_batches = SyncBatch.objects.filter(run__job=job)
    if all_batches.filter(status="sending").exists():
        problems.append("batches left 'sending'")
    replaced = all_batches.filter(operation="replace").exists()
    confirmed_added = sum(all_batches.filter(status="confirmed").exclude(operation="remove")
                          .values_list("rows_sent", flat=True))
    confirmed_removed = sum(all_batches.filter(status="confirmed", operation="remove")
                            .values_list("rows_sent", flat=True))
    if not replaced and confirmed_added - confirmed_removed != len(ledger):
        problems.append(f"confirmed batches ({confirmed_added:,} added - {confirmed_removed:,} removed) "
                        f"do not add up to the ledger ({len(ledger):,})")

    # 4. Every upload session the sandbox saw belongs to a recorded batch (recorded before sending).
    recorded_sessions = set(all_batches.values_list("session_id", flat=True))
    seen_sessions = set(SandboxUploadSession.objects.filter(audience=audience).values_list("session_id", flat=True))
    if seen_sessions - recorded_sessions:
        problems.append(f"{len(seen_sessions - recorded_sessions)} upload session(s) at Facebook with no batch record")

    return {
        "problems": problems,
        "expected_rows": len(expected_keys),
        "held_rows": len(held_keys),
        "rows_lost": len(lost),
        "rows_extra": len(extra),
        "runs": dict(statuses),
        "batches": dict(collections.Counter(all_batches.values_list("status", flat=True))),
        "graph_calls": sum(run.graph_calls for run in runs),
        "upload_attempts": sum(all_batches.values_list("attempts", flat=True)),
        "failed_runs": [f"run {run.pk}: {run.error_code}" for run in runs if run.status == "failed"],
    }


# --- main ----------------------------------------------------------------------------------------


def report(soak: Soak, world: World, checks: dict, changes: list[dict]) -> None:
    options, faults = soak.options, soak.fault_counts()
    total = time.monotonic() - soak.started
    print("\n== fault soak figures")
    print(f"members: {options.members:,}; seed {options.seed}; database {urlparse(options.database_url).scheme}")
    print(f"faults injected by the sandbox over {faults.get('graph_calls', 0):,} Graph calls: "
          f"{faults.get('server_errors', 0)} server errors (5xx), {faults.get('throttled', 0)} throttles (80003), "
          f"{faults.get('answers_held_back', 0)} answers held back past the client timeout")
    print(f"worker SIGKILLs: {len(soak.kills)} ({'; '.join(k['moment'] for k in soak.kills)}), "
          f"worker starts: {len(soak.worker_logs)}")
    print(f"drift: {len(changes)} change(s) of {options.drift_percent}% "
          f"({sum(c['left'] for c in changes):,} left, {sum(c['joined'] for c in changes):,} joined, "
          f"{sum(c['email_changed'] for c in changes):,} changed email)")
    print(f"runs: {checks['runs']}; batches: {checks['batches']}; upload attempts {checks['upload_attempts']:,}; "
          f"Graph calls by runs {checks['graph_calls']:,}")
    if checks["failed_runs"]:
        print(f"failed runs (retried by the next run): {', '.join(checks['failed_runs'])}")
    print(f"audience: {checks['held_rows']:,} rows held, {checks['expected_rows']:,} expected; "
          f"rows lost: {checks['rows_lost']}; rows extra: {checks['rows_extra']}")
    print("phases: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in soak.phase_seconds.items())
          + f"; total {total:.0f} s")
    for problem in checks["problems"]:
        print(f"PROBLEM: {problem}")
    print("RESULT: " + ("nothing lost, every check held" if not checks["problems"] else "FAILED"), flush=True)


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    soak = Soak(options)
    print(f"== fault soak: {options.members:,} members, {options.kills} kills, {options.drift_runs} drift runs "
          f"({options.drift_kills} killed), {options.batch_rows:,} rows per call, "
          f"seed {options.seed}, limit {options.time_limit:.0f} s, work dir {options.workdir}", flush=True)
    try:
        database_prepare(options)
        lap = time.monotonic()
        migrated = soak.manage("migrate", "--noinput", "-v", "0")
        if migrated.returncode:
            raise SoakAborted(f"migrate failed: {migrated.stderr[-1000:]}")
        soak.sandbox_start()
        django_setup(soak)
        world = world_build(soak)
        faults_on(soak, world)
        soak.phase_seconds["set-up"] = time.monotonic() - lap
        print(f"  sandbox at {soak.graph_url}; job {world.job_id}, audience {world.audience_id}", flush=True)

        lap = time.monotonic()
        first_sync(soak, world)
        soak.phase_seconds["first sync with kills"] = time.monotonic() - lap
        lap = time.monotonic()
        changes = drift_runs(soak, world)
        soak.phase_seconds["drift runs"] = time.monotonic() - lap
        lap = time.monotonic()
        checks = check_everything(soak, world)
        soak.phase_seconds["checks"] = time.monotonic() - lap
        soak.stop()  # its last fault counts are written as it stops
        report(soak, world, checks, changes)
        return 1 if checks["problems"] else 0
    except SoakAborted as aborted:
        print(f"ABORTED: {aborted}", flush=True)
        return 2
    finally:
        soak.stop()
        if options.keep:
            print(f"work directory kept: {options.workdir}")
        else:
            import shutil

            shutil.rmtree(options.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
