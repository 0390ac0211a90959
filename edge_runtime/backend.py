"""Interpreter backends: which TFLite interpreter runs the model.

Two backends are supported, tried in this order unless one is named:
``ai_edge_litert`` (LiteRT, the maintained successor) and ``tflite_runtime``
(deprecated, needs numpy<2). Neither imports TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass
from typing import Any

from edge_runtime.errors import EdgeRankError

#: Backends in order of preference: (name, module holding ``Interpreter``, distribution).
BACKENDS: tuple[tuple[str, str, str], ...] = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite-runtime"),
)

#: Environment variable that names the backend to use instead of the first found.
BACKEND_ENV = "EDGERANK_BACKEND"


class BackendUnavailableError(EdgeRankError):
    """No usable interpreter backend is installed (or the one named is missing)."""


@dataclass(frozen=True)
class Backend:
    """A loaded interpreter backend.

    Attributes:
        name: ``"ai_edge_litert"`` or ``"tflite_runtime"``.
        version: The installed distribution's version.
        interpreter_class: The backend's ``Interpreter`` class.
    """

    name: str
    version: str
    interpreter_class: Any


def load_backend(name: str | None = None) -> Backend:
    """Imports an interpreter backend.

    Args:
        name: A backend from ``BACKENDS``; ``None`` takes ``$EDGERANK_BACKEND``
            if set, else the first backend that imports.

    Returns:
        The backend with its ``Interpreter`` class.

    Raises:
        BackendUnavailableError: The named backend, or every backend, is missing.
    """
    name = name or os.environ.get(BACKEND_ENV) or None
    known = {backend[0]: backend for backend in BACKENDS}
    if name is not None and name not in known:
        raise BackendUnavailableError(f"unknown backend {name!r}; choose one of {sorted(known)}")
    candidates = [known[name]] if name else list(BACKENDS)
    errors = []
    for backend_name, module_name, distribution in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            errors.append(f"{backend_name}: {error}")
            continue
        return Backend(backend_name, importlib.metadata.version(distribution), module.Interpreter)
    raise BackendUnavailableError(
        "no TFLite interpreter is installed; install one with "
        "`pip install ai-edge-litert` or `pip install 'numpy<2' tflite-runtime` ("
        + "; ".join(errors)
        + ")"
    )
