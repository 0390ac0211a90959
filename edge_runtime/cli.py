"""The ``edgerank`` command: train, eval, convert, bundle, score, retrieve, recommend, info, bench, bench-edge, demo.

``score``, ``info`` and ``bench-edge`` run on a device, so this module imports
nothing heavy: the other subcommands import TensorFlow inside their handlers. Their flags are
generated from the stages' config dataclasses, one flag per field, so the
dataclass defaults are the CLI defaults.

Exit status: 0 on success, 2 with a one-line message on standard error for
bad input (a missing model or data file, an unknown backend, …).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import subprocess
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.backend import BACKENDS, load_backend
from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import write_handoff
from edge_runtime.ranker import EdgeRanker, InputError, Ranking
from edge_runtime.recommend import RecommendConfig, recommend

log = logging.getLogger("edgerank")

#: Titles `edgerank demo` ranks for user 42 to show the edge client at work.
DEMO_CANDIDATES = ("Speed (1994)", "M*A*S*H (1970)", "Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)")


# --- config dataclasses <-> flags -------------------------------------------


def _attribute_docs(cls: type) -> dict[str, str]:
    """First line of each ``name: text`` entry in a dataclass docstring's Attributes."""
    docs = {}
    for match in re.finditer(r"^\s+(\w+): (.+)$", (cls.__doc__ or "").split("Attributes:")[-1], re.M):
        docs.setdefault(match.group(1), match.group(2))
    return docs


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """Adds one ``--flag`` per field of dataclass ``cls``.

    Nested dataclass fields add their fields with the field name as a prefix
    (``ranking.epochs`` -> ``--ranking-epochs``).
    """
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls)
    defaults = cls()
    for field in dataclasses.fields(cls):
        hint, default, dest = hints[field.name], getattr(defaults, field.name), prefix + field.name
        if dataclasses.is_dataclass(hint):
            add_config_arguments(parser, hint, prefix=f"{dest}_")
            continue
        flag = "--" + dest.replace("_", "-")
        help_text = f"{docs.get(field.name, '')} (default: {default})".strip()
        if hint is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, dest=dest, type=typing.get_args(hint)[0], nargs="+", default=default, help=help_text)
        else:
            if typing.get_origin(hint) in (typing.Union, types.UnionType):
                hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
            parser.add_argument(flag, dest=dest, type=hint, default=default, help=help_text)


def config_to_argv(config: Any, prefix: str = "") -> list[str]:
    """The flags that ``config_from_args`` turns back into ``config`` (defaults included)."""
    argv: list[str] = []
    for field in dataclasses.fields(config):
        value, name = getattr(config, field.name), prefix + field.name
        flag = "--" + name.replace("_", "-")
        if dataclasses.is_dataclass(value):
            argv += config_to_argv(value, prefix=f"{name}_")
        elif isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def config_from_args(cls: type, args: argparse.Namespace, prefix: str = "") -> Any:
    """Builds dataclass ``cls`` from the flags ``add_config_arguments`` added."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        hint, dest = hints[field.name], prefix + field.name
        if dataclasses.is_dataclass(hint):
            values[field.name] = config_from_args(hint, args, prefix=f"{dest}_")
        else:
            value = getattr(args, dest)
            values[field.name] = tuple(value) if typing.get_origin(hint) is tuple else value
    return cls(**values)


# --- subcommands ------------------------------------------------------------


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def _quiet_tensorflow() -> None:
    # TensorFlow's Python loggers narrate saving and tracing at INFO/WARNING.
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_train(args: argparse.Namespace) -> None:
    from trainer.config import TrainConfig
    from trainer.pipeline import train

    metrics = train(config_from_args(TrainConfig, args))
    _print_json({key: metrics[key] for key in ("ranking", "retrieval")})


def cmd_eval(args: argparse.Namespace) -> None:
    from trainer.config import EvalConfig
    from trainer.evaluation import markdown_table, run_eval

    print(markdown_table(run_eval(config_from_args(EvalConfig, args))))


def cmd_convert(args: argparse.Namespace) -> None:
    from converters.config import ConvertConfig
    from converters.tflite import convert_ranker

    _print_json(dataclasses.asdict(convert_ranker(config_from_args(ConvertConfig, args))))


def cmd_bundle(args: argparse.Namespace) -> None:
    from converters.bundle import ANDROID_ASSET_DIR, android_snippet, copy_bundle
    from converters.config import BundleConfig

    config = config_from_args(BundleConfig, args)
    written = copy_bundle(config.model, config.out, android=config.android)
    log.info("Wrote the bundle to %s", written)
    if config.android:
        log.info("Merge %s into your app's src/main/assets; this Kotlin loads it:\n", config.out)
        print(android_snippet(ANDROID_ASSET_DIR))


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
        _print_json(dataclasses.asdict(handoff))


def cmd_recommend(args: argparse.Namespace) -> None:
    _print_json(recommend(config_from_args(RecommendConfig, args)))


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


def cmd_score(args: argparse.Namespace) -> None:
    candidates = list(args.candidates)
    if args.candidates_file is not None:
        candidates += read_candidates(args.candidates_file)
    ranker = EdgeRanker(args.model, num_threads=args.threads, backend=args.backend, verify=args.verify)
    if not candidates and args.candidates_file is None:
        candidates = ranker.titles()  # the whole catalogue
    _print_json(_ranking_json(ranker, ranker.rank(args.user, candidates, k=args.k)))


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
    _print_json(info)


def cmd_bench_edge(args: argparse.Namespace) -> None:
    from benchmarks.config import EdgeBenchConfig
    from benchmarks.edge_latency import run_edge_benchmark

    _print_json(run_edge_benchmark(config_from_args(EdgeBenchConfig, args)))


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


class DemoError(EdgeRankError):
    """A stage of ``edgerank demo`` failed; that stage has printed why."""


def cmd_demo(args: argparse.Namespace) -> None:
    from converters.config import VARIANTS
    from trainer.config import TrainConfig

    config = config_from_args(TrainConfig, args)
    output = Path(config.output_dir)
    data = str(output / "data" / "test.npz")

    # Each stage is its own process and hands over through the artifact files, so
    # no TensorFlow runtime is alive (and busy) while the benchmarks measure.
    def edgerank(*arguments: str, show_output: bool = True) -> None:
        stage = subprocess.run([sys.executable, "-m", "edge_runtime.cli", *arguments],
                               stdout=None if show_output else subprocess.DEVNULL)
        if stage.returncode != 0:
            raise DemoError(f"`edgerank {arguments[0]}` failed with status {stage.returncode} (its message is above)")

    edgerank("train", *config_to_argv(config))
    bundles = {variant: output / "edge" / name for variant, name in VARIANTS.items()}
    for variant, bundle in bundles.items():
        edgerank("convert", "--saved-model", str(output / "ranking"), "--quantize", variant, "--output", str(bundle),
                 "--validation-data", data, "--calibration-data", str(output / "data" / "train.npz"),
                 show_output=False)
    edgerank("eval", "--artifacts", str(output), "--output-dir", str(output / "eval"),
             *(["--data", config.data] if config.data else []))
    log.info("Scoring user 42 on the edge runtime:")
    ranker = EdgeRanker(bundles["none"])
    _print_json(_ranking_json(ranker, ranker.rank("42", DEMO_CANDIDATES)))
    handoff = output / "handoff" / "42.json"
    edgerank("retrieve", "--retrieval", str(output / "retrieval"), "--user", "42", "--output", str(handoff))
    log.info("Two-stage recommend for user 42: 300 candidates retrieved on the server side, ranked on the device:")
    _print_json(recommend(RecommendConfig(user="42", k=5, model=str(bundles["int8"]), handoff=str(handoff))))
    edgerank("bench-edge", "--model", str(bundles["none"]), "--data", data,
             "--output", str(output / "bench" / "edge.json"), show_output=False)
    edgerank("bench", "--saved-model", str(output / "ranking"), "--models", *map(str, bundles.values()),
             "--data", data, "--output-dir", str(output / "bench"))
    edgerank("bench", "retrieval", "--movielens", str(output / "retrieval"), "--output-dir",
             str(output / "bench" / "retrieval"))

    metrics = json.loads((output / "metrics.json").read_text())
    log.info("Done: ranking RMSE %.4f; retrieval top-10 %.4f, top-100 %.4f. Artifacts in %s/",
             metrics["ranking"]["rmse"], metrics["retrieval"]["top_10"], metrics["retrieval"]["top_100"], output)
    for variant, bundle in bundles.items():
        description = json.loads((bundle / "manifest.json").read_text())
        log.info("  %-8s %4.0f KB, test RMSE %.4f, max |diff| %.1e, %s", VARIANTS[variant],
                 description["size_bytes"] / 1024, description["metrics"]["test_rmse"],
                 description["metrics"]["max_abs_diff"], bundle)


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


def build_parser() -> argparse.ArgumentParser:
    """The ``edgerank`` argument parser with every subcommand."""
    from benchmarks.config import BenchConfig, EdgeBenchConfig, RetrievalBenchConfig
    from converters.config import BundleConfig, ConvertConfig
    from trainer.config import EvalConfig, RetrieveConfig, TrainConfig

    parser = argparse.ArgumentParser(prog="edgerank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the ranking and retrieval models on MovieLens")
    add_config_arguments(train, TrainConfig)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("eval", help="EdgeRank's models next to classic baselines on the same splits")
    add_config_arguments(evaluate, EvalConfig)
    evaluate.set_defaults(handler=cmd_eval)

    convert = commands.add_parser("convert", help="convert the ranker SavedModel to a validated, quantized bundle")
    add_config_arguments(convert, ConvertConfig)
    convert.set_defaults(handler=cmd_convert)

    retrieve = commands.add_parser("retrieve", help="server half of recommend: a user's candidates into a hand-off file")
    add_config_arguments(retrieve, RetrieveConfig)
    retrieve.set_defaults(handler=cmd_retrieve)

    recommend_ = commands.add_parser("recommend", help="retrieve candidates (or read a hand-off file), rank them "
                                                       "on the edge client, print the best k")
    add_config_arguments(recommend_, RecommendConfig)
    recommend_.set_defaults(handler=cmd_recommend)

    bundle = commands.add_parser("bundle", help="verify a bundle and copy it, e.g. into an Android app's assets")
    add_config_arguments(bundle, BundleConfig)
    bundle.set_defaults(handler=cmd_bundle)

    backends = [name for name, _, _ in BACKENDS]
    score = commands.add_parser("score", help="rank candidate titles for one user on the edge runtime")
    score.add_argument("--model", required=True, help="model bundle folder, or .tflite with manifest.json beside it")
    score.add_argument("--user", required=True, help="user id, e.g. 42")
    score.add_argument("--k", type=int, default=None, help="return only the best K (default: all)")
    score.add_argument("--candidates-file", default=None, metavar="FILE",
                       help="more candidates, one title a line; - reads standard input")
    score.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    score.add_argument("--backend", choices=backends, default=None, help="interpreter (default: the first installed)")
    score.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                       help="check the model against its manifest's SHA-256 (default: on)")
    score.add_argument("candidates", nargs="*", metavar="CANDIDATE",
                       help="movie titles to rank (none: every title in the bundle's catalogue)")
    score.set_defaults(handler=cmd_score)

    info = commands.add_parser("info", help="the backend in use and, with --model, the model's contract")
    info.add_argument("--model", default=None, help="model bundle folder or .tflite")
    info.add_argument("--backend", choices=backends, default=None, help="interpreter (default: the first installed)")
    info.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                      help="check the model against its manifest (default: on)")
    info.set_defaults(handler=cmd_info)

    bench_edge = commands.add_parser("bench-edge", help="time the edge client against the bare interpreter; cold start")
    add_config_arguments(bench_edge, EdgeBenchConfig)
    bench_edge.set_defaults(handler=cmd_bench_edge)

    bench = commands.add_parser(
        "bench", help="the SavedModel against every edge contender: latency, memory, size, RMSE "
                      "(`bench retrieval`: ScaNN against exact search by catalogue size)")
    add_config_arguments(bench, BenchConfig)
    bench.set_defaults(handler=cmd_bench)
    bench_targets = bench.add_subparsers(dest="bench_target", metavar="{retrieval}")
    bench_retrieval = bench_targets.add_parser("retrieval", help="ScaNN against exact search as the catalogue grows")
    add_config_arguments(bench_retrieval, RetrievalBenchConfig)
    bench_retrieval.set_defaults(handler=cmd_bench_retrieval)

    demo = commands.add_parser("demo", help="train, convert, score and bench on MovieLens into --output-dir")
    add_config_arguments(demo, TrainConfig)
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``edgerank``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _quiet_tensorflow()
    try:
        args.handler(args)
    except (EdgeRankError, FileNotFoundError) as error:
        print(f"edgerank {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
