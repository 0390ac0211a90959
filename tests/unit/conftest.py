"""A model trained, exported and converted once per session on synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from converters.config import ConvertConfig
from trainer.config import RankingConfig, RetrievalConfig, SplitConfig, TrainConfig


@pytest.fixture(scope="session")
def trained(synthetic_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.pipeline import train

    output = tmp_path_factory.mktemp("artifacts")
    train(
        TrainConfig(
            data=str(synthetic_archive),
            output_dir=str(output),
            split=SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200),
            ranking=RankingConfig(batch_size=64, eval_batch_size=200, epochs=8, hidden_units=(32, 16)),
            retrieval=RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=2, embedding_dim=8),
        ),
        verbose=0,
    )
    return output


@pytest.fixture(scope="session")
def converted_model(trained: Path) -> Path:
    from converters.tflite import convert_ranker

    report = convert_ranker(
        ConvertConfig(
            saved_model=str(trained / "ranking"),
            output=str(trained / "edge" / "ranker.tflite"),
            validation_data=str(trained / "data" / "test.npz"),
        )
    )
    return Path(report.output)
