"""Registry benchmark on durable SQLite: registrations/s, resolve latency, audit verification.

Registration is timed three ways on the same artifacts and card: as a bare service call, as
the CLI does it for a logged-in verified person (session token -> actor), and with a fresh
one-time code verified before each registration.

Prints one JSON object with our figures, the baselines measured in this same run (MLflow 3's
SQLite-backed registry, a plain SQLAlchemy insert, the plain hash chain), and the ratios.
`mlflow_baseline` says whether MLflow was measured in this run or why not; without it no
MLflow ratio is given (no figure from another machine stands in). See bench/README.md.

    .venv/bin/python bench/registry.py                   # ours + MLflow 3 + plain insert
    .venv/bin/python bench/registry.py --without-mlflow  # no MLflow (and no MLflow ratios)

MLflow runs in its own venv (bench/.mlflow-venv, made on first use, before any clock starts)
with this same file (``--mlflow-baseline``); that venv has no governance package, so the
governance imports live inside the functions that measure us.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MLFLOW_VENV = HERE / ".mlflow-venv"
MLFLOW_REQUIREMENT = "mlflow>=3,<4"
# What we must reach: ratios to MLflow measured in the same run, and two absolute limits.
TARGETS = {
    "registration_ratio": 3.0,
    "verified_registration_ratio": 1.0,
    "resolve_p95_ms": 0.5,
    "verify_seconds": 15.0,
}
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOTP_STEP = timedelta(seconds=30)
# Who registers version i, and when: (created_by, now). Called inside the timed loop.
Acting = Callable[[int], tuple[str, datetime]]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latencies_ms(call: Callable[[], object], count: int) -> dict[str, float]:
    """p50/p95 in milliseconds of `count` timed calls (after a short warm-up)."""
    for _ in range(50):
        call()
    samples = []
    for _ in range(count):
        begin = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - begin) / 1e6)
    return {"p50_ms": percentile(samples, 0.50), "p95_ms": percentile(samples, 0.95)}


def fresh_governance(root: Path):
    """A governance instance on a new, migrated SQLite file under `root` (engine pragmas as is)."""
    from governance.bootstrap import open_governance
    from governance.config import EXAMPLE_POLICY, Settings
    from governance.keyring import create_secret_key
    from governance.store.schema import upgrade

    settings = Settings(
        home=root,
        database_url=f"sqlite:///{root / 'governance.db'}",
        artifact_root=root / "artifacts",
        policy_file=EXAMPLE_POLICY,
    )
    create_secret_key(settings.resolved_secret_key_file)  # the key that MACs audit events
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    return open_governance(settings)


def distinct_artifacts(count: int) -> list[bytes]:
    """`count` distinct skops files of tiny fitted classifiers (setup, never timed)."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    return [sio.dumps(LogisticRegression(C=1.0 + i).fit(x, y)) for i in range(count)]


def bench_model():
    """The registered model every benchmark version belongs to."""
    from governance.domain.models import ModelKind, RegisteredModel, RiskLevel

    return RegisteredModel(
        name="bench", owner="alice", team="ml", risk_level=RiskLevel.high, kind=ModelKind.sklearn
    )


def as_alice(i: int) -> tuple[str, datetime]:
    """The bare service call's registrant: alice, named and not verified, at START."""
    return "alice", START


def register_all(gov, blobs: list[bytes], profile: bool, acting: Acting = as_alice) -> float:
    """Register one version per artifact as `acting` says; return the seconds of that loop."""
    from governance.reports.card_yaml import load_card_yaml
    from governance.services.registry import versions as registry_versions
    from governance.services.registry.versions import VersionSpec

    card = load_card_yaml((REPO / "examples" / "cards" / "churn-classifier.yaml").read_text())
    registry_versions.register_model(gov, bench_model(), actor="alice", now=START)
    versions = [f"1.{i}.0" for i in range(len(blobs))]
    profiler = _profiler(profile)
    begin = time.perf_counter()
    for i, blob in enumerate(blobs):
        # As the CLI: who registers is known first, then the spec naming them is built (~2 us).
        by, now = acting(i)
        spec = VersionSpec(name="bench", version=versions[i], created_by=by, metrics={"acc": 0.9})
        registry_versions.register_version(gov, spec, card, artifact=blob, now=now)
    elapsed = time.perf_counter() - begin
    _report_profile(profiler)
    return elapsed


def _profiler(enabled: bool):
    if not enabled:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report_profile(profiler) -> None:
    if profiler is None:
        return
    import pstats

    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


def measure_registry(root: Path, blobs: list[bytes], resolves: int, profile: bool) -> dict:
    """Registration rate, then resolve latency by stage and by alias, on one database."""
    from governance.domain.models import LifecycleStage
    from governance.services.registry import versions as registry_versions
    from governance.services.rollout.production import _transition_in as transition_in

    versions = len(blobs)
    gov = fresh_governance(root)
    try:
        elapsed = register_all(gov, blobs, profile)
        promoted = f"1.{versions // 2}.0"
        for stage in (LifecycleStage.staging, LifecycleStage.production):
            # The move promote-model makes after its gate and approvals (the one door).
            with gov.store.write() as tx:
                transition_in(tx, "bench", promoted, stage, actor="bob", now=START)
        registry_versions.set_alias(gov, "bench", "champion", promoted, actor="bob", now=START)
        assert registry_versions.resolve(gov, "bench@production").version == promoted
        by_stage = latencies_ms(
            lambda: registry_versions.resolve(gov, "bench@production"), resolves
        )
        by_alias = latencies_ms(lambda: registry_versions.resolve(gov, "bench@champion"), resolves)
    finally:
        gov.close()
    return {
        "registrations_per_s": versions / elapsed,
        "registration_seconds": elapsed,
        "resolve_p50_ms": by_stage["p50_ms"],
        "resolve_p95_ms": by_stage["p95_ms"],
        "resolve_alias_p50_ms": by_alias["p50_ms"],
        "resolve_alias_p95_ms": by_alias["p95_ms"],
    }


def measure_verified_registration(root: Path, blobs: list[bytes], profile: bool) -> dict:
    """Registration as a verified person: by CLI session, and by a fresh one-time code each."""
    import pyotp

    from governance.services.trust import identity

    gov = fresh_governance(root / "session")
    try:
        secret = identity.enroll(gov, "alice", actor="bench", now=START).secret
        token = identity.login(gov, "alice", pyotp.TOTP(secret).at(START), now=START).token

        def by_session(i: int) -> tuple[str, datetime]:
            # What `governance models register` does with the session file's token.
            return identity.session_actor(gov, token, now=START).name, START

        session_seconds = register_all(gov, blobs, profile, by_session)
    finally:
        gov.close()
    gov = fresh_governance(root / "code")
    try:
        totp = pyotp.TOTP(identity.enroll(gov, "alice", actor="bench", now=START).secret)
        # A code is accepted once per person and never one of an older time step, so each
        # registration gets the next 30 s step: the clock is advanced one step per
        # registration (and passed to verify_code and register_version) instead of waiting
        # 30 s of wall time. The codes are what the authenticator app shows, computed
        # before the clock starts.
        steps = [START + i * TOTP_STEP for i in range(len(blobs))]
        codes = [totp.at(at) for at in steps]

        def by_code(i: int) -> tuple[str, datetime]:
            return identity.verify_code(gov, "alice", codes[i], now=steps[i]).name, steps[i]

        code_seconds = register_all(gov, blobs, profile, by_code)
    finally:
        gov.close()
    return {
        "registrations_verified_per_s": len(blobs) / session_seconds,
        "registration_verified_seconds": session_seconds,
        "registrations_code_per_s": len(blobs) / code_seconds,
        "registration_code_seconds": code_seconds,
    }


def measure_verify(root: Path, events: int) -> dict:
    """`audit verify` with MACs and state reconciliation over `events`, and the plain chain."""
    import _audit_trail

    gov = fresh_governance(root)
    try:
        return _audit_trail.measure(gov, events)
    finally:
        gov.close()


def measure_plain_insert(root: Path, versions: int) -> dict:
    """Baseline floor: the same version row through plain SQLAlchemy, one durable commit each."""
    import sqlalchemy as sa

    from governance.store.tables_registry import model_versions, registered_models

    gov = fresh_governance(root)
    model = bench_model().model_dump(exclude={"id"}) | {"created_at": START}
    try:
        with gov.engine.begin() as conn:
            model_id = conn.execute(registered_models.insert().values(**model)).inserted_primary_key
        rows = [_plain_version(model_id[0], i) for i in range(versions)]
        begin = time.perf_counter()
        for row in rows:
            with gov.engine.begin() as conn:
                conn.execute(sa.insert(model_versions).values(**row))
        elapsed = time.perf_counter() - begin
    finally:
        gov.close()
    return {"plain_insert_per_s": versions / elapsed}


def _plain_version(model_id: int, i: int) -> dict:
    digest = f"{i:064x}"
    return {
        "model_id": model_id,
        "version": f"1.{i}.0",
        "stage": "development",
        "artifact_uri": f"sha256/{digest[:2]}/{digest}",
        "artifact_digest": digest,
        "training_data_version": "",
        "training_pipeline": "",
        "hyperparameters": {},
        "metrics": {"acc": 0.9},
        "created_by": "alice",
        "created_at": START,
        "stage_changed_at": START,
    }


def mlflow_baseline(work: Path, versions: int, resolves: int) -> dict:
    """MLflow 3's SQLite-backed registry: create_model_version rate and alias lookup latency."""
    import logging

    import mlflow
    from mlflow.tracking import MlflowClient

    logging.disable(logging.WARNING)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("bench")
    source = work / "model"
    source.mkdir(exist_ok=True)
    begin = time.perf_counter()
    for _ in range(versions):
        client.create_model_version("bench", source=str(source))
    elapsed = time.perf_counter() - begin
    client.set_registered_model_alias("bench", "champion", str(versions // 2 + 1))
    lookup = latencies_ms(lambda: client.get_model_version_by_alias("bench", "champion"), resolves)
    return {
        "mlflow_version": mlflow.__version__,
        "mlflow_create_model_version_per_s": versions / elapsed,
        "mlflow_alias_p50_ms": lookup["p50_ms"],
        "mlflow_alias_p95_ms": lookup["p95_ms"],
    }


class NoMlflow(Exception):
    """Why MLflow could not be measured in this run."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def mlflow_python() -> Path:
    """$MLFLOW_VENV's python, else bench/.mlflow-venv's (made on first use); NoMlflow if not."""
    given = os.environ.get("MLFLOW_VENV")
    venv = Path(given or MLFLOW_VENV)
    python = venv / "bin" / "python"
    if not python.exists():
        if given:
            raise NoMlflow(f"MLFLOW_VENV={given} has no bin/python")
        _make_mlflow_venv(venv)
    found = subprocess.run(
        [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise NoMlflow(f"mlflow does not import in {venv}: {_last_line(found.stderr)}")
    return python


def _make_mlflow_venv(venv: Path) -> None:
    """Create the venv and install MLflow from the configured package index (never timed)."""
    print(f"making {venv} ({MLFLOW_REQUIREMENT}, about 850 MB) ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        # Python 3.11's venv writes no .gitignore of its own: keep the venv out of git here.
        (venv / ".gitignore").write_text("*\n")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, MLFLOW_REQUIREMENT], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv: the next run tries again
        raise NoMlflow(
            f"could not install {MLFLOW_REQUIREMENT} into {venv}: {_last_line(exc.stderr)}"
        ) from None


def run_mlflow(python: Path, work: Path, versions: int, resolves: int) -> dict:
    """Run the MLflow baseline in its own venv and read back its JSON; NoMlflow if it fails."""
    work.mkdir()
    command = [str(python), str(Path(__file__).resolve()), "--mlflow-baseline", "--work", str(work)]
    command += ["--versions", str(versions), "--resolves", str(resolves)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise NoMlflow(f"the MLflow run failed: {_last_line(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


BASELINES = {
    "mlflow": "MLflow 3 (its own venv), same machine and run, right after our registration loops:"
    " MlflowClient.create_model_version per second on a SQLite tracking/registry URI (it records"
    " the source path and copies no artifact), and get_model_version_by_alias p50/p95",
    "plain_insert": "the same model_versions row through plain SQLAlchemy, one durable commit"
    " each, on the store's own engine (no artifact, card or audit event): a floor",
    "plain_chain": "the plain hash-chain recomputation over the same audit rows (no MACs, no"
    " state reconciliation)",
}


def ratios(ours: dict, baseline: dict) -> dict:
    """Our figures against the baselines of this run; MLflow ratios only when it was measured."""
    out: dict = {
        "registration_vs_plain_insert": ours["registrations_per_s"]
        / baseline["plain_insert_per_s"],
        "verify_seconds_vs_target": ours["verify_seconds"] / TARGETS["verify_seconds"],
    }
    met = {
        "resolve_p95<0.5ms": ours["resolve_p95_ms"] < TARGETS["resolve_p95_ms"],
        "verify_with_macs_and_state<15s": ours["verify_seconds"] < TARGETS["verify_seconds"],
    }
    if "mlflow_version" in baseline:
        rate, p95 = baseline["mlflow_create_model_version_per_s"], baseline["mlflow_alias_p95_ms"]
        out |= {
            "registration_vs_mlflow": ours["registrations_per_s"] / rate,
            "verified_registration_vs_mlflow": ours["registrations_verified_per_s"] / rate,
            "code_registration_vs_mlflow": ours["registrations_code_per_s"] / rate,
            "mlflow_p95_over_resolve_p95": p95 / ours["resolve_p95_ms"],
            "mlflow_p95_over_resolve_alias_p95": p95 / ours["resolve_alias_p95_ms"],
        }
        least = TARGETS["verified_registration_ratio"]
        met |= {
            "registration_ratio>=3": out["registration_vs_mlflow"] >= TARGETS["registration_ratio"],
            "verified_registration_ratio>=1": out["verified_registration_vs_mlflow"] >= least,
            "code_registration_ratio>=1": out["code_registration_vs_mlflow"] >= least,
        }
    out["targets_met"] = met
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000, help="registrations to time")
    parser.add_argument("--resolves", type=int, default=5000, help="resolve calls to time")
    parser.add_argument("--events", type=int, default=1_000_000, help="audit events to verify")
    parser.add_argument(
        "--without-mlflow", action="store_true", help="skip MLflow (then no MLflow ratio)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile registration to stderr")
    parser.add_argument("--mlflow-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run every measurement in one temporary directory and print the JSON report."""
    args = parse_args(argv)
    if args.mlflow_baseline:
        print(json.dumps(mlflow_baseline(args.work, args.versions, args.resolves)))
        return
    python, mlflow_state = None, "not measured: --without-mlflow was given"
    if not args.without_mlflow:
        try:
            python = mlflow_python()  # a first-use install happens here, before any clock
        except NoMlflow as exc:
            mlflow_state = f"not measured: {exc}"
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp:
        work = Path(tmp)
        blobs = distinct_artifacts(args.versions)
        ours = measure_registry(work / "registry", blobs, args.resolves, args.profile)
        ours |= measure_verified_registration(work / "verified", blobs, args.profile)
        # MLflow right after our registrations, so the ratios compare the same machine load.
        baseline = {}
        if python is not None:
            try:
                baseline |= run_mlflow(python, work / "mlflow", args.versions, args.resolves)
                mlflow_state = "measured in this run"
            except NoMlflow as exc:
                mlflow_state = f"not measured: {exc}"
        baseline |= measure_plain_insert(work / "plain", args.versions)
        ours |= measure_verify(work / "audit", args.events)
    config = {
        "versions": args.versions,
        "resolves": args.resolves,
        "sqlite": "WAL, sync=FULL",
        "cpus": os.cpu_count(),
        "load_average_1_5_15_start": [round(x, 2) for x in load_start],
        "load_average_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    report = {
        **ours,
        "mlflow_baseline": mlflow_state,
        "baselines": BASELINES,
        "baseline": baseline,
        "ratios": ratios(ours, baseline),
        "config": config,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
