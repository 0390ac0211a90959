"""A model trained, exported and converted once per session on synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from converters.config import VARIANTS, ConvertConfig
from interactions.schema import LogConfig
from trainer.config import RankingConfig, RetrievalConfig, SplitConfig, TrainConfig


#: The synthetic archive's split: 800 training and 200 test ratings.
SYNTHETIC_SPLIT = SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200)


@pytest.fixture(scope="session")
def trained(synthetic_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.pipeline import train

    output = tmp_path_factory.mktemp("artifacts")
    train(
        TrainConfig(
            log=LogConfig(data=str(synthetic_archive)),
            output_dir=str(output),
            split=SYNTHETIC_SPLIT,
            ranking=RankingConfig(batch_size=64, eval_batch_size=200, epochs=8, hidden_units=(32, 16)),
            retrieval=RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=2, embedding_dim=8),
        ),
        verbose=0,
    )
    return output


def convert_config(trained: Path, quantize: str = "none", **overrides) -> ConvertConfig:
    """Converts the synthetic ranker into ``trained/edge/<variant>``, calibrating on its training split."""
    defaults = dict(saved_model=str(trained / "ranking"), quantize=quantize,
                    output=str(trained / "edge" / VARIANTS[quantize]),
                    validation_data=str(trained / "data" / "test.npz"),
                    calibration_data=str(trained / "data" / "train.npz"))
    return ConvertConfig(**{**defaults, **overrides})


@pytest.fixture(scope="session")
def bundles(trained: Path) -> dict[str, Path]:
    """Every variant's bundle, by ``--quantize`` value."""
    from converters.tflite import convert_ranker

    return {variant: Path(convert_ranker(convert_config(trained, variant)).bundle) for variant in VARIANTS}


@pytest.fixture(scope="session")
def converted_model(bundles: dict[str, Path]) -> Path:
    """The float32 model inside its bundle."""
    return bundles["none"] / "ranker.tflite"
