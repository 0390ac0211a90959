"""The model under test: the MovieLens ranker the integration test converted.

``build/integration/`` is written by ``tests/integration`` in the trainer
environment; ``make test`` then runs this suite in the environments without
TensorFlow. Outside ``make test`` the suite is skipped if that model is absent;
under it (``EDGERANK_EXPECT_BACKEND`` set) its absence is an error.

These are the device library's own tests, so they run with the rest of the
repository blocked (``OTHER_PACKAGES``): ``edge_runtime`` must stand alone.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
from pathlib import Path

import pytest

#: The repository's other packages, which the device library may never import (TensorFlow is
#: simply not installed in the edge environments; ``test_edge_reference`` checks it stays out).
OTHER_PACKAGES = ("trainer", "interactions", "converters", "benchmarks", "edgerank")


class BlockOtherPackages(importlib.abc.MetaPathFinder):
    """Makes importing any of ``OTHER_PACKAGES`` fail, as on a device that has only the edge client."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OTHER_PACKAGES:
            raise ModuleNotFoundError(f"{name} is blocked: edge_runtime must not import it", name=name)
        return None


sys.meta_path.insert(0, BlockOtherPackages())

ARTIFACTS = Path(os.environ.get("EDGERANK_EDGE_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "integration"))
REFERENCE = ARTIFACTS / "edge_reference.json"
#: Set by ``make test``: the backend this environment must be running.
EXPECTED_BACKEND = os.environ.get("EDGERANK_EXPECT_BACKEND")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REFERENCE.is_file():
        return
    message = f"{REFERENCE} is missing: the integration test (tests/integration) writes it"
    if EXPECTED_BACKEND:
        raise pytest.UsageError(message)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=message))


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


#: Bundle folders ``edgerank demo`` writes, one per variant.
VARIANTS = ("float32", "float16", "dynamic", "int8")


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The float32 bundle."""
    return ARTIFACTS / "edge" / "float32"


@pytest.fixture(scope="session", params=VARIANTS)
def variant_bundle(request: pytest.FixtureRequest) -> Path:
    return ARTIFACTS / "edge" / request.param


@pytest.fixture(scope="session")
def test_split() -> Path:
    return ARTIFACTS / "data" / "test.npz"
