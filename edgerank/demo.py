"""``edgerank demo``: train, convert, evaluate, score, recommend and bench on MovieLens.

Every stage is ``edgerank <stage>`` in a process of its own, and the stages
hand over through the artifact files, as they would on separate machines: no
TensorFlow runtime is alive (and busy) while the edge client scores or the
benchmarks measure.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from converters.config import VARIANTS
from edge_runtime.errors import EdgeRankError
from edgerank.flags import config_to_argv
from trainer.config import TrainConfig

log = logging.getLogger("edgerank")

#: Titles the demo ranks for user 42 to show the edge client at work.
DEMO_CANDIDATES = ("Speed (1994)", "M*A*S*H (1970)", "Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)")
#: The user the demo scores and recommends for.
DEMO_USER = "42"
#: The bundle the device stages use, as every default does: the smallest variant that passes the
#: order gate and scores no slower than float32 (dynamic is about as small, but its hybrid kernels are slower).
DEVICE_VARIANT = "int8"


class DemoError(EdgeRankError):
    """A stage of ``edgerank demo`` failed; that stage has printed why."""


def run_stage(*arguments: str, show_output: bool = True) -> None:
    """Runs ``edgerank ARGUMENTS`` in a child process.

    Raises:
        DemoError: The stage exited with a non-zero status (its message is above).
    """
    stage = subprocess.run([sys.executable, "-m", "edgerank", *arguments],
                           stdout=None if show_output else subprocess.DEVNULL)
    if stage.returncode != 0:
        raise DemoError(f"`edgerank {arguments[0]}` failed with status {stage.returncode} (its message is above)")


def run_demo(config: TrainConfig) -> None:
    """Runs every stage into ``config.output_dir`` and logs a summary."""
    output = Path(config.output_dir)
    data = str(output / "data" / "test.npz")

    run_stage("train", *config_to_argv(config))
    bundles = {variant: output / "edge" / name for variant, name in VARIANTS.items()}
    for variant, bundle in bundles.items():
        run_stage("convert", "--saved-model", str(output / "ranking"), "--quantize", variant, "--output", str(bundle),
                  "--validation-data", data, "--calibration-data", str(output / "data" / "train.npz"),
                  show_output=False)
    run_stage("eval", "--artifacts", str(output), "--output-dir", str(output / "eval"),
              *(["--data", config.data] if config.data else []))
    log.info("Scoring user %s on the edge runtime:", DEMO_USER)
    run_stage("score", "--model", str(bundles[DEVICE_VARIANT]), "--user", DEMO_USER, *DEMO_CANDIDATES)
    handoff = output / "handoff" / f"{DEMO_USER}.json"
    run_stage("retrieve", "--retrieval", str(output / "retrieval"), "--user", DEMO_USER, "--output", str(handoff))
    log.info("Two-stage recommend for user %s: 300 candidates retrieved on the server side, ranked on the device:",
             DEMO_USER)
    run_stage("recommend", "--user", DEMO_USER, "--k", "5", "--model", str(bundles[DEVICE_VARIANT]),
              "--handoff", str(handoff))
    run_stage("bench-edge", "--model", str(bundles[DEVICE_VARIANT]), "--data", data,
              "--output", str(output / "bench" / "edge.json"), show_output=False)
    run_stage("bench", "--saved-model", str(output / "ranking"), "--models", *map(str, bundles.values()),
              "--data", data, "--output-dir", str(output / "bench"))
    run_stage("bench", "retrieval", "--movielens", str(output / "retrieval"), "--output-dir",
              str(output / "bench" / "retrieval"))

    metrics = json.loads((output / "metrics.json").read_text())
    log.info("Done: ranking RMSE %.4f; retrieval top-10 %.4f, top-100 %.4f. Artifacts in %s/",
             metrics["ranking"]["rmse"], metrics["retrieval"]["top_10"], metrics["retrieval"]["top_100"], output)
    for variant, bundle in bundles.items():
        description = json.loads((bundle / "manifest.json").read_text())
        figures = description["metrics"]
        log.info("  %-8s %4.0f KB, test RMSE %.4f, top-10 overlap %.3f, pairs in order %.4f, max |diff| %.1e, %s",
                 VARIANTS[variant], description["size_bytes"] / 1024, figures["test_rmse"],
                 figures["top_10_overlap"], figures["pair_agreement"], figures["max_abs_diff"], bundle)
