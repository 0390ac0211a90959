"""Two workers on this machine train the best preset under MultiWorkerMirroredStrategy, as one worker does.

Each worker is an ``edgerank train`` process with its own ``TF_CONFIG`` on
127.0.0.1 ports, the README's command for N machines. The figures they agree
on, and the tolerances: AutoRec's test RMSE and last training loss within
0.002 (its batches are split between the workers and their gradients summed:
the same sums, in another order); the history retrieval, whose visible/target
draws depend on each worker's share of a batch, within 0.05 on its top-k hit
rates and 10% on its loss; the history model's RMSE within 0.01.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

#: Keeps the run short: the best preset, with fewer epochs.
FLAGS = ["--user-column", "user", "--item-column", "item", "--rating-column", "rating", "--time-column", "time",
         "--ranking-autorec-max-epochs", "40", "--history-max-epochs", "8"]


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 users rate 25 of 60 items each, from a planted rank-3 model."""
    rng = np.random.default_rng(0)
    taste = rng.normal(size=(120, 3)) @ rng.normal(size=(3, 60))
    lines = ["user,item,rating,time"]
    for user in range(120):
        for item in rng.choice(60, 25, replace=False):
            rating = np.clip(np.round(3 + taste[user, item] + rng.normal(0, 0.3)), 1, 5)
            lines.append(f"u{user},i{item},{rating:g},{len(lines)}")
    path = tmp_path_factory.mktemp("log") / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def _start(log: Path, output: Path, workers: int, started: list[int] | None = None,
           extra: list[str] = ()) -> list[subprocess.Popen]:
    """Starts ``edgerank train`` as each worker of a cluster (or, with ``started``, only those indices)."""
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(workers)]
    processes = []
    for index in range(workers) if started is None else started:
        env = dict(os.environ)
        env.pop("TF_CONFIG", None)
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                           "task": {"type": "worker", "index": index}})
        command = [sys.executable, "-m", "edgerank", "train", "--data", str(log),
                   "--output-dir", str(output / f"worker-{index}"), *FLAGS, *extra]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
    return processes


def _finish(processes: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for each in processes:
                each.kill()
            raise
        results.append((process.returncode, out, err))
    return results


def test_two_workers_train_the_best_preset_as_one_worker_does(small_log: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    [(status, out, err)] = _finish(_start(small_log, tmp_path / "one", 1))
    one_seconds = time.perf_counter() - started
    assert status == 0, err[-3000:]
    started = time.perf_counter()
    results = _finish(_start(small_log, tmp_path / "two", 2))
    two_seconds = time.perf_counter() - started
    assert all(status == 0 for status, _, _ in results), [err[-3000:] for _, _, err in results]
    print(f"best preset on the small log: 1 worker {one_seconds:.1f} s, 2 workers {two_seconds:.1f} s")

    one = json.loads((tmp_path / "one" / "worker-0" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "worker-0" / "metrics.json").read_text())
    assert two["distribution"] == {"strategy": "MultiWorkerMirroredStrategy", "replicas": 2, "workers": 2,
                                   "chief": True}
    # Only the chief writes: the other worker's output folder is never made, and it says so.
    assert not (tmp_path / "two" / "worker-1").exists()
    assert "as one of 2 workers (the chief wrote the artifacts)" in results[1][1]
    assert (tmp_path / "two" / "worker-0" / "history" / "1" / "saved_model.pb").is_file()

    assert two["ranking"]["epochs"] == one["ranking"]["epochs"]
    assert two["ranking"]["rmse"] == pytest.approx(one["ranking"]["rmse"], abs=0.002)
    assert two["ranking"]["train_loss"] == pytest.approx(one["ranking"]["train_loss"], abs=0.002)
    for key in ("top_10", "top_100", "unseen_top_10", "unseen_top_50"):
        assert two["history"][key] == pytest.approx(one["history"][key], abs=0.05), key
    assert two["history"]["train_loss"] == pytest.approx(one["history"]["train_loss"], rel=0.1)
    assert two["history"]["rmse"] == pytest.approx(one["history"]["rmse"], abs=0.01)


def test_a_worker_that_dies_fails_the_run_with_a_clear_error(small_log: Path, tmp_path: Path) -> None:
    chief, other = _start(small_log, tmp_path, 2, extra=["--ranking-autorec-max-epochs", "100000",
                                                         "--ranking-autorec-patience", "100000"])
    try:
        time.sleep(20)  # both are training AutoRec by now
        assert chief.poll() is None and other.poll() is None
        other.send_signal(signal.SIGKILL)
        started = time.perf_counter()
        _, err = chief.communicate(timeout=180)
    finally:
        chief.kill()
        other.kill()
    assert chief.returncode == 2, err[-3000:]
    assert "edgerank train: the training cluster failed: a worker stopped answering" in err
    assert "restart them all" in err
    print(f"the chief stopped {time.perf_counter() - started:.0f} s after the other worker died")
    assert not (tmp_path / "worker-0" / "metrics.json").exists()  # nothing half-written


def test_a_worker_that_never_joins_fails_the_run_after_the_timeout(small_log: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    [(status, _, err)] = _finish(_start(small_log, tmp_path, 2, started=[0], extra=["--worker-timeout", "10"]))
    assert status != 0, err[-3000:]  # TensorFlow holds the process: it is ended, not returned from
    assert "did not join within 10 s" in err
    assert time.perf_counter() - started < 120
    assert not (tmp_path / "worker-0").exists()
