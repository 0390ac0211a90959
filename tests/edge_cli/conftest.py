"""The front door where only the edge client is installed: the bundles of ``tests/edge``'s conftest."""

from __future__ import annotations

import subprocess
import sys

from tests.edge.conftest import (  # noqa: F401  (fixtures and the hook that needs the integration artifacts)
    ARTIFACTS, EXPECTED_BACKEND, bundle, pytest_collection_modifyitems, reference, test_split, variant_bundle)


def edgerank(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs the CLI in a child process; raw bytes out, so callers can check encodings."""
    return subprocess.run([sys.executable, "-m", "edgerank", *args], input=stdin, capture_output=True)
