"""Chapter 5: monitoring and retirement: a drifting, decaying version is audited, reviewed,
deprecated and, past its sunset, retired.

The version is 1.5.0: after chapter 4 it serves org acme through a flag while 1.3.0 is
production, so 1.3.0 is the successor a `retire` verdict needs.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from deployments.demo.promotion import approve, finished, holdout_csv, suspended
from deployments.demo.rollout import ENDPOINT
from deployments.demo.stage import MODEL, WORK, Authenticators, governance, host, step

VERSION = "1.5.0"
SHIFTED = ("mean texture", "worst texture")  # a new slide scanner reads texture 25% higher
FLIPPED = 0.35
ROWS = 1200
DAYS = 10
REVIEW_ROLES = [("carol", "ml_lead"), ("dave", "risk_officer")]


def current_batch(workdir: Path, now: datetime) -> Path:
    """Held-out rows resampled over the last ten days: texture shifted, 35% of labels flipped."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.3, random_state=7)
    rng = np.random.default_rng(11)
    picked = rng.integers(0, len(x_test), ROWS)
    batch = x_test.iloc[picked].reset_index(drop=True)
    for column in SHIFTED:
        batch[column] = batch[column] * 1.25
    labels = y_test.to_numpy()[picked]
    flip = rng.random(ROWS) < FLIPPED
    batch["label"] = np.where(flip, 1 - labels, labels)
    ago = rng.uniform(300, DAYS * 86400, ROWS)  # at least five minutes old, never in the future
    batch["observed_at"] = [(now - timedelta(seconds=s)).isoformat() for s in ago]
    path = workdir / f"batch-{VERSION}.csv"
    batch.to_csv(path, index=False)
    return path


def _has_reference(version: str) -> bool:
    from governance.bootstrap import open_governance
    from governance.domain.errors import NotFound
    from governance.services.monitoring import references

    gov = open_governance()
    try:
        references.get_reference(gov, MODEL, version)
    except NotFound:
        return False
    finally:
        gov.close()
    return True


def _reference(version: str) -> None:
    """Show the stored reference (stored at the evaluation gate; set from the holdout if not)."""
    if not _has_reference(version):
        print(f"{MODEL}@{version} has no reference profile yet: set it from the holdout")
        sample = WORK / "reference.csv"
        frame = pd.read_csv(holdout_csv(WORK))
        frame.drop(columns=["label", "site"]).to_csv(sample, index=False)
        governance("monitoring", "reference", MODEL, version, "--set", str(sample), quiet=True)
    out = governance("monitoring", "reference", MODEL, version, quiet=True)
    lines = out.splitlines()
    # The summary, the table's header, the two columns the batch will shift, the bottom rule.
    header = [i for i, line in enumerate(lines) if " column " in line][:1]
    keep = {0, *(range(1, header[0] + 2) if header else ())}
    keep |= {i for i, line in enumerate(lines) if any(f" {c} " in line for c in SHIFTED)}
    keep.add(len(lines) - 1)
    print("\n".join(lines[i] for i in sorted(keep)))
    print("  (28 more columns not shown)")


def _review_run(version: str, timeout: float = 60) -> str:
    """The retirement-review run the audit started for `version` (not yet finished)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["retirement-review"]))
            )
            mine = [
                r
                for r in runs
                if r.parameters.get("version") == version and not (r.state and r.state.is_final())
            ]
            if mine:
                return str(mine[0].id)
            time.sleep(0.5)
    raise SystemExit(f"demo: the audit started no retirement review of {MODEL}@{version}")


def _sunset(version: str) -> datetime:
    from governance.bootstrap import open_governance
    from governance.services.registry import versions

    gov = open_governance()
    try:
        found = versions.show(gov, f"{MODEL}@{version}").version
    finally:
        gov.close()
    if found.sunset_at is None:
        raise SystemExit(f"demo: {found.ref} is {found.stage.value} with no sunset")
    sunset = found.sunset_at
    return sunset if sunset.tzinfo else sunset.replace(tzinfo=UTC)


def _sweep(now: datetime) -> None:
    """Run retire-deprecated in this process with its clock at `now`; print its table.

    A deployed run reads the real clock and takes no time parameter (anyone with Prefect API
    access could send one), so the only way to move its clock is in the flow's own process.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows import clock
    from flows.retire_deprecated import retire_deprecated

    print(f"with flows.clock.running_at({now.isoformat()!r}): retire_deprecated()", flush=True)
    with clock.running_at(now):
        state = retire_deprecated(return_state=True)
    run_id = state.state_details.flow_run_id
    if not state.is_completed():
        raise SystemExit(f"demo: retire-deprecated run {run_id} ended {state.name}")
    print(f"run {run_id}: {state.name}")
    found = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=found)
    for artifact in artifacts:
        rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
        for row in rows:
            print(f"  {row['what']}: {row['subject']}")


def _describe_report(report: Path) -> None:
    """Size, <title> and panels of the stored report, read as text (no browser)."""
    html = report.read_text(encoding="utf-8")
    head = html.split("<body", 1)[0]
    title = re.search(r"<title>(.*?)</title>", head, re.S)
    kind = re.search(r'var metric_\w+ = \{"name": "(\w+)"', head)
    panels = dict.fromkeys(re.findall(r"Count of Drifted Columns|Drift in column '[^']*'", html))
    print(
        f"{report.name}: {report.stat().st_size / 1e6:.1f} MB, "
        + (f"<title>{title.group(1).strip()}</title>" if title else "no <title> in its <head>")
        + f"; an Evidently {kind.group(1) if kind else '?'} page (window.drawDashboard, UI inlined)"
    )
    print(f"  panels: {'; '.join(panels) or 'none found'}")
    if kind is None or not panels:
        raise SystemExit(f"demo: {report} does not look like an Evidently drift report")


def _routing_mentions(version: str) -> bool:
    out = governance("endpoints", "show", ENDPOINT, "--json", quiet=True)
    spec = json.loads(out)["spec"]
    return re.search(rf'"{re.escape(version)}"', json.dumps(spec)) is not None


def chapter(people: Authenticators) -> None:
    """Ingest a drifting batch, audit on demand, review, deprecate, and retire past the sunset."""
    step(f"21. a current batch for {VERSION} (serving org acme by a flag; 1.3.0 is production)")
    print(
        "the demo cards set retirement_criteria.max_drift_share to 0.05 (policy default 0.3):"
        " the batch shifts two of thirty features (2/30 = 0.067), and two of thirty is the"
        " demo's threshold"
    )
    _reference(VERSION)
    path = current_batch(WORK, datetime.now(UTC))
    print(
        f"{path}: {ROWS} rows over the last {DAYS} days, {' and '.join(SHIFTED)} read 25% "
        f"higher (a new slide scanner), {FLIPPED:.0%} of the labels flipped"
    )
    people.login("alice")
    governance(
        "monitoring", "ingest", MODEL, VERSION, str(path),
        "--labels", "label", "--time", "observed_at",
    )  # fmt: skip

    step(f"22. the retirement audit on demand: {VERSION} breaches accuracy and drift -> retire")
    print("(the card's min_accuracy is 0.9; 1.3.0, production, is the successor)")
    host("audit-retirement", "--now")

    step(f"23. the Evidently drift report the audit stored for {VERSION} (not opened here)")
    out = governance("monitoring", "report", MODEL, VERSION)
    _describe_report(Path(out.strip().splitlines()[-1]))

    step("24. the retirement review waits for ml_lead and risk_officer; both approve with codes")
    run_id = _review_run(VERSION)
    suspended(run_id)  # its first role is asked: the pending list shows the run
    governance("approvals", "pending")
    key = None
    for who, role in REVIEW_ROLES:
        key = suspended(run_id, key)
        approve(people, run_id, who, role)
    if finished(run_id) != "Deprecated":
        raise SystemExit(f"demo: the retirement review of {VERSION} did not deprecate it")
    governance("models", "show", f"{MODEL}@{VERSION}")
    print(f"{ENDPOINT}: the acme flag and the idle blue/green slot no longer name {VERSION}")
    governance("endpoints", "show", ENDPOINT)

    sunset = _sunset(VERSION)
    step(f"25. retire-deprecated with its clock one day past the sunset ({sunset:%Y-%m-%d})")
    print(
        "(a deployed sweep reads the real clock; the demo runs it in its own process with the"
        " clock a month ahead: every deprecated version past its sunset goes)"
    )
    _sweep(sunset + timedelta(days=1))
    governance("models", "list", "--name", MODEL)
    if _routing_mentions(VERSION):
        raise SystemExit(f"demo: {ENDPOINT}'s routing still names {VERSION}")
    print(f"{ENDPOINT}'s routing spec names {VERSION} nowhere (traffic, flags, slots, A/B)")

    step("26. monitoring status: each audited version's latest verdict and findings")
    print(f"(from now on the nightly audit checks only 1.3.0: {VERSION} serves nothing)")
    governance("monitoring", "status", MODEL)
