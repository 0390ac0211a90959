"""The ``edgerank`` command: train, convert, score, bench, demo.

Only ``score`` runs on a device, so this module imports nothing heavy: the
other subcommands import TensorFlow inside their handlers. Their flags are
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

from edge_runtime.backend import BACKENDS
from edge_runtime.errors import EdgeRankError
from edge_runtime.ranker import EdgeRanker

log = logging.getLogger("edgerank")

#: Titles `edgerank demo` ranks for user 42 to show the edge client at work.
DEMO_CANDIDATES = ("Speed (1994)", "M*A*S*H (1970)", "Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)")


class UsageError(EdgeRankError):
    """Bad input from the user: reported on one line, exit status 2."""


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


def cmd_convert(args: argparse.Namespace) -> None:
    from converters.config import ConvertConfig
    from converters.tflite import convert_ranker

    _print_json(dataclasses.asdict(convert_ranker(config_from_args(ConvertConfig, args))))


def _ranking(ranker: EdgeRanker, user: str, candidates: Sequence[str], k: int | None) -> dict:
    """What ``edgerank score`` prints: the user, the backend, candidates best first."""
    return {
        "user_id": user,
        "backend": f"{ranker.backend.name} {ranker.backend.version}",
        "candidates": [dataclasses.asdict(candidate) for candidate in ranker.rank(user, candidates, k=k)],
    }


def cmd_score(args: argparse.Namespace) -> None:
    if args.k is not None and args.k < 0:
        raise UsageError(f"--k must be >= 0, got {args.k}")
    ranker = EdgeRanker(args.model, num_threads=args.threads, backend=args.backend)
    _print_json(_ranking(ranker, args.user, args.candidates, args.k))


def cmd_bench(args: argparse.Namespace) -> None:
    from benchmarks.config import BenchConfig
    from benchmarks.latency import run_latency_benchmark

    run_latency_benchmark(config_from_args(BenchConfig, args))


def cmd_demo(args: argparse.Namespace) -> None:
    from converters.config import ConvertConfig
    from converters.tflite import convert_ranker
    from trainer.config import TrainConfig
    from trainer.pipeline import train

    config = config_from_args(TrainConfig, args)
    output = Path(config.output_dir)
    metrics = train(config)
    conversion = convert_ranker(
        ConvertConfig(
            saved_model=str(output / "ranking"),
            output=str(output / "edge" / "ranker.tflite"),
            validation_data=str(output / "data" / "test.npz"),
        )
    )
    log.info("Scoring user 42 on the edge runtime:")
    _print_json(_ranking(EdgeRanker(conversion.output), "42", DEMO_CANDIDATES, k=None))
    # The benchmark gets a fresh process so that its thread settings apply.
    bench = [
        sys.executable, "-m", "edge_runtime.cli", "bench",
        "--saved-model", str(output / "ranking"), "--model", conversion.output,
        "--data", str(output / "data" / "test.npz"), "--output", str(output / "bench" / "latency.json"),
    ]
    subprocess.run(bench, check=True)
    retrieval = metrics["retrieval"]
    log.info(
        "Done: ranking RMSE %.4f; retrieval top-10 %.4f, top-100 %.4f; %s is %.0f KB and matches "
        "the SavedModel within %.1e. Artifacts in %s/",
        metrics["ranking"]["rmse"], retrieval["top_10"], retrieval["top_100"],
        conversion.output, conversion.size_bytes / 1024, conversion.max_abs_diff, output,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``edgerank`` argument parser with every subcommand."""
    from benchmarks.config import BenchConfig
    from converters.config import ConvertConfig
    from trainer.config import TrainConfig

    parser = argparse.ArgumentParser(prog="edgerank", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the ranking and retrieval models on MovieLens")
    add_config_arguments(train, TrainConfig)
    train.set_defaults(handler=cmd_train)

    convert = commands.add_parser("convert", help="convert the ranker SavedModel to a validated .tflite")
    add_config_arguments(convert, ConvertConfig)
    convert.set_defaults(handler=cmd_convert)

    score = commands.add_parser("score", help="score candidate titles for one user on the edge runtime")
    score.add_argument("--model", required=True, help="converted .tflite ranker")
    score.add_argument("--user", required=True, help="user id, e.g. 42")
    score.add_argument("--k", type=int, default=None, help="return only the best K (default: all)")
    score.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    score.add_argument("--backend", choices=[name for name, _, _ in BACKENDS], default=None,
                       help="interpreter backend (default: the first installed)")
    score.add_argument("candidates", nargs="*", metavar="CANDIDATE", help="movie titles to score")
    score.set_defaults(handler=cmd_score)

    bench = commands.add_parser("bench", help="time the SavedModel against the .tflite")
    add_config_arguments(bench, BenchConfig)
    bench.set_defaults(handler=cmd_bench)

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
