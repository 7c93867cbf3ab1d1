"""GOVERNANCE_ANCHOR_INTERVAL_SECONDS: validated like every setting, and the audit-anchor
deployment's schedule when served (issue 16 item 18: anchor more often than hourly)."""

from __future__ import annotations

import os

import pytest

from deployments.anchor_schedule import anchor_schedule, schedule_object
from deployments.serve import schedules
from governance.config import EXAMPLE_POLICY, load_settings
from governance.domain.errors import ConfigError

VARIABLE = "GOVERNANCE_ANCHOR_INTERVAL_SECONDS"


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No GOVERNANCE_* variable but the example policy."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("GOVERNANCE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", "Input should be a valid integer, unable to parse string as an integer"),
        ("59", "Input should be greater than or equal to 60"),
        ("0", "Input should be greater than or equal to 60"),
        ("86401", "Input should be less than or equal to 86400"),
    ],
)
def test_a_bad_anchor_interval_is_named(clean_env, monkeypatch, value, words):
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"setting {VARIABLE}: {words}"


def test_the_default_anchors_hourly_on_the_hour(clean_env):
    assert load_settings().anchor_interval_seconds == 3600
    assert schedules()["audit-anchor"] == {"cron": "0 * * * *"}
    assert schedules()["retirement-audit"] == {"cron": "0 2 * * *"}


def test_the_served_deployment_anchors_at_the_configured_interval(clean_env, monkeypatch):
    monkeypatch.setenv(VARIABLE, "300")
    assert schedules()["audit-anchor"] == {"cron": "*/5 * * * *"}
    monkeypatch.setenv(VARIABLE, "90")
    assert schedules()["audit-anchor"] == {"interval": 90}


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (60, {"cron": "* * * * *"}),
        (900, {"cron": "*/15 * * * *"}),
        (3600, {"cron": "0 * * * *"}),
        (7200, {"cron": "0 */2 * * *"}),
        (86400, {"cron": "0 0 * * *"}),
        (2700, {"interval": 2700}),  # 45 minutes does not divide an hour: a plain interval
    ],
)
def test_an_interval_that_divides_the_clock_is_a_wall_clock_cron(seconds, expected):
    assert anchor_schedule(seconds) == expected
    made = schedule_object(seconds)
    if "cron" in expected:
        assert (made.cron, made.timezone) == (expected["cron"], "UTC")
    else:
        assert made.interval.total_seconds() == seconds
