"""CI's phase timing (``.ci/timing.sh``): every phase's seconds in a table, and a warning past the budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ci(script: str, budget: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source .ci/timing.sh; {script}; CI_BUDGET_S={budget} report"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_each_phase_is_timed_and_a_run_over_budget_names_its_slowest_phase() -> None:
    result = _ci('phase "quick one" true; phase "slow one" sleep 2; record_phase "roots" 90', budget=1)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| CI phase | seconds |"
    assert rows[1] == "| quick one | 0 |"
    assert rows[2] in ("| slow one | 2 |", "| slow one | 3 |")
    assert rows[3] == "| roots (background) | 90 |"
    assert rows[4].startswith("| total | ")
    # The background phase took longest, but the foreground's waits hold its cost: the slowest is "slow one".
    assert result.stdout.splitlines()[-1].startswith("WARNING: CI took ")
    assert "over its budget of 1 s; the slowest phase is 'slow one' (" in result.stdout


def test_a_run_within_budget_has_no_warning_and_a_failing_phase_keeps_its_status() -> None:
    result = _ci('phase "fails" false || echo "status $?"', budget=2700)
    assert "status 1" in result.stdout and "| fails | 0 |" in result.stdout
    assert "WARNING" not in result.stdout
