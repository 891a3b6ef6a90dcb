"""A million-member cohort synced end to end against the sandboxes, over HTTP (issue 10).

    python bench/sync_million.py [--members 1000000] [--database sqlite|postgres]
                                 [--sandbox-database separate|shared] [--concurrency 4]
                                 [--scenarios first,changed1,changed10,latency1,latency]
                                 [--latency-ms 200] [--sandbox-payload-workers 2] [--profile py-spy]
                                 [--json FILE] [--no-verify]

Three processes, as in production: this script only orchestrates; the sandbox (the local
Facebook and Amplitude, `manage.py run_sandbox`) runs in its own process with its own
database (or the worker's, with `--sandbox-database shared`), its upload bodies checked by
`--sandbox-payload-workers` processes as Facebook serves concurrent calls; every sync runs in a fresh
worker process that calls `syncs.runner.sync_run_execute` and reports its own peak
resident memory (VmHWM), so neither the sandbox nor this script counts in it.

Scenarios (two keys, EMAIL and PHONE, from Amplitude user properties):
  first      the first sync of a new cohort of --members people
  changed1   then 1% of the members changed (two thirds leave and as many join, one third change email)
  changed10  then 10% changed
  latency1   a first sync again (a new job and audience, same cohort) with --latency-ms added to every
             Graph call, one upload lane
  latency    the same with --concurrency lanes: what concurrent uploads buy

The Amplitude export of every membership is written before its run (the sandbox's CSV
generation is not the worker's download). After every run the audience the sandbox holds
is checked against the cohort, computed independently from the synthetic population.
Each figure is one run on a shared 2-core machine: expect a few percent of noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SCHEMA = ["EMAIL", "PHONE"]
PROPS = ["email", "phone"]  # Amplitude user properties, in KeyPlan.prop_keys order
COHORT_SEED = 20261201
MAX_ROWS_PER_CALL = 10_000
# A fixed Fernet key: the bench databases are thrown away after each run.
BENCH_FERNET_KEY = "YmVuY2gtb25seS1mZXJuZXQta2V5LTMyLWJ5dGVzISE="
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-anything-else-0123456789"  # noqa: S105
PG_WORKER_DB = "cohortsync_bench"
TARGETS = {"first_wall": 60.0, "first_rss_mb": 400.0, "changed1_wall": 10.0, "latency_factor": 1.5}


# --- environments of the processes ------------------------------------------------------------


@dataclass
class Setup:
    workdir: Path
    database: str  # sqlite | postgres
    sandbox_database: str  # separate (its own SQLite file) | shared (the worker's database)
    concurrency: int | None  # None: the settings' default
    payload_workers: int = 0  # run_sandbox --payload-workers
    port: int = 0

    def db_url(self, who: str) -> str:
        if who == "sandbox" and self.sandbox_database == "separate":
            return f"sqlite:///{self.workdir / 'sandbox.sqlite3'}"
        if self.database == "postgres":
            return f"postgres://postgres@127.0.0.1:5432/{PG_WORKER_DB}"
        return f"sqlite:///{self.workdir / 'worker.sqlite3'}"

    def env(self, who: str, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SANDBOX_FAULT_", "DATABASE_URL", "REDIS_URL", "DJANGO_"))
        }
        env.update(
            ENV_FILE="",
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",  # as in production: no query log, no debug cursor
            SANDBOX="1",
            SECRET_KEY=BENCH_SECRET_KEY,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            TOKEN_ENCRYPTION_KEYS=BENCH_FERNET_KEY,
            DATABASE_URL=self.db_url(who),
            LOG_LEVEL="WARNING",
            # The sandbox answers "in progress" once; poll it quickly (Amplitude takes minutes anyway).
            AMPLITUDE_POLL_INTERVAL_SECONDS="0.2",
            AMPLITUDE_SANDBOX_STATUS_POLLS="1",
            PYTHONDONTWRITEBYTECODE="1",
            # The cohort member memo of this bench's databases only (emptied with them).
            COHORT_MEMBER_CACHE_DIR=str(self.workdir / "member-memo"),
        )
        if self.concurrency:
            env["SYNC_UPLOAD_CONCURRENCY"] = str(self.concurrency)
        if self.port:
            url = f"http://127.0.0.1:{self.port}"
            env.update(FACEBOOK_GRAPH_URL=url, FACEBOOK_WWW_URL=url, AMPLITUDE_API_URL=url, SITE_URL=url)
        env.update(extra)
        return env


def step(setup: Setup, who: str, name: str, *args: str, profile: Path | None = None, **env: str) -> dict:
    """Run one step of this script in a fresh process (`who`: worker or sandbox env); its JSON answer."""
    command = [PYTHON, str(Path(__file__).resolve()), "_step", name, *args]
    if profile is not None:
        command = [py_spy(), "record", "--format", "raw", "--rate", "100", "--output", str(profile), "--", *command]
    done = subprocess.run(command, cwd=ROOT, env=setup.env(who, **env), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def manage(setup: Setup, who: str, *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=setup.env(who), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def py_spy() -> str:
    """py-spy from PY_SPY, the PATH or this interpreter's venv (bench/requirements.txt pins it)."""
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not found and (Path(sys.prefix) / "bin" / "py-spy").exists():
        found = str(Path(sys.prefix) / "bin" / "py-spy")
    if not found:
        raise SystemExit("py-spy not found: pip install -r bench/requirements.txt (any venv), then set PY_SPY=<path>")
    return found


# --- the databases and the sandbox server ------------------------------------------------------


def databases_create(setup: Setup) -> None:
    if setup.database == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_WORKER_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_WORKER_DB}"')
    shutil.rmtree(setup.workdir / "member-memo", ignore_errors=True)
    for name in ("worker.sqlite3", "sandbox.sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            (setup.workdir / f"{name}{suffix}").unlink(missing_ok=True)
    manage(setup, "worker", "migrate", "--noinput", "-v", "0")
    if setup.sandbox_database == "separate":
        manage(setup, "sandbox", "migrate", "--noinput", "-v", "0")


class SandboxServer:
    """`manage.py run_sandbox --port 0` in its own process (optionally under py-spy)."""

    def __init__(self, setup: Setup, *, profile: Path | None = None, **env: str) -> None:
        command = [PYTHON, "manage.py", "run_sandbox", "--port", "0", "--no-migrate",
                   "--payload-workers", str(setup.payload_workers)]
        if profile is not None:
            command = [py_spy(), "record", "--format", "raw", "--rate", "100", "--output", str(profile), "--",
                       *command]
        self.log = open(setup.workdir / "sandbox.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=setup.env("sandbox", PYTHONUNBUFFERED="1", **env), stdout=subprocess.PIPE,
            stderr=self.log, text=True, start_new_session=True,
        )
        assert self.process.stdout is not None
        match = line = None
        for _ in range(20):  # py-spy, when profiling, prints a line of its own first
            line = self.process.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if match or not line:
                break
        if not match:
            self.stop()
            raise SystemExit(f"The sandbox did not start: {line!r} (see {self.log.name})")
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        """CPU time of the sandbox's processes so far (its process group: py-spy too, when profiling)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # the process group the server leads
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: run_sandbox stops serving cleanly, and py-spy (if any) writes its profile.
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# --- scenarios ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    title: str
    run: dict
    verified: str = "not checked"
    notes: list[str] = field(default_factory=list)

    @property
    def upload_calls(self) -> int:
        return self.run["upload_calls"]

    @property
    def minimum_calls(self) -> int:
        return math.ceil(self.run["rows_removed"] / MAX_ROWS_PER_CALL) + math.ceil(
            self.run["rows_added"] / MAX_ROWS_PER_CALL
        )


def stages_of(run: dict) -> dict[str, float]:
    """Seconds per stage: the run's stages, its cohort refresh split into download/encode/store."""
    stages = dict(run["stage_seconds"])
    refresh = run.get("import_stage_seconds") or {}
    bookkeeping = stages.pop("bookkeeping", 0.0)
    download_total = stages.pop("download", 0.0)
    download = refresh.get("request", 0) + refresh.get("wait", 0) + refresh.get("download", 0)
    encode = refresh.get("encode", 0.0)
    store = refresh.get("apply", 0.0)
    return {
        "check": stages.get("check", 0.0) + stages.get("audience", 0.0),
        "download": download + max(0.0, download_total - download - encode - store),
        "encode": encode,
        "store members": store,
        "compare": stages.get("compare", 0.0),
        "upload": max(0.0, stages.get("upload", 0.0) - bookkeeping),
        "bookkeeping": bookkeeping,
        "finish": stages.get("finish", 0.0),
    }


def result_print(result: Result, setup: Setup, latency_ms: int) -> None:
    run = result.run
    wall = run["wall_seconds"]
    rows = run["rows_added"] + run["rows_removed"]
    print(f"\n== {result.title}")
    print(f"   wall {wall:.1f} s (run recorded {run['run_seconds']:.1f} s); status {run['status']}")
    print(f"   rows sent {rows:,} (+{run['rows_added']:,} -{run['rows_removed']:,}, "
          f"unchanged {run['rows_unchanged']:,}); cohort {run['members']:,} members -> "
          f"{rows / wall if wall else 0:,.0f} rows/s sent, {run['members'] / wall if wall else 0:,.0f} members/s")
    print(f"   worker peak RSS {run['peak_rss_mb']:.0f} MB; CPU during the run: worker "
          f"{run['worker_cpu_seconds']:.1f} s, sandbox {run['sandbox_cpu_seconds']:.1f} s "
          f"(2 cores: {2 * wall:.0f} core-seconds of wall)")
    requests = run.get("graph_requests", {})
    others = {kind: count for kind, count in requests.items() if not kind.endswith(("users", "usersreplace"))}
    print(f"   Graph upload calls {result.upload_calls} (minimum {result.minimum_calls}, in {run['lanes']} upload "
          f"sessions); other Graph requests {sum(others.values())}: "
          + ", ".join(f"{kind} x{count}" for kind, count in sorted(others.items())))
    stages = stages_of(run)
    total = sum(stages.values()) or 1.0
    print("   stages: " + ", ".join(f"{name} {seconds:.1f} s ({seconds / total:.0%})"
                                     for name, seconds in stages.items() if seconds >= 0.05))
    if run.get("import_stage_seconds"):
        print(f"   cohort refresh: {run['import_stage_seconds']} "
              f"(members +{run['members_added']:,} -{run['members_removed']:,})")
    print(f"   audience at the sandbox: {result.verified}")
    for note in result.notes:
        print(f"   {note}")


def targets_check(results: dict[str, Result], latency_ms: int) -> list[str]:
    lines = []
    first = results.get("first")
    if first:
        run = first.run
        lines.append(_target(f"first sync wall {run['wall_seconds']:.1f} s <= {TARGETS['first_wall']:.0f} s",
                             run["wall_seconds"] <= TARGETS["first_wall"]))
        rss, rss_target = run["peak_rss_mb"], TARGETS["first_rss_mb"]
        lines.append(_target(f"first sync worker peak RSS {rss:.0f} MB <= {rss_target:.0f} MB", rss <= rss_target))
        lines.append(_target(f"first sync upload calls {first.upload_calls} == minimum {first.minimum_calls}",
                             first.upload_calls == first.minimum_calls))
    changed = results.get("changed1")
    if changed:
        wall = changed.run["wall_seconds"]
        lines.append(_target(f"1% changed wall {wall:.1f} s <= {TARGETS['changed1_wall']:.0f} s",
                             wall <= TARGETS["changed1_wall"]))
    for name in ("latency1", "latency"):
        result = results.get(name)
        if result:
            lanes = result.run["lanes_configured"]
            bound = TARGETS["latency_factor"] * result.upload_calls * latency_ms / 1000 / lanes
            upload = result.run["stage_seconds"].get("upload", 0.0)
            lines.append(_target(
                f"{latency_ms} ms latency, {lanes} lane(s): upload stage {upload:.1f} s <= 1.5 x "
                f"{result.upload_calls} x {latency_ms / 1000:g} s / {lanes} = {bound:.1f} s", upload <= bound))
            if first and lanes == first.run["lanes_configured"]:
                plain = first.run["stage_seconds"].get("upload", 0.0)
                lines.append(f"      (the first sync, same calls and lanes without added latency: upload stage "
                             f"{plain:.1f} s; the latency added {upload - plain:+.1f} s)")
    for result in results.values():
        if not result.verified.startswith("equal"):
            lines.append(_target(f"{result.name}: audience equals the cohort ({result.verified})", False))
    return lines


def _target(text: str, met: bool) -> str:
    return f"  [{'met' if met else 'MISSED'}] {text}"


def scenarios_run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    setup = Setup(workdir=workdir, database=args.database, sandbox_database=args.sandbox_database,
                  concurrency=args.concurrency, payload_workers=args.sandbox_payload_workers)
    wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    machine_print(setup)
    started = time.monotonic()
    databases_create(setup)
    sandbox_info = step(setup, "sandbox", "sandbox_setup", str(args.members))
    print(f"setup: databases and a {args.members:,}-member cohort ({sandbox_info['cohort_id']}) "
          f"with its export file ready in {time.monotonic() - started:.0f} s")
    profiles = Path(args.profile_dir) if args.profile else None
    if profiles:
        profiles.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    server = SandboxServer(setup, profile=profiles / "sandbox.raw" if profiles else None)
    setup.port = server.port
    try:
        job = step(setup, "worker", "worker_setup", sandbox_info["token"], sandbox_info["act_id"],
                   sandbox_info["cohort_id"])["job_id"]
        for name in wanted:
            if name in ("changed1", "changed10"):
                percent = "1" if name == "changed1" else "10"
                change = step(setup, "sandbox", "cohort_change", sandbox_info["cohort_id"], percent)
                title = f"{percent}% of the members changed ({change['left']:,} left, {change['joined']:,} joined, " \
                        f"{change['email_changed']:,} changed email)"
                results[name] = scenario(setup, name, title, job, sandbox_info, args, profiles, server)
            elif name == "first":
                title = f"first sync of {args.members:,} members, keys {'+'.join(SCHEMA)}"
                results[name] = scenario(setup, name, title, job, sandbox_info, args, profiles, server)
            elif name in ("latency1", "latency"):
                lanes = 1 if name == "latency1" else setup.concurrency
                lanes_env = {"SYNC_UPLOAD_CONCURRENCY": str(lanes)} if lanes else {}
                latency_job = step(setup, "worker", "worker_new_job", sandbox_info["cohort_id"])["job_id"]
                step(setup, "sandbox", "latency_set", str(args.latency_ms))
                title = f"first sync again (new audience) with {args.latency_ms} ms added to every Graph call, " \
                        f"{lanes or 'the default number of'} lane(s)"
                try:
                    results[name] = scenario(setup, name, title, latency_job, sandbox_info, args, profiles,
                                             server, **lanes_env)
                finally:
                    step(setup, "sandbox", "latency_set", "0")
            else:
                raise SystemExit(f"Unknown scenario {name!r}")
            result_print(results[name], setup, args.latency_ms)
    finally:
        server.stop()
    print("\nTargets (issue 10):")
    lines = targets_check(results, args.latency_ms)
    print("\n".join(lines))
    if profiles:
        print(f"\nProfiles (py-spy, raw collapsed stacks) in {profiles}:")
        for path in sorted(profiles.glob("*.raw")):
            print(f"-- {path.name}")
            print(profile_summary(path))
    summary = {
        "machine": machine_facts(),
        "database": setup.database,
        "sandbox_database": setup.sandbox_database,
        "sandbox_payload_workers": setup.payload_workers,
        "members": args.members,
        "concurrency": setup.concurrency,
        "latency_ms": args.latency_ms,
        "results": {name: {"title": r.title, "run": r.run, "stages": stages_of(r.run), "verified": r.verified,
                           "upload_calls": r.upload_calls, "minimum_calls": r.minimum_calls}
                    for name, r in results.items()},
        "targets": lines,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


def scenario(setup: Setup, name: str, title: str, job_id: int, sandbox_info: dict, args: argparse.Namespace,
             profiles: Path | None, server: SandboxServer, **env: str) -> Result:
    profile = profiles / f"worker-{name}.raw" if profiles else None
    sandbox_cpu = server.cpu_seconds()
    run = step(setup, "worker", "run", str(job_id), profile=profile, **env)
    run["sandbox_cpu_seconds"] = round(server.cpu_seconds() - sandbox_cpu, 2)
    run["lanes_configured"] = run["concurrency_setting"]
    result = Result(name=name, title=title, run=run)
    if run["status"] != "succeeded":
        result.notes.append(f"run ended {run['status']}: {run['message']}")
    if not args.no_verify and run.get("audience_id"):
        check = step(setup, "sandbox", "verify", sandbox_info["cohort_id"], run["audience_id"])
        held, expected = check["held"], check["expected"]
        result.verified = (
            f"equal to the cohort ({held[0]:,} rows)" if held == expected
            else f"DIFFERENT: holds {held[0]:,} rows, the cohort encodes to {expected[0]:,}"
        )
    return result


# --- machine facts and profiles -------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory_gib": f"{int(memory) / 1024 / 1024:.0f}",
        "python": platform.python_version(),
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def machine_print(setup: Setup) -> None:
    facts = machine_facts()
    db = {"sqlite": "SQLite (WAL, synchronous=NORMAL)", "postgres": "PostgreSQL 127.0.0.1:5432"}[setup.database]
    where = "its own SQLite file" if setup.sandbox_database == "separate" else "the worker's database"
    print(f"machine: nproc {facts['nproc']} ({facts['cpu']}), {facts['memory_gib']} GiB, Python {facts['python']}, "
          f"load average {facts['load_average']}")
    lanes = setup.concurrency or "the settings' default"
    print(f"database: worker on {db}; the sandbox on {where}, {setup.payload_workers} payload worker(s); "
          f"upload lanes: {lanes}")


def profile_summary(path: Path, top: int = 14) -> str:
    """Self and inclusive sample shares of the busiest functions in a py-spy raw profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        if "idle" in frames[-1] or any(word in frames[-1] for word in ("select (selectors", "wait (threading",
                                                                         "_wait_for_tstate_lock", "accept (socket")):
            continue  # threads waiting for work
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "   (no samples)"
    lines = [f"   busy samples: {total} (1 per 10 ms per busy thread)", "   self time:"]
    lines += [f"     {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines.append("   inclusive time:")
    lines += [f"     {count / total:6.1%}  {name}" for name, count in inclusive.most_common(top + 10)]
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    match = re.match(r"(.*) \((.*?):\d+\)$", frame.strip())
    if not match:
        return frame.strip()
    function, file_name = match.groups()
    return f"{function} ({'/'.join(Path(file_name).parts[-2:])})"


# --- steps run inside the worker's or the sandbox's environment -----------------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _emit(value: dict) -> None:
    print(json.dumps(value, default=str), flush=True)


def step_sandbox_setup(members: str) -> None:
    """Seed the sandbox, create the cohort, write its export file, build the population index."""
    _django()
    from integrations.sandbox import matching
    from integrations.sandbox import services as fb
    from integrations.sandbox.amplitude import services as amp

    ready = fb.sandbox_seed(reset=True)["ready"]
    token = fb.sandbox_token_issue(person=ready.person)
    project = amp.sandbox_amplitude_seed()
    cohort = amp.sandbox_cohort_create(size=int(members), name=f"Bench {int(members):,}", seed=COHORT_SEED,
                                       project=project)
    amp.sandbox_export_warm(cohort=cohort, prop_keys=PROPS)
    matching.facebook_keys()  # built once per machine, cached under the temp directory
    _emit({"cohort_id": cohort.cohort_id, "token": token, "act_id": ready.act_id,
           "api_key": project.api_key, "secret_key": project.secret_key})


def step_worker_setup(token: str, act_id: str, amplitude_cohort_id: str) -> None:
    """The project with its Amplitude keys and key mappings, the connection, the cohort list, a job."""
    _django()
    from cohorts.models import Cohort
    from cohorts.services import cohorts_sync_from_amplitude
    from integrations.models import FacebookConnection, KeyMapping, Project
    from integrations.sandbox.amplitude.models import DEFAULT_API_KEY, DEFAULT_SECRET_KEY

    project = Project.objects.create(name="Bench", slug="bench", default_country="US",
                                     amplitude_api_key=DEFAULT_API_KEY, amplitude_secret_key=DEFAULT_SECRET_KEY)
    for key, prop in zip(SCHEMA, PROPS, strict=True):
        KeyMapping.objects.create(project=project, facebook_key=key, source="user_property", property_name=prop)
    FacebookConnection.objects.create(project=project, access_token=token, ad_account_id=act_id, status="active",
                                      facebook_user_name="Robin Ready")
    cohorts_sync_from_amplitude(project=project)
    Cohort.objects.get(project=project, amplitude_cohort_id=amplitude_cohort_id)
    _emit({"job_id": _job_create(amplitude_cohort_id)})


def step_worker_new_job(amplitude_cohort_id: str) -> None:
    _django()
    _emit({"job_id": _job_create(amplitude_cohort_id)})


def _job_create(amplitude_cohort_id: str) -> int:
    from unittest import mock

    from cohorts.models import Cohort
    from integrations.models import FacebookConnection
    from syncs.services import SyncJobSpec, sync_job_create

    cohort = Cohort.objects.get(amplitude_cohort_id=amplitude_cohort_id)
    connection = FacebookConnection.objects.get(project=cohort.project)
    # The bench starts its runs itself: nothing is queued for a cluster that is not running.
    with mock.patch("syncs.services.async_task", lambda *args, **kwargs: None):
        job = sync_job_create(spec=SyncJobSpec(cohort=cohort, connection=connection, cadence="daily"))
    return job.pk


def _graph_requests_counted() -> Counter:
    """Every HTTP request the worker's Graph clients make, by kind (the run's own count leaves
    out the connection check's requests, made through a client of its own)."""
    import threading

    from integrations.facebook.client import GraphClient

    counts: Counter = Counter()
    lock = threading.Lock()
    send_once = GraphClient._send_once

    def counted(self, method, path, *args, **kwargs):
        if path.endswith(("/users", "/usersreplace")):
            kind = path.rsplit("/", 1)[-1]
        else:
            kind = re.sub(r"^\d+", "<audience>", re.sub(r"act_\d+", "act_<id>", path))
        with lock:
            counts[f"{method} {kind}"] += 1
        return send_once(self, method, path, *args, **kwargs)

    GraphClient._send_once = counted  # type: ignore[method-assign]
    return counts


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_run(job_id: str) -> None:
    """One run, timed in this (fresh) worker process."""
    _django()
    from django.conf import settings
    from django.db.models import Sum

    from cohorts.models import CohortImport
    from syncs.models import SyncBatch, SyncJob, SyncRun
    from syncs.runner import sync_run_execute

    requests_made = _graph_requests_counted()
    rss_before = _peak_rss_mb()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    report = sync_run_execute(job_id=int(job_id), trigger=SyncRun.Trigger.COMMAND)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak = _peak_rss_mb()
    run = SyncRun.objects.get(pk=report.run_id)
    job = SyncJob.objects.select_related("cohort").get(pk=job_id)
    refresh = (CohortImport.objects.filter(cohort=job.cohort, started_at__gte=run.started_at)
               .exclude(status=CohortImport.Status.SKIPPED).order_by("-started_at").first())
    batches = SyncBatch.objects.filter(run=run)
    _emit({
        "status": report.status,
        "message": report.message,
        "audience_id": job.audience_id,
        "wall_seconds": round(wall, 3),
        "run_seconds": round((run.finished_at - run.started_at).total_seconds(), 3),
        "peak_rss_mb": round(peak, 1),
        "worker_cpu_seconds": round(cpu, 2),
        "rss_after_django_setup_mb": round(rss_before, 1),
        "rows_added": run.rows_added,
        "rows_removed": run.rows_removed,
        "rows_unchanged": run.rows_unchanged,
        "members": job.cohort.members_count,
        "graph_calls": run.graph_calls,
        "graph_requests": dict(requests_made),
        "upload_calls": batches.aggregate(total=Sum("attempts"))["total"] or 0,
        "batches": batches.count(),
        "lanes": batches.values("session_id").distinct().count(),
        "mode": run.mode_used,
        "stage_seconds": run.stage_seconds,
        "import_stage_seconds": refresh.stage_seconds if refresh else {},
        "members_added": refresh.members_added if refresh else 0,
        "members_removed": refresh.members_removed if refresh else 0,
        "concurrency_setting": settings.SYNC_UPLOAD_CONCURRENCY,
    })


def step_cohort_change(amplitude_cohort_id: str, percent: str) -> None:
    _django()
    from integrations.sandbox.amplitude import services as amp
    from integrations.sandbox.amplitude.models import SandboxCohort

    cohort = SandboxCohort.objects.get(cohort_id=amplitude_cohort_id)
    change = amp.sandbox_cohort_change(cohort=cohort, percent=float(percent))
    cohort.refresh_from_db()
    amp.sandbox_export_warm(cohort=cohort, prop_keys=PROPS)
    _emit({"left": change.left, "joined": change.joined, "email_changed": change.email_changed})


def step_latency_set(milliseconds: str) -> None:
    _django()
    from integrations.sandbox import services as fb

    if int(milliseconds):
        fb.sandbox_fault_switch_set(latency_ms=int(milliseconds))
    else:
        fb.sandbox_fault_switches_clear()
    _emit({"latency_ms": int(milliseconds)})


def step_verify(amplitude_cohort_id: str, audience_id: str) -> None:
    """The audience's digest at the sandbox vs the cohort's, computed from the population alone."""
    _django()
    from integrations.facebook.match_keys import encode_rows
    from integrations.sandbox.amplitude import services as amp
    from integrations.sandbox.amplitude.exports import member_properties
    from integrations.sandbox.amplitude.models import SandboxCohort
    from integrations.sandbox.models import SandboxAudience
    from integrations.sandbox.selectors import audience_rows_digest, audience_stored_digest

    cohort = SandboxCohort.objects.get(cohort_id=amplitude_cohort_id)
    shape = amp.cohort_shape(cohort)
    raw_rows = [[props["email"], props["phone"]] for _, props in member_properties(shape)]
    encoded = encode_rows(SCHEMA, raw_rows, default_country="US").rows
    expected = (len({tuple(row) for row in encoded}), audience_rows_digest(encoded, schema=SCHEMA))
    held = audience_stored_digest(audience=SandboxAudience.objects.get(fb_id=audience_id))
    _emit({"expected": list(expected), "held": list(held)})


STEPS = {
    "sandbox_setup": step_sandbox_setup,
    "worker_setup": step_worker_setup,
    "worker_new_job": step_worker_new_job,
    "run": step_run,
    "cohort_change": step_cohort_change,
    "latency_set": step_latency_set,
    "verify": step_verify,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sandbox-database", choices=["separate", "shared"], default="separate")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="upload lanes (default: settings.SYNC_UPLOAD_CONCURRENCY's default)")
    parser.add_argument("--scenarios", default="first,changed1,changed10,latency1,latency")
    parser.add_argument("--sandbox-payload-workers", type=int, default=2,
                        help="run_sandbox --payload-workers: processes checking upload bodies in parallel, as "
                             "Facebook serves concurrent calls (0: the request threads, one at a time)")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--profile", choices=["py-spy"], default=None,
                        help="profile the sandbox and every worker run with py-spy (bench/requirements.txt)")
    parser.add_argument("--profile-dir", default=None)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cohortsync-bench"))
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--no-verify", action="store_true", help="skip the check of each audience at the sandbox")
    args = parser.parse_args(argv)
    if args.profile and not args.profile_dir:
        args.profile_dir = str(Path(args.workdir) / "profiles")
    return args


def main(argv: list[str]) -> None:
    if argv[:1] == ["_step"]:
        STEPS[argv[1]](*argv[2:])
        return
    scenarios_run(parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
