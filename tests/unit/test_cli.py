"""The CLI: one flag per config field, and clear errors for bad input."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.config import BenchConfig
from converters.config import BundleConfig, ConvertConfig
from edge_runtime.errors import EdgeRankError
from edgerank import cli, flags
from interactions.schema import LogConfig
from trainer.config import PRESETS, TrainConfig


def _subparsers(parser):
    return parser._subparsers._group_actions[0].choices  # argparse keeps them here


def _flags(command: str) -> set[str]:
    subparser = _subparsers(cli.build_parser())[command]
    return {option for action in subparser._actions for option in action.option_strings} - {"-h", "--help"}


def _field_flags(cls: type, prefix: str = "") -> set[str]:
    flags = set()
    for field in dataclasses.fields(cls):
        default = getattr(cls(), field.name)
        if dataclasses.is_dataclass(default):  # a flattened one's fields keep their own names (--data)
            flags |= _field_flags(type(default), prefix if field.metadata.get("flatten") else f"{prefix}{field.name}-")
        else:
            flag = f"--{prefix}{field.name}".replace("_", "-")
            flags |= {flag, flag.replace("--", "--no-", 1)} if isinstance(default, bool) else {flag}
    return flags


@pytest.mark.parametrize(
    "command, config",
    [("train", TrainConfig), ("demo", TrainConfig), ("convert", ConvertConfig), ("bundle", BundleConfig),
     ("bench", BenchConfig)],
)
def test_every_flag_is_one_config_field(command: str, config: type) -> None:
    # Besides the fields: how much the terminal shows (-v, --json), the same for every command.
    assert _flags(command) - set(cli.OUTPUT_FLAGS) == _field_flags(config)


def test_every_flag_of_every_command_has_a_help_line() -> None:
    commands = dict(_subparsers(cli.build_parser()))
    commands["bench retrieval"] = _subparsers(commands["bench"])["retrieval"]
    assert {"train", "eval", "convert", "retrieve", "recommend", "bundle", "score", "info", "bench-edge", "bench",
            "demo"} <= set(commands)
    for name, subparser in commands.items():
        for action in subparser._actions:
            if action.option_strings and action.help is not argparse.SUPPRESS:
                words = (action.help or "").split("(default:")[0].strip()
                assert words, f"edgerank {name} {action.option_strings[0]} has no help line"


def _every_command(parser: argparse.ArgumentParser, prefix: str = "edgerank") -> dict[str, argparse.ArgumentParser]:
    """``{"edgerank train": parser, …, "edgerank bench retrieval": parser}``, the top level included."""
    found = {prefix: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_every_command(sub, f"{prefix} {name}"))
    return found


def test_a_config_flag_s_help_is_its_field_s_whole_description() -> None:
    # The docstring entries run over several lines; the help joins them, without reST's backticks.
    docs = flags.attribute_docs(type(TrainConfig().history))
    assert docs["ridge_per_rating"] == ("Candidates for how much λ grows per history rating (λ = ridge + this × "
                                        "ratings), one chosen on the validation split; long histories need more "
                                        "pull than training's λ alone.")


def test_no_help_line_stops_mid_sentence_or_shows_markup() -> None:
    commands = _every_command(cli.build_parser())
    assert {"edgerank score", "edgerank info", "edgerank bench heavy-users", "edgerank recommend"} <= set(commands)
    for name, parser in commands.items():
        texts = [(action.option_strings or [action.dest])[0] + ": " + (action.help or "")
                 for action in parser._actions if action.help is not argparse.SUPPRESS and action.dest != "help"
                 and not isinstance(action, argparse._SubParsersAction)]
        texts += [f"{choice.dest}: {choice.help}" for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction) for choice in action._choices_actions]
        for text in texts:
            words = text.rsplit(" (default:", 1)[0].strip()
            assert words.endswith((".", ")", "?")), f"{name} {words!r} stops mid-sentence"
            assert "``" not in text and "`" not in text and ":class:" not in text, f"{name} {text!r} shows markup"
        shown = parser.format_help()
        assert "`" not in shown, f"{name} --help shows markup"


def test_every_choice_is_listed_in_the_help() -> None:
    commands = _every_command(cli.build_parser())
    score = commands["edgerank score"].format_help()
    assert "{ai_edge_litert,tflite_runtime,tensorflow}" in score and "{last,drop,score}" in score
    for command in ("edgerank train", "edgerank demo"):
        assert "{" + ",".join(PRESETS) + "}" in commands[command].format_help()
    contenders = " ".join(commands["edgerank bench"].format_help().split("--contenders")[-1].split())
    assert "savedmodel_call, savedmodel_signature, and tflite_<bundle folder>_<backend>" in contenders


def test_python_dash_m_edgerank_runs_the_front_door() -> None:
    result = _edgerank("train", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: edgerank train")
    assert "--ranking-autorec-l2 RANKING_AUTOREC_L2" in result.stdout and "AutoRec's L2 penalty" in result.stdout


def test_train_starts_from_the_best_preset_and_the_tutorial_preset_is_the_dataclass_defaults() -> None:
    best = flags.config_from_args(TrainConfig, cli.parse_args(["train"]))
    assert best == TrainConfig.from_preset("best") and best.ranking.model == "autorec"
    assert best.retrieval.loss == "full_softmax" and best.history.enabled
    assert flags.config_from_args(TrainConfig, cli.parse_args(["train", "--preset", "tutorial"])) == TrainConfig()
    # Flags given win over the preset, before or after it.
    for argv in (["train", "--ranking-model", "tutorial", "--preset", "best"],
                 ["train", "--preset", "best", "--ranking-model", "tutorial"]):
        config = flags.config_from_args(TrainConfig, cli.parse_args(argv))
        assert config.ranking.model == "tutorial" and config.retrieval.loss == "full_softmax"
    tutorial = flags.config_from_args(TrainConfig, cli.parse_args(["demo", "--preset", "tutorial", "--seed", "3"]))
    assert tutorial == dataclasses.replace(TrainConfig(), seed=3)
    unknown = _edgerank("train", "--preset", "fastest")
    assert unknown.returncode == 2 and "--preset: invalid choice: 'fastest' (choose from 'tutorial', 'best')" in \
        unknown.stderr


def test_flags_reach_nested_fields() -> None:
    args = cli.parse_args(
        ["train", "--data", "x.zip", "--ranking-epochs", "5", "--ranking-hidden-units", "128", "32",
         "--retrieval-metrics-during-training", "--split-seed", "7"]
    )
    config = flags.config_from_args(TrainConfig, args)
    assert config.log.data == "x.zip"
    assert config.ranking.epochs == 5
    assert config.ranking.hidden_units == (128, 32)
    assert config.retrieval.metrics_during_training is True
    assert config.split.seed == 7
    assert config.retrieval.epochs == TrainConfig.from_preset("best").retrieval.epochs


@pytest.mark.parametrize("config", [
    TrainConfig(),
    TrainConfig(log=LogConfig(data="x.zip"), seed=3, ranking=dataclasses.replace(TrainConfig().ranking, hidden_units=(8,), epochs=9)),
    TrainConfig(retrieval=dataclasses.replace(TrainConfig().retrieval, metrics_during_training=True)),
    BenchConfig(quick=True, contenders=("savedmodel_call",), threads=(2,)),
])
def test_config_to_argv_round_trips(config) -> None:
    command = {TrainConfig: "train", BenchConfig: "bench"}[type(config)]
    args = cli.parse_args([command, *flags.config_to_argv(config)])
    assert flags.config_from_args(type(config), args) == config


def _edgerank(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True)


def test_score_with_a_missing_model_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _edgerank("score", "--json", "--model", str(tmp_path / "missing.tflite"), "--user", "1", "A")
    assert result.returncode == 2
    assert result.stderr.strip() == f"edgerank score: model file not found: {tmp_path / 'missing.tflite'}"


def test_train_with_a_missing_log_exits_2(tmp_path: Path) -> None:
    result = _edgerank("train", "--data", str(tmp_path / "nowhere.zip"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "nowhere.zip: no such file or folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_help_lists_the_subcommands() -> None:
    result = _edgerank("--help")
    assert result.returncode == 0
    for command in ("train", "convert", "score", "bench", "demo"):
        assert command in result.stdout


def test_score_prints_json(tmp_path: Path, converted_model: Path) -> None:
    result = _edgerank("score", "--json", "--model", str(converted_model), "--user", "1", "--k", "2",
                       "Synthetic Movie 1 (1951)", "Synthetic Movie 2 (1952)", "Synthetic Movie 3 (1953)")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    scores = [candidate["score"] for candidate in payload["candidates"]]
    assert payload["user_id"] == "1" and len(scores) == 2 and scores == sorted(scores, reverse=True)


def test_bench_names_the_command_that_makes_missing_bundles(trained: Path, tmp_path: Path) -> None:
    result = _edgerank("bench", "--quick", "--saved-model", str(trained / "ranking"), "--models",
                       str(tmp_path / "edge" / "int8"), "--data", str(trained / "data" / "test.npz"),
                       "--output-dir", str(tmp_path / "bench"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "does not exist: make the bundles with `edgerank convert`" in result.stderr


def test_every_command_has_its_extras_in_the_trainer_environment() -> None:
    assert all(cli.missing_extra(command) is None for command in cli.NEEDS)


def test_the_default_model_is_the_environment_s_else_the_last_converted_else_artifacts(
        converted_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgerank import default_model

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("EDGERANK_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgeRankError, match="pass --model FOLDER .* or set EDGERANK_MODEL=FOLDER"):
        default_model.resolve_model("")
    default_model.remember_bundle(converted_model)  # what `edgerank convert` does when it has written one
    assert default_model.resolve_model("") == str(converted_model.resolve())
    scored = _edgerank("score", "--json", "--user", "42", "Star Wars (1977)")
    assert scored.returncode == 0, scored.stderr
    monkeypatch.setenv("EDGERANK_MODEL", "elsewhere")
    assert default_model.resolve_model("") == "elsewhere" and default_model.resolve_model("given") == "given"
