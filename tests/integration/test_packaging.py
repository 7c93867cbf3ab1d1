"""The built wheel carries what an installed copy needs: the example policy and the migrations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What pyproject.toml builds from: its package finder and its readme.
SOURCES = ("pyproject.toml", "README.md", "governance", "flows", "deployments")
MIGRATIONS = "governance/store/migrations"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (with pip, as a user would) from a copy of the working tree."""
    # Build from a copy so setuptools' build/ and egg-info never land in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("governance-*.whl")
    return built


def test_wheel_contains_the_example_policy_and_every_migration(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = sorted(p.name for p in (ROOT / MIGRATIONS / "versions").glob("*.py"))
    assert versions, "no migrations found in the source tree"
    expected = {
        "governance/governance.example.yaml",
        f"{MIGRATIONS}/env.py",
        f"{MIGRATIONS}/script.py.mako",
        *(f"{MIGRATIONS}/versions/{name}" for name in versions),
    }
    assert expected - names == set()


def test_the_installed_package_finds_its_policy_and_migrates_a_database(wheel, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    # -S skips .pth files, so the checkout's editable install cannot shadow the wheel's copy;
    # the venv's site-packages is added by hand only for the dependencies.
    probe = f"""
import json, sys
sys.path[:0] = [{str(unpacked)!r}, {sysconfig.get_paths()["purelib"]!r}]
import sqlalchemy as sa
import governance.config as config
from governance.store.schema import head_revision, upgrade
policy = config.load_policy(config.EXAMPLE_POLICY)
engine = sa.create_engine("sqlite:///" + {str(tmp_path / "g.db")!r})
print(json.dumps({{
    "config": config.__file__,
    "example": str(config.EXAMPLE_POLICY),
    "exists": config.EXAMPLE_POLICY.is_file(),
    "roster": sorted(policy.roster),
    "upgrade": list(upgrade(engine)),
    "head": head_revision(),
}}))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    package = unpacked / "governance"
    assert seen["config"] == str(package / "config.py")
    assert seen["example"] == str(package / "governance.example.yaml")
    assert seen["exists"] is True
    assert {"alice", "bob", "carol", "dave", "erin"} <= set(seen["roster"])
    assert seen["upgrade"] == [None, seen["head"]]
