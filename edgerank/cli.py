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
import difflib
import importlib.util
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.backend import BACKENDS, load_backend
from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import write_handoff
from edge_runtime.manifest import ModelError
from edge_runtime.history import read_history
from edge_runtime.ranker import HISTORY_KIND, EdgeRanker, InputError, Ranking, run_in_child
from edgerank.flags import add_config_arguments, config_from_args
from edgerank.output import hide_native_logs
from edgerank.recommend import RecommendConfig, recommend
from trainer.config import DEFAULT_PRESET, PRESETS

log = logging.getLogger("edgerank")

#: The extras beyond the edge client, by the modules they install (looked up, not imported).
EXTRAS = {"train": ("tensorflow", "tf_keras", "tensorflow_recommenders", "tensorflow_datasets"),
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
    """A ranking as a person reads it: rank, predicted rating, title (and what the model did not know)."""
    rows = [f"{rank:>4}. {c['score']:.2f}  {c['movie_title']}{'' if c['known'] else '  (unknown title)'}"
            for rank, c in enumerate(candidates, 1)]
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
    lines = [f"Trained ({config.preset} preset) into {config.output_dir}/: ranker ({config.ranking.model}) test RMSE "
             f"{metrics['ranking']['rmse']:.4f}; retrieval ({config.retrieval.model}) top-100 "
             f"{metrics['retrieval']['top_100']:.4f}"]
    if "history" in metrics:
        lines.append(f"History model: warm-user RMSE {metrics['history']['rmse']:.4f}, retrieval top-100 "
                     f"{metrics['history']['top_100']:.4f}, unseen top-10 {metrics['history']['unseen_top_10']:.4f}")
    _emit(args, summary, lines)


def cmd_eval(args: argparse.Namespace) -> None:
    from trainer.config import EvalConfig
    from trainer.evaluation import markdown_table, run_eval

    print(markdown_table(run_eval(config_from_args(EvalConfig, args))))


def cmd_convert(args: argparse.Namespace) -> None:
    from converters.config import ConvertConfig
    from converters.tflite import convert_ranker

    report = convert_ranker(config_from_args(ConvertConfig, args))
    figures = report.validation
    _emit(args, dataclasses.asdict(report), [
        f"Wrote {report.bundle} ({report.quantization}, {report.size_bytes / 1024:.0f} KB, runtime >= "
        f"{report.min_runtime_version}): test RMSE {figures.test_rmse:.4f} (SavedModel {figures.saved_model_test_rmse:.4f}), "
        f"top-10 overlap {figures.top_10_overlap:.4f}, pairs in order {figures.pair_agreement:.4f}"])


def cmd_bundle(args: argparse.Namespace) -> None:
    from converters.bundle import ANDROID_ASSET_DIR, android_snippet, copy_bundle
    from converters.config import BundleConfig

    config = config_from_args(BundleConfig, args)
    written = copy_bundle(config.model, config.out, android=config.android)
    log.info("Wrote the bundle to %s", written)
    if config.android:
        log.info("Merge %s into your app's src/main/assets; this Kotlin loads it:\n", config.out)
        print(android_snippet(ANDROID_ASSET_DIR, kind=json.loads((written / "manifest.json").read_text()).get(
            "kind", "user_id")))


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
    result = recommend(config_from_args(RecommendConfig, args))
    warn_unknown_history(result.get("history", {}).get("unknown_titles", ()))
    who = (f"your {result['history']['rated']} ratings (on the device, no server)" if "history" in result
           else f"user {result['user_id']}")
    _emit(args, result, _ranked_lines(result["recommendations"], f"Recommended for {who}, {result['backend']}:"))


def _ranking_json(ranker: EdgeRanker, ranking: Ranking) -> dict:
    """What ``edgerank score`` prints: the user, the backend, candidates best first."""
    return {"backend": f"{ranker.backend.name} {ranker.backend.version}", **dataclasses.asdict(ranking)}


def read_candidates(path: str) -> list[str]:
    """One title a line from ``path`` (``-`` is standard input); blank lines are skipped.

    Raises:
        InputError: The file is missing or a line is not UTF-8.
    """
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read candidates file {path}: {error.strerror}") from None
    titles = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            title = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"{path} line {number} is not UTF-8 ({error.reason} at byte {error.start})") from None
        if title.strip():
            titles.append(title)
    return titles


def score_request(model: str, threads: int, backend: str | None, verify: bool, user: str | None,
                  candidates: list[str] | None, k: int | None, history: str | None = None,
                  drop_unknown: bool = False) -> dict:
    """What ``edgerank score`` prints for one request; ``candidates=None`` ranks the whole catalogue.

    A history model scores for ``history`` (a file, ``edge_runtime.history.read_history``), an id model for
    ``user``. Candidates the model does not know are listed under ``unknown_candidates`` with the
    closest catalogue titles, and left out of the ranking with ``drop_unknown``.

    Raises:
        InputError: The model takes the other of the two.
    """
    if k is not None and k < 0:
        raise InputError(f"k must be >= 0, got {k}")
    ranker = EdgeRanker(model, num_threads=threads, backend=backend, verify=verify)
    if ranker.kind == HISTORY_KIND:
        if history is None:
            raise InputError(f"{model} takes the user's own ratings, not an id: pass --history FILE "
                             "(title,rating lines; - reads standard input)")
        who: Any = read_history(history, ranker.rating_range)
    else:
        if history is not None:
            raise InputError(f"{model} looks users up by id and cannot take --history: use --user, or a history "
                             "bundle (edgerank convert --saved-model artifacts/history)")
        if user is None:
            raise InputError(f"{model} looks users up by id: pass --user ID")
        who = user
    ranking = ranker.rank(who, ranker.titles() if candidates is None else candidates, k=None if drop_unknown else k)
    unknown = [candidate.movie_title for candidate in ranking.candidates if not candidate.known]
    if drop_unknown:
        kept = [candidate for candidate in ranking.candidates if candidate.known]
        ranking = dataclasses.replace(ranking, candidates=kept[:k] if k is not None else kept)
    result = _ranking_json(ranker, ranking)
    result["unknown_candidates"] = [{"movie_title": title, "did_you_mean": closest_titles(ranker, title)}
                                    for title in unknown]
    return result


def closest_titles(ranker: EdgeRanker, title: str, count: int = 3) -> list[str]:
    """The catalogue titles closest to ``title`` (difflib's ratio); none for a model without its catalogue."""
    try:
        catalogue = ranker.titles()
    except ModelError:
        return []
    return difflib.get_close_matches(title, catalogue, n=count, cutoff=0.6)


def warn_unknown(result: dict, dropped: bool) -> None:
    """Names, on standard error, what the model did not know: the user, history titles, candidates."""
    if result.get("user_known") is False:
        shown = f"user {result['user_id']!r}" if result["user_id"] else "an empty user id"
        print(f"edgerank: the model does not know {shown}: its scores are the average (out-of-vocabulary) "
              "user's", file=sys.stderr)
    warn_unknown_history(result.get("unknown_history", ()))
    for entry in result.get("unknown_candidates", []):
        guess = f": did you mean {' or '.join(map(repr, entry['did_you_mean']))}?" if entry["did_you_mean"] else ""
        fate = "left out" if dropped else "scored as an unknown title"
        print(f"edgerank: unknown title {entry['movie_title']!r} ({fate}){guess}", file=sys.stderr)


def warn_unknown_history(unknown: Sequence[str]) -> None:
    """Names the history titles the model ignored, on standard error."""
    if unknown:
        shown = "; ".join(unknown[:5]) + (f"; and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        print(f"edgerank: ignored {len(unknown)} history title(s) the model does not know: {shown}", file=sys.stderr)


# Scores one request in a child process: an unverified model may crash the interpreter.
_SCORE_IN_CHILD = """
import json, sys
from edge_runtime.errors import EdgeRankError
from edgerank.cli import score_request
try:
    print(json.dumps(score_request(**json.loads(sys.argv[1]))))
except EdgeRankError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def score_in_child(request: dict[str, Any]) -> dict:
    """``score_request(**request)`` in a child process, so damage the probe missed cannot kill this one.

    Without a manifest nothing guards the file, and both runtimes crash on
    some damage that only a real request reaches (a damaged lookup index, say).

    Raises:
        ModelError: The child was killed by a signal.
        InputError: The child refused the request or the model; its message.
    """
    child = run_in_child(_SCORE_IN_CHILD, json.dumps(request))
    if child.returncode < 0:
        raise ModelError(f"{request['model']} crashed the interpreter (signal {-child.returncode}) while scoring in "
                         "a child process: the file is damaged")
    if child.returncode != 0:
        raise InputError((child.stderr.strip().splitlines() or [f"status {child.returncode}"])[-1])
    return json.loads(child.stdout)


def cmd_score(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    candidates = list(args.candidates)
    if args.candidates_file is not None:
        candidates += read_candidates(args.candidates_file)
    request = {"model": args.model, "threads": args.threads, "backend": args.backend, "verify": args.verify,
               "user": args.user, "history": args.history, "k": args.k, "drop_unknown": args.drop_unknown,
               "candidates": None if not candidates and args.candidates_file is None else candidates}
    result = score_request(**request) if args.verify else score_in_child(request)
    warn_unknown(result, args.drop_unknown)
    who = f"user {result['user_id']}" if result["user_id"] is not None else "your history"
    _emit(args, result, _ranked_lines(result["candidates"], f"Predicted ratings for {who}, best first "
                                                           f"({result['backend']}):"))


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
    from benchmarks.edge_latency import run_edge_benchmark

    config = config_from_args(EdgeBenchConfig, args)
    _emit(args, run_edge_benchmark(config), [f"Wrote {config.output}"])


def cmd_bench(args: argparse.Namespace) -> None:
    from benchmarks.config import BenchConfig
    from benchmarks.matrix import run_matrix

    run_matrix(config_from_args(BenchConfig, args))


def cmd_bench_retrieval(args: argparse.Namespace) -> None:
    from benchmarks.config import RetrievalBenchConfig
    from benchmarks.retrieval import run_retrieval_bench

    report = run_retrieval_bench(config_from_args(RetrievalBenchConfig, args))
    for name, corpus in report["corpora"].items():
        derived = next(point for point in corpus["scann"] if point["derived"])
        print(f"{name}: N={corpus['candidates']:,}: ScaNN recall@10 {derived['recall_at_10']:.4f}, "
              f"@100 {derived['recall_at_100']:.4f}, p50 {derived['p50_us']:.1f} µs; exact p50 "
              f"{corpus['brute_force']['numpy_argpartition']['p50_us']:.0f} µs (argpartition), "
              f"{corpus['brute_force']['numpy_argsort']['p50_us']:.0f} µs (argsort): "
              f"{corpus['speedup_p50']['numpy_argpartition']:.0f}× / {corpus['speedup_p50']['numpy_argsort']:.0f}× faster")


def cmd_bench_history_scale(args: argparse.Namespace) -> None:
    from benchmarks.config import HistoryScaleConfig
    from benchmarks.history_scale import run_history_scale

    run_history_scale(config_from_args(HistoryScaleConfig, args))


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
        super().__init__(option_strings, dest, nargs=0, help="print versions and the backend, then exit")

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
                                   RetrievalBenchConfig)
    from converters.config import BundleConfig, ConvertConfig
    from trainer.config import EvalConfig, RetrieveConfig, TrainConfig

    parser = argparse.ArgumentParser(prog="edgerank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show the native libraries' logs (TensorFlow, XLA, MLIR, ScaNN, absl, TFLite)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    configured = (
        ("train", TrainConfig, cmd_train, "train the ranking, retrieval and history models on MovieLens"),
        ("eval", EvalConfig, cmd_eval, "EdgeRank's models next to classic baselines on the same splits"),
        ("convert", ConvertConfig, cmd_convert, "convert a SavedModel to a validated, quantized bundle"),
        ("retrieve", RetrieveConfig, cmd_retrieve, "server half of recommend: a user's candidates into a hand-off file"),
        ("recommend", RecommendConfig, cmd_recommend,
         "retrieve candidates (or read a hand-off file), rank them on the edge client, print the best k"),
        ("bundle", BundleConfig, cmd_bundle, "verify a bundle and copy it, e.g. into an Android app's assets"),
    )
    for name, config, handler, help_text in configured:
        command = _config_command(commands, name, config, handler, help=help_text,
                                  defaults=TrainConfig.from_preset(preset) if config is TrainConfig else None)
        if name in JSON_COMMANDS:
            _add_json_flag(command)

    backends = [name for name, _, _ in BACKENDS]
    score = commands.add_parser("score", help="rank candidate titles for one user on the edge runtime")
    score.add_argument("--model", default=DEFAULT_BUNDLE,
                       help=f"model bundle folder, or .tflite with manifest.json beside it (default: {DEFAULT_BUNDLE})")
    score.add_argument("--history", default=None, metavar="FILE",
                       help="the user's own ratings, for a history bundle: title,rating lines (CSV) or JSON lines "
                            "with title and rating; - reads standard input")
    score.add_argument("--user", default=None, help="user id, e.g. 42, for an id bundle (the tutorials')")
    score.add_argument("--k", type=int, default=None, help="return only the best K (default: all)")
    score.add_argument("--drop-unknown", action="store_true",
                       help="leave out candidates the model does not know (they are named on stderr either way)")
    score.add_argument("--candidates-file", default=None, metavar="FILE",
                       help="more candidates, one title a line; - reads standard input")
    score.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    score.add_argument("--backend", choices=backends, default=None, help="interpreter (default: the first installed)")
    score.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                       help="check the model against its manifest's SHA-256 (default: on)")
    score.add_argument("candidates", nargs="*", metavar="CANDIDATE",
                       help="movie titles to rank (none: every title in the bundle's catalogue)")
    score.set_defaults(handler=cmd_score)
    _add_json_flag(score)

    info = commands.add_parser("info", help="the backend in use and, with --model, the model's contract")
    info.add_argument("--model", default=None, help="model bundle folder or .tflite")
    info.add_argument("--backend", choices=backends, default=None, help="interpreter (default: the first installed)")
    info.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                      help="check the model against its manifest (default: on)")
    info.set_defaults(handler=cmd_info)
    _add_json_flag(info)

    _add_json_flag(_config_command(commands, "bench-edge", EdgeBenchConfig, cmd_bench_edge,
                                   help="time the edge client against the bare interpreter; cold start"))
    bench = _config_command(commands, "bench", BenchConfig, cmd_bench,
                            help="the SavedModel against every edge contender: latency, memory, size, RMSE "
                                 "(`bench retrieval`: ScaNN against exact search by catalogue size)")
    targets = bench.add_subparsers(dest="bench_target", metavar="{retrieval,history-scale,heavy-users}")
    _config_command(targets, "retrieval", RetrievalBenchConfig, cmd_bench_retrieval,
                    help="ScaNN against exact search as the catalogue grows")
    _config_command(targets, "history-scale", HistoryScaleConfig, cmd_bench_history_scale,
                    help="the history model's size and latency for a generated catalogue (59,047 titles)")
    _add_json_flag(_config_command(targets, "heavy-users", HeavyUsersConfig, cmd_bench_heavy_users,
                                   help="write a generated log with heavy users and a planted model, for train and eval"))
    _config_command(commands, "demo", TrainConfig, cmd_demo, defaults=TrainConfig.from_preset(preset),
                    help="train, convert, score and bench on MovieLens into --output-dir")
    for command in {id(sub): sub for sub in _subparsers(parser)}.values():
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="also show the native libraries' logs")
    return parser


#: The bundle the device commands use unless told otherwise: what `edgerank convert --quantize int8` writes.
DEFAULT_BUNDLE = "artifacts/edge/history-int8"
#: Flags of how much the terminal shows, besides each command's configuration fields.
OUTPUT_FLAGS = ("-v", "--verbose", "--json")
#: Subcommands that print a result: a summary for a person, or everything as JSON with ``--json``.
JSON_COMMANDS = ("train", "convert", "retrieve", "recommend")


def _add_json_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print the whole result as JSON instead of a summary")


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
    args = build_parser().parse_args(argv)
    preset = getattr(args, "preset", DEFAULT_PRESET)
    if preset not in PRESETS:
        print(f"edgerank {args.command}: unknown --preset {preset!r}: choose one of {', '.join(PRESETS)}",
              file=sys.stderr)
        raise SystemExit(2)
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
    if not args.verbose:
        hide_native_logs()
        _quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.handler(args)
    except (EdgeRankError, FileNotFoundError) as error:
        print(f"edgerank {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
