"""``edgerank demo``: train, convert, evaluate, score, recommend and bench on MovieLens.

It shows every stage once, in minutes; what takes longer is left to the
commands it prints: the new-users curve and the five folds (``edgerank
eval``), the benchmark matrix of every variant and runtime against the
SavedModel (``edgerank bench``) and the retrieval index by catalogue size
(``edgerank bench retrieval``).

Every stage is ``edgerank <stage>`` in a process of its own, and the stages
hand over through the artifact files, as they would on separate machines: no
TensorFlow runtime is alive (and busy) while the edge client scores or the
benchmarks measure. The conversions, which do not depend on each other, run
two at a time.

With the default preset (``best``) the device runs the history model: the
demo writes a new user's ratings to ``demo_history.csv`` and scores and
recommends from them on the device, with no user id and no server. With
``--preset tutorial`` there is no history model: it scores user 42 by id and
recommends from the server's ScaNN candidates (two-stage, hand-off file).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from converters.config import VARIANTS
from edge_runtime import atomic
from edge_runtime.errors import EdgeRankError
from edgerank.flags import config_to_argv
from trainer.config import TrainConfig

log = logging.getLogger("edgerank")

#: Titles the demo ranks to show the edge client at work.
DEMO_CANDIDATES = ("Speed (1994)", "M*A*S*H (1970)", "Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)")
#: The user the id model scores and recommends for (``--preset tutorial``).
DEMO_USER = "42"
#: A new user's own ratings, which the history model scores and recommends from.
DEMO_HISTORY = (("Raiders of the Lost Ark (1981)", 5), ("Empire Strikes Back, The (1980)", 5),
                ("Terminator, The (1984)", 4), ("Sleepless in Seattle (1993)", 2), ("Casablanca (1942)", 3))
#: The bundle the device stages use, as every default does: the smallest variant that passes the
#: order gate and scores no slower than float32 (dynamic is about as small, but its hybrid kernels are slower).
DEVICE_VARIANT = "int8"
#: Independent stages (the conversions) run this many at a time: each keeps about one core busy.
PARALLEL_STAGES = 2


class DemoError(EdgeRankError):
    """A stage of ``edgerank demo`` failed; that stage has printed why."""


def run_stage(*arguments: str, show: str = "all", verbose: bool = False) -> None:
    """Runs ``edgerank ARGUMENTS`` in a child process (``-v`` too when ``verbose``).

    Args:
        arguments: The subcommand and its flags.
        show: ``all`` (its output and messages), ``messages`` (its standard error only: log lines and
            progress bars) or ``none`` (both are kept and shown only if it fails).
        verbose: Pass ``-v``: the native libraries' logs too.

    Raises:
        DemoError: The stage exited with a non-zero status (its message is above).
    """
    stdout = None if show == "all" else subprocess.DEVNULL if show == "messages" else subprocess.PIPE
    stderr = subprocess.PIPE if show == "none" else sys.stderr
    stage = subprocess.run([sys.executable, "-m", "edgerank", *(["-v"] if verbose else []), *arguments],
                           stdout=stdout, stderr=stderr, text=True)
    if stage.returncode != 0:
        if show == "none":
            print((stage.stdout or "") + (stage.stderr or ""), file=sys.stderr, end="")
        raise DemoError(f"`edgerank {arguments[0]}` failed with status {stage.returncode} (its message is above)")


def run_together(stages: Sequence[Sequence[str]], verbose: bool = False) -> None:
    """Runs independent stages ``PARALLEL_STAGES`` at a time, each as ``run_stage`` with ``show="none"``.

    Raises:
        DemoError: A stage failed (the first one listed, once all have ended; its output is above).
    """
    with ThreadPoolExecutor(PARALLEL_STAGES) as pool:
        runs = [pool.submit(run_stage, *arguments, show="none", verbose=verbose) for arguments in stages]
    for run in runs:
        run.result()


def run_demo(config: TrainConfig, verbose: bool = False) -> None:
    """Runs every stage into ``config.output_dir`` and ends with a summary table (see the module docstring).

    Args:
        config: The training configuration (its preset decides which device model the demo shows).
        verbose: Show the stages' native library logs too.
    """
    output = Path(config.output_dir)
    data = str(output / "data" / "test.npz")
    train_split = str(output / "data" / "train.npz")

    def stage(*arguments: str, show: str = "all") -> None:
        run_stage(*arguments, show=show, verbose=verbose)

    log.info("[1/6] Training (%s preset) into %s/", config.preset, output)
    stage("train", *config_to_argv(config), show="messages")
    has_history = "history" in json.loads((output / "metrics.json").read_text())
    comparison = None
    if config.preset != "tutorial":
        comparison = output / "tutorial"
        log.info("[2/6] Training the tutorials' models for comparison (--preset tutorial) into %s/", comparison)
        tutorial = dataclasses.replace(TrainConfig.from_preset("tutorial"), log=config.log, seed=config.seed,
                                       split=config.split, output_dir=str(comparison))
        stage("train", *config_to_argv(tutorial), show="none")

    log.info("[3/6] Converting and validating the bundles (edge/)")
    bundles = {variant: output / "edge" / name for variant, name in VARIANTS.items()}
    conversions = [("convert", "--saved-model", str(output / "ranking"), "--quantize", variant, "--output",
                    str(bundle), "--validation-data", data, "--calibration-data", train_split)
                   for variant, bundle in bundles.items()]
    device_bundle = bundles[DEVICE_VARIANT]
    if has_history:
        device_bundle = output / "edge" / f"history-{VARIANTS[DEVICE_VARIANT]}"
        conversions.insert(0, ("convert", "--saved-model", str(output / "history"), "--quantize", DEVICE_VARIANT,
                               "--output", str(device_bundle), "--validation-data", data, "--history-data",
                               train_split))
    run_together(conversions, verbose)
    all_bundles = [*bundles.values(), *([device_bundle] if has_history else [])]
    for bundle in all_bundles:
        description = json.loads((bundle / "manifest.json").read_text())
        figures = description["metrics"]
        log.info("      %-20s %6.0f KB  test RMSE %.4f  top-10 overlap %.4f  pairs in order %.4f", bundle.name,
                 description["size_bytes"] / 1024, figures["test_rmse"], figures["top_10_overlap"],
                 figures["pair_agreement"])

    log.info("[4/6] Evaluating against the classic baselines (eval/)")
    # AutoRec would be retrained on each of the five folds, and once more without the new users: the demo
    # evaluates on the seed-42 split only, and `edgerank eval` does the rest.
    folds = ["--no-folds", "--no-new-users"] if config.ranking.model == "autorec" else []
    source = ["--data", config.log.data] if config.log.data else []
    skip = ["--skip-bad-rows"] if config.log.skip_bad_rows else []
    stage("eval", "--artifacts", str(output), "--output-dir", str(output / "eval"), *folds, *source, *skip,
          show="messages")
    if folds:
        log.info("      New users and the five u1-u5 folds: edgerank eval --artifacts %s (retrains AutoRec)", output)
    if comparison is not None:  # the baselines are the same: the table takes them from the first eval
        stage("eval", "--artifacts", str(comparison), "--output-dir", str(comparison / "eval"), "--no-folds",
              "--no-new-users", "--no-baselines", *source, *skip, show="none")

    if has_history:
        ratings = output / "demo_history.csv"
        atomic.write_bytes(ratings, "".join(f'"{title}",{rating}\n' for title, rating in DEMO_HISTORY).encode())
        log.info("[5/6] On the device, from a new user's own ratings (%s): no user id, no server", ratings)
        stage("score", "--model", str(device_bundle), "--history", str(ratings), *DEMO_CANDIDATES)
        stage("recommend", "--model", str(device_bundle), "--history", str(ratings), "--k", "5")
    else:
        log.info("[5/6] On the device, for user %s", DEMO_USER)
        stage("score", "--model", str(device_bundle), "--user", DEMO_USER, *DEMO_CANDIDATES)
        handoff = output / "handoff" / f"{DEMO_USER}.json"
        stage("retrieve", "--retrieval", str(output / "retrieval"), "--user", DEMO_USER, "--output", str(handoff),
              show="none")
        log.info("      Two-stage recommend for user %s: 300 candidates retrieved on the server, ranked on the "
                 "device:", DEMO_USER)
        stage("recommend", "--user", DEMO_USER, "--k", "5", "--model", str(device_bundle), "--handoff", str(handoff))

    log.info("[6/6] Benchmarking the device bundle (bench/edge.json)")
    stage("bench-edge", "--model", str(device_bundle), "--data", data, "--output", str(output / "bench" / "edge.json"))
    log.info("      Every variant and runtime against the SavedModel: edgerank bench --saved-model %s --models %s "
             "--data %s --output-dir %s", output / "ranking", " ".join(map(str, all_bundles)), data, output / "bench")
    log.info("      The retrieval index by catalogue size: edgerank bench retrieval --movielens %s --output-dir %s",
             output / "retrieval", output / "bench" / "retrieval")
    print(summary_table(output, comparison, device_bundle))


#: Rows of the closing table: (label, where the figures are, keys in that eval's ``test``: ranking, retrieval).
SUMMARY_ROWS = (
    ("global mean (baseline)", "main", ("global_mean",)),
    ("user/item biases (baseline)", "main", ("biases",)),
    ("biased MF (baseline)", "main", ("biased_mf",)),
    ("popularity (baseline)", "main", ("popularity",)),
    ("implicit ALS (baseline)", "main", ("implicit_als",)),
    ("tutorials' ranker / retrieval", "tutorial", ("edgerank_ranker", "edgerank_retrieval")),
    ("int8 ranker by user id / ScaNN on the server", "main", ("edgerank_ranker_int8_tflite", "edgerank_retrieval")),
    ("history model, int8 on the device, no user id", "main",
     ("edgerank_history_int8_tflite", "edgerank_history_retrieval_int8_tflite")),
)


def summary_table(output: Path, comparison: Path | None, device_bundle: Path) -> str:
    """The demo's closing table: the baselines, the tutorial models and the run's models on the same test split."""
    results = {"main": json.loads((output / "eval" / "results.json").read_text())["test"]}
    if comparison is not None:
        results["tutorial"] = json.loads((comparison / "eval" / "results.json").read_text())["test"]

    def cell(figures: dict, key: str) -> str:
        return f"{figures[key]:.4f}" if key in figures else ""

    lines = ["Test split (seed 42, 20,000 ratings): lower RMSE and higher top-k are better.",
             f"| {'model':<46} | test RMSE | top-100, all titles | top-10, unseen titles |",
             f"|{'-' * 48}|-----------|---------------------|-----------------------|"]
    for label, source, keys in SUMMARY_ROWS:
        figures = {name: value for key in keys for name, value in results.get(source, {}).get(key, {}).items()}
        if figures:
            lines.append(f"| {label:<46} | {cell(figures, 'rmse'):>9} | {cell(figures, 'all_top_100'):>19} | "
                         f"{cell(figures, 'unseen_top_10'):>21} |")
    bench = json.loads((output / "bench" / "edge.json").read_text())
    if bench.get("kind") == "history":
        lines.append(f"\nOn this machine ({device_bundle.name}, {bench['size_bytes'] / 2**20:.1f} MB, 1 thread, p50): "
                     f"personalize {bench['personalize']['p50_us']:.0f} µs, score 100 titles "
                     f"{bench['score']['p50_us']:.0f} µs, recommend top 10 {bench['recommend']['p50_us']:.0f} µs.")
    lines.append(f"Everything is in {output}/: eval/results.md, bench/edge.json, edge/*/manifest.json.")
    return "\n".join(lines)
