"""The ``edgerank`` command: train, eval, convert, bundle, score, retrieve, recommend, info, bench, bench-edge, demo.

``score``, ``info``, ``recommend`` (from a hand-off file) and ``bench-edge``
run on a device, so this module imports nothing heavy: the other subcommands
import TensorFlow inside their handlers. Their flags are generated from the
stages' config dataclasses, one flag per field (``edgerank.flags``), so the
dataclass defaults are the CLI defaults.

Exit status: 0 on success, 2 with a one-line message on standard error for
bad input (a missing model or data file, an unknown backend, …).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.backend import BACKEND_NAMES, NATIVE_LOGGER, load_backend
from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import write_handoff
from edge_runtime.ranker import EdgeRanker, InputError
from edgerank.default_model import remember_bundle
from edgerank.flags import add_config_arguments, config_from_args
from edgerank.history_file import history_notes
from edgerank.output import hide_native_logs
from edgerank.recommend import RecommendConfig, recommend
from edgerank.score import ScoreConfig, score_in_child, score_request
from trainer.config import DEFAULT_PRESET

log = logging.getLogger("edgerank")

#: The extras beyond the edge client, by the modules they install (looked up, not imported).
EXTRAS = {"train": ("tensorflow", "tf_keras", "tensorflow_recommenders", "tensorflow_datasets", "pyarrow",
                    "scipy"),
          "bench": ("matplotlib", "tqdm")}
#: The extras each subcommand needs; the others run where only the edge client is installed.
NEEDS = {"train": ("train",), "eval": ("train",), "convert": ("train",), "retrieve": ("train",),
         "bench": ("train", "bench"), "demo": ("train", "bench")}


def missing_extra(command: str) -> tuple[str, str] | None:
    """The first extra ``command`` needs that is not installed, with a module it lacks; ``None`` if none is."""
    for extra in NEEDS.get(command, ()):
        for module in EXTRAS[extra]:
            if importlib.util.find_spec(module) is None:
                return extra, module
    return None


# --- subcommands ------------------------------------------------------------


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def _emit(args: argparse.Namespace, payload: Any, lines: list[str]) -> None:
    """Prints ``payload`` as JSON with ``--json``, else the human ``lines``."""
    if getattr(args, "json", False):
        _print_json(payload)
    else:
        print("\n".join(lines))


def _ranked_lines(candidates: list[dict], header: str) -> list[str]:
    """A ranking as a person reads it: rank, predicted rating (or preference), title, or name and id (and what
    the model did not know)."""
    rows = [f"{rank:>4}. {c['score']:.2f}  "
            + (f"{c['name']}  ({c['movie_title']})" if c.get("name", c["movie_title"]) != c["movie_title"]
               else c["movie_title"])
            + ("" if c["known"] else "  (unknown title)") for rank, c in enumerate(candidates, 1)]
    return [header, *rows] if rows else [header, "     (no candidates)"]


def _quiet_tensorflow() -> None:
    # TensorFlow's Python loggers narrate saving and tracing at INFO/WARNING.
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_train(args: argparse.Namespace) -> None:
    from trainer.config import TrainConfig
    from trainer.pipeline import train

    config = config_from_args(TrainConfig, args)
    metrics = train(config)
    summary = {key: metrics[key] for key in ("ranking", "retrieval", "history") if key in metrics}
    ranker = (f"ranker ({config.ranking.model}) test RMSE {metrics['ranking']['rmse']:.4f}" if "ranking" in metrics
              else "no ranker (implicit feedback)")
    written = f"into {config.output_dir}/"
    if not metrics["distribution"].get("chief", True):
        written = f"as one of {metrics['distribution']['workers']} workers (the chief wrote the artifacts)"
    lines = [f"Trained ({config.preset} preset) {written}: {ranker}; retrieval "
             f"({config.retrieval.model}) top-100 {metrics['retrieval']['top_100']:.4f}",
             f"Data: {metrics['data']['schema_summary']}"]
    if "history" in metrics and "recall_at_20" in metrics["history"]:
        lines.append(f"History model: test recall@20 {metrics['history']['recall_at_20']:.4f}, NDCG@20 "
                     f"{metrics['history']['ndcg_at_20']:.4f} over each user's unseen items")
    elif "history" in metrics:
        lines.append(f"History model: warm-user RMSE {metrics['history']['rmse']:.4f}, retrieval top-100 "
                     f"{metrics['history']['top_100']:.4f}, unseen top-10 {metrics['history']['unseen_top_10']:.4f}")
    _emit(args, summary, lines)


def cmd_eval(args: argparse.Namespace) -> None:
    from trainer.config import EvalConfig
    from trainer.evaluation import markdown_table, run_eval

    report = run_eval(config_from_args(EvalConfig, args))
    _emit(args, report, [markdown_table(report)])


def cmd_convert(args: argparse.Namespace) -> None:
    from converters.config import ConvertConfig
    from converters.tflite import convert_ranker

    report = convert_ranker(config_from_args(ConvertConfig, args))
    remember_bundle(report.bundle)  # the default --model of score and recommend from now on
    figures = report.validation
    implicit = json.loads((Path(report.bundle) / "manifest.json").read_text()).get(
        "architecture", {}).get("feedback") == "implicit"
    # Preferences are no ratings: an RMSE against weights would mean nothing.
    error = "" if implicit else f"test RMSE {figures.test_rmse:.4f} (SavedModel {figures.saved_model_test_rmse:.4f}), "
    _emit(args, dataclasses.asdict(report), [
        f"Wrote {report.bundle} ({report.quantization}, {report.size_bytes / 1024:.0f} KB, runtime >= "
        f"{report.min_runtime_version}): {error}max |difference| {figures.max_abs_diff:.2g}, "
        f"top-10 overlap {figures.top_10_overlap:.4f}, pairs in order {figures.pair_agreement:.4f}"])


def cmd_bundle(args: argparse.Namespace) -> None:
    from converters.bundle import ANDROID_ASSET_DIR, android_snippet, copy_bundle
    from converters.config import BundleConfig

    config = config_from_args(BundleConfig, args)
    written = copy_bundle(config.model, config.out, android=config.android)
    kotlin = android_snippet(ANDROID_ASSET_DIR, kind=json.loads((written / "manifest.json").read_text()).get(
        "kind", "user_id")) if config.android else None
    lines = [f"Wrote the bundle to {written}"]
    if kotlin:
        lines += [f"Merge {config.out} into your app's src/main/assets; this Kotlin loads and runs it:", "", kotlin]
    _emit(args, {"bundle": str(written), "android": config.android, "kotlin": kotlin}, lines)


def cmd_retrieve(args: argparse.Namespace) -> None:
    from trainer.config import RetrieveConfig
    from trainer.retrieval_serving import retrieve

    config = config_from_args(RetrieveConfig, args)
    if not config.user:
        raise InputError("--user is required")
    handoff = retrieve(config.retrieval, config.user, config.k, config.exclude_rated)
    if config.output:
        write_handoff(config.output, handoff)
        log.info("Wrote %d candidates for user %s to %s", len(handoff.titles), config.user, config.output)
    else:
        _emit(args, dataclasses.asdict(handoff), [f"{len(handoff.titles)} candidates for user {config.user}:", *(
            f"{rank:>4}. {score:.3f}  {title}" for rank, (title, score)
            in enumerate(zip(handoff.titles, handoff.retrieval_scores), 1))])


def cmd_recommend(args: argparse.Namespace) -> None:
    config = config_from_args(RecommendConfig, args)
    result = recommend(config)
    warn_history(result)
    if result["returned"] < config.k:
        limit = result["retrieval"].get("recommend_k")
        why = (f"the bundle's recommend returns at most {limit} titles (recommend_k in its manifest)"
               if limit is not None and config.k > limit else f"only {result['retrieval']['candidates']} candidates")
        print(f"edgerank: returning {result['returned']} recommendations, not the {config.k} asked for: {why}",
              file=sys.stderr)
    who = (f"your {result['history']['rated']} ratings (on the device, no server)" if "history" in result
           else f"user {result['user_id']}")
    _emit(args, result, _ranked_lines(result["recommendations"], f"Recommended for {who}, {result['backend']}:"))


def warn_score(result: dict, unknown: str) -> None:
    """Names, on standard error, what the model did not know or matched: the user, history titles, candidates."""
    if result.get("user_known") is False:
        shown = f"user {result['user_id']!r}" if result["user_id"] else "an empty user id"
        print(f"edgerank: the model does not know {shown}: its scores are the average (out-of-vocabulary) "
              "user's", file=sys.stderr)
    warn_history(result)
    for entry in result["matched_candidates"]:
        print(f"edgerank: candidate {entry['given']!r} taken as {entry.get('name', entry['title'])!r}",
              file=sys.stderr)
    fate = {"last": "ranked after every known title", "drop": "left out",
            "score": "scored as an unrated title"}[unknown]
    for entry in result["unknown_candidates"]:
        guess = f": did you mean {' or '.join(map(repr, entry['did_you_mean']))}?" if entry["did_you_mean"] else ""
        print(f"edgerank: unknown title {entry['movie_title']!r} ({fate}){guess}", file=sys.stderr)


def warn_history(result: dict) -> None:
    """Prints the notes on the user's history file (``edgerank.history_file``) on standard error."""
    for note in history_notes(result["history"]) if "history" in result else ():
        print(f"edgerank: {note}", file=sys.stderr)


def cmd_score(args: argparse.Namespace) -> None:
    config = config_from_args(ScoreConfig, args)
    result = score_request(config) if config.verify else score_in_child(config)
    warn_score(result, config.unknown)
    who = f"user {result['user_id']}" if result["user_id"] is not None else "your history"
    what = "Preferences (higher: more likely chosen)" if result.get("scores") == "preferences" else "Predicted ratings"
    _emit(args, result, _ranked_lines(result["candidates"], f"{what} for {who}, best first ({result['backend']}):"))


def cmd_info(args: argparse.Namespace) -> None:
    import numpy

    info: dict[str, Any] = {"edgerank": _version(), "python": sys.version.split()[0], "numpy": numpy.__version__}
    backend = load_backend(args.backend)
    info["backend"] = {"name": backend.name, "version": backend.version}
    if args.model:
        ranker = EdgeRanker(args.model, backend=backend, verify=args.verify)
        info["model"] = {"path": str(ranker.model.path), "size_bytes": len(ranker.model.content),
                         "verified": ranker.manifest is not None, "signature": ranker.signature(),
                         "manifest": ranker.manifest}
    lines = [f"edgerank {info['edgerank']}, Python {info['python']}, numpy {info['numpy']}, "
             f"backend {backend.name} {backend.version}"]
    if args.model:
        model = info["model"]
        manifest = model["manifest"] or {}
        lines.append(f"{model['path']}: {model['size_bytes']:,} bytes, {manifest.get('kind', 'unverified')} model "
                     f"{manifest.get('version', '')}, verified: {model['verified']}")
    _emit(args, info, lines)


def cmd_bench_edge(args: argparse.Namespace) -> None:
    from benchmarks.config import EdgeBenchConfig
    from benchmarks.edge_latency import run_edge_benchmark, summary

    config = config_from_args(EdgeBenchConfig, args)
    report = run_edge_benchmark(config)
    _emit(args, report, [summary(report), f"Wrote {config.output}"])


def cmd_bench(args: argparse.Namespace) -> None:
    from benchmarks.config import BenchConfig
    from benchmarks.matrix import run_matrix

    config = config_from_args(BenchConfig, args)
    report = run_matrix(config)
    _emit(args, report, [f"Wrote {config.output_dir}/: results.json, results.md and the plots"])


def cmd_bench_retrieval(args: argparse.Namespace) -> None:
    from benchmarks.config import RetrievalBenchConfig
    from benchmarks.retrieval import run_retrieval_bench

    report = run_retrieval_bench(config_from_args(RetrievalBenchConfig, args))
    lines = []
    for name, corpus in report["corpora"].items():
        derived = next(point for point in corpus["scann"] if point["derived"])
        lines.append(f"{name}: N={corpus['candidates']:,}: ScaNN recall@10 {derived['recall_at_10']:.4f}, "
              f"@100 {derived['recall_at_100']:.4f}, p50 {derived['p50_us']:.1f} µs; exact p50 "
              f"{corpus['brute_force']['numpy_argpartition']['p50_us']:.0f} µs (argpartition), "
              f"{corpus['brute_force']['numpy_argsort']['p50_us']:.0f} µs (argsort): "
              f"{corpus['speedup_p50']['numpy_argpartition']:.0f}× / {corpus['speedup_p50']['numpy_argsort']:.0f}× faster")
    _emit(args, report, lines)


def cmd_bench_history_scale(args: argparse.Namespace) -> None:
    from benchmarks.config import HistoryScaleConfig
    from benchmarks.history_scale import run_history_scale

    from benchmarks.edge_latency import summary

    config = config_from_args(HistoryScaleConfig, args)
    report = run_history_scale(config)
    _emit(args, report, [f"{config.titles:,} generated titles, {config.quantize}: {report['size_bytes'] / 2**20:.1f} MB; "
                         + summary(report), f"Wrote {config.output}"])


def cmd_bench_heavy_users(args: argparse.Namespace) -> None:
    from benchmarks.config import HeavyUsersConfig
    from benchmarks.heavy_users import write_heavy_user_log

    written = write_heavy_user_log(config_from_args(HeavyUsersConfig, args))
    folder = written["output_dir"]
    _emit(args, written, [
        f"Wrote {folder}/ratings.csv and movies.csv: {written['ratings']:,} ratings by {written['users']} users of "
        f"{written['titles']:,} titles; users by ratings: {written['users_by_history']}",
        f"Next: edgerank train --data {folder} --output-dir {folder}-artifacts, then edgerank eval --artifacts "
        f"{folder}-artifacts --data {folder} --no-folds"])


def cmd_bench_train_scale(args: argparse.Namespace) -> None:
    from benchmarks.config import TrainScaleConfig
    from benchmarks.train_scale import run_train_scale

    config = config_from_args(TrainScaleConfig, args)
    report = run_train_scale(config)
    lines = []
    for entry in report["scales"]:
        log, quality = entry["log"], entry["quality"]
        device = quality["models"]["history model, int8 on the device"]
        lines.append(f"scale {entry['scale']:g}: {log['ratings']:,} ratings, {log['users']:,} users, {log['items']:,} "
                     f"items; train + convert {entry['train_and_convert_seconds']:.0f} s, peak RSS "
                     f"{entry['peak_rss_mb'] / 1024:.2f} GiB")
        lines.append(f"  history model (int8, device): recall@20 {device['recall_at_20']:.4f} "
                     f"({quality['history_recall_share_of_planted']:.0%} of the planted model's "
                     f"{quality['planted']['recall_at_20']:.4f}), RMSE {device['rmse']:.4f} "
                     f"({quality['history_rmse_over_noise_floor']:.3f} × the noise floor "
                     f"{quality['planted']['rmse']:.4f}); implicit ALS recall@20 "
                     f"{quality['models']['implicit ALS']['recall_at_20']:.4f}")
    lines.append(f"Wrote {config.output_dir}/results.json and train_scale.png")
    _emit(args, report, lines)


def cmd_demo(args: argparse.Namespace) -> None:
    from edgerank.demo import run_demo
    from trainer.config import TrainConfig

    run_demo(config_from_args(TrainConfig, args), verbose=args.verbose)


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("edgerank")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``: edgerank's version and the interpreter backend that would run."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="Print versions and the backend, then exit.")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        try:
            backend = load_backend()
            runtime = f"{backend.name} {backend.version}"
        except EdgeRankError as error:
            runtime = f"no backend ({error})"
        print(f"edgerank {_version()} ({runtime})")
        parser.exit()


def _config_command(commands: Any, name: str, config: type, handler: Any, defaults: Any = None,
                    **kwargs: Any) -> argparse.ArgumentParser:
    """Adds subcommand ``name``, whose flags are the fields of dataclass ``config`` (their defaults
    ``defaults``'s values, else the dataclass's), run by ``handler``."""
    command = commands.add_parser(name, **kwargs)
    add_config_arguments(command, config, defaults=defaults)
    command.set_defaults(handler=handler)
    return command


def build_parser(preset: str = DEFAULT_PRESET) -> argparse.ArgumentParser:
    """The ``edgerank`` argument parser with every subcommand; ``train`` and ``demo`` start from ``preset``."""
    from benchmarks.config import (BenchConfig, EdgeBenchConfig, HeavyUsersConfig, HistoryScaleConfig,
                                   RetrievalBenchConfig, TrainScaleConfig)
    from converters.config import BundleConfig, ConvertConfig
    from trainer.config import EvalConfig, RetrieveConfig, TrainConfig

    parser = argparse.ArgumentParser(prog="edgerank", description="Recommendation ranking on the device: train on a "
                                     "server, convert, and score and recommend on the device.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Also show the native libraries' logs (TensorFlow, XLA, MLIR, ScaNN, absl, TFLite).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    configured = (
        ("train", TrainConfig, cmd_train,
         "Train the ranking, retrieval and history models on an interaction log (MovieLens or your own)."),
        ("eval", EvalConfig, cmd_eval, "Compare EdgeRank's models with classic baselines on the same splits."),
        ("convert", ConvertConfig, cmd_convert, "Convert a SavedModel to a validated, quantized bundle."),
        ("retrieve", RetrieveConfig, cmd_retrieve,
         "The server half of recommend: write a user's candidates to a hand-off file."),
        ("recommend", RecommendConfig, cmd_recommend,
         "Retrieve candidates (or read a hand-off file), rank them on the device and print the best k."),
        ("bundle", BundleConfig, cmd_bundle, "Verify a bundle and copy it, e.g. into an Android app's assets."),
    )
    for name, config, handler, help_text in configured:
        command = _config_command(commands, name, config, handler, help=help_text,
                                  defaults=TrainConfig.from_preset(preset) if config is TrainConfig else None)

    _config_command(commands, "score", ScoreConfig, cmd_score, help="Rank candidate titles for one user on the device.")

    info = commands.add_parser("info", help="Show the backend in use and, with --model, the model's contract.")
    info.add_argument("--model", default=None, help="A bundle folder, or a .tflite file.")
    info.add_argument("--backend", choices=BACKEND_NAMES, default=None,
                      help="Interpreter backend; without it, the first installed.")
    info.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                      help="Check the model against its manifest's SHA-256 (on unless --no-verify).")
    info.set_defaults(handler=cmd_info)

    _config_command(commands, "bench-edge", EdgeBenchConfig, cmd_bench_edge,
                    help="Time the edge client against the bare interpreter, and its cold start.")
    bench = _config_command(commands, "bench", BenchConfig, cmd_bench,
                            help="Measure the SavedModel against every edge contender: latency, memory, size, "
                                 "RMSE (and, as bench retrieval, ScaNN against exact search).")
    targets = bench.add_subparsers(dest="bench_target", metavar="{retrieval,history-scale,heavy-users,train-scale}")
    _config_command(targets, "retrieval", RetrievalBenchConfig, cmd_bench_retrieval,
                    help="Measure ScaNN against exact search as the catalogue grows.")
    _config_command(targets, "history-scale", HistoryScaleConfig, cmd_bench_history_scale,
                    help="Measure the history model's size and latency for a generated catalogue (59,047 titles).")
    _config_command(targets, "heavy-users", HeavyUsersConfig, cmd_bench_heavy_users,
                    help="Write a generated log with heavy users and a planted model, for train and eval.")
    _config_command(targets, "train-scale", TrainScaleConfig, cmd_bench_train_scale,
                    help="Train the best preset on a MovieLens-25M-shaped planted log (--scale 0.01 0.1 1): "
                         "time, memory and quality per stage.")
    _config_command(commands, "demo", TrainConfig, cmd_demo, defaults=TrainConfig.from_preset(preset),
                    help="Train, convert, score and bench on MovieLens into --output-dir.")
    for command in {id(sub): sub for sub in _subparsers(parser)}.values():
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="Also show the native libraries' logs.")
        if command.prog != "edgerank demo":  # the demo narrates its stages: there is no one result to print
            command.add_argument("--json", action="store_true",
                                 help="Print the whole result as JSON instead of a summary.")
    return parser


#: Flags of how much the terminal shows, besides each command's configuration fields.
OUTPUT_FLAGS = ("-v", "--verbose", "--json")
def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones (``bench retrieval``) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subparsers(sub)]
    return found


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses ``argv``; ``--preset`` sets the defaults of ``train`` and ``demo``, and flags given override it."""
    args = build_parser().parse_args(argv)  # an unknown --preset is refused here, as any flag's unknown choice
    preset = getattr(args, "preset", DEFAULT_PRESET)
    return build_parser(preset).parse_args(argv) if preset != DEFAULT_PRESET else args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``edgerank``; returns the exit status."""
    args = parse_args(argv)
    missing = missing_extra(args.command)
    if missing:
        extra, module = missing
        print(f"edgerank {args.command}: needs the {extra} extra, which is not installed here (no module {module}): "
              f"pip install 'edgerank[{extra}]'", file=sys.stderr)
        return 2
    if args.verbose:
        logging.getLogger(NATIVE_LOGGER).setLevel(logging.DEBUG)
    else:
        hide_native_logs()
        _quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except (EdgeRankError, FileNotFoundError) as error:
        print(f"edgerank {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (`edgerank info --json | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        return 1
    except KeyboardInterrupt:
        print(f"edgerank {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
