"""Interpreter backends: which TFLite interpreter runs the model.

Three backends are supported, tried in this order unless one is named:
``ai_edge_litert`` (LiteRT, the maintained successor), ``tflite_runtime``
(deprecated, needs numpy<2) and, as a last resort, ``tensorflow``'s own
``tf.lite.Interpreter``. The first two never import TensorFlow. All of them
apply their default CPU delegate (XNNPACK) to float models.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edge_runtime.errors import EdgeRankError

#: Backends in order of preference: (name, module holding ``Interpreter``, distribution).
#: TensorFlow's own interpreter is the last resort: it works, but imports all of TensorFlow.
BACKENDS: tuple[tuple[str, str, str], ...] = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow", "tensorflow.lite.python.interpreter", "tensorflow"),
)

#: The backends' names, for choices.
BACKEND_NAMES = tuple(name for name, _, _ in BACKENDS)

#: Environment variable that names the backend to use instead of the first found.
BACKEND_ENV = "EDGERANK_BACKEND"


class BackendUnavailableError(EdgeRankError):
    """No usable interpreter backend is installed (or the one named is missing)."""


@dataclass(frozen=True)
class Backend:
    """A loaded interpreter backend.

    Attributes:
        name: ``"ai_edge_litert"``, ``"tflite_runtime"`` or ``"tensorflow"``.
        distribution: The package that provides it.
        interpreter_class: The backend's ``Interpreter`` class.
        op_resolver_type: The backend's ``OpResolverType`` enum.
    """

    name: str
    distribution: str
    interpreter_class: Any
    op_resolver_type: Any

    def interpreter(self, model_content: bytes, num_threads: int, default_delegates: bool = True) -> Any:
        """A new interpreter on ``model_content``.

        Args:
            model_content: The ``.tflite`` bytes.
            num_threads: Interpreter threads.
            default_delegates: Apply the default CPU delegate (XNNPACK); ``False``
                runs every op on the built-in kernels.
        """
        options = {} if default_delegates else {
            "experimental_op_resolver_type": self.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        return self.interpreter_class(model_content=model_content, num_threads=num_threads, **options)

    @property
    def version(self) -> str:
        """The installed version (looked up on first use: importlib.metadata costs ~30 ms of start-up)."""
        import importlib.metadata

        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:  # e.g. tensorflow-cpu, or a source build
            module = sys.modules.get(self.name)
            return getattr(module, "__version__", "unknown")


#: The logger whose DEBUG level lets the interpreters' own log lines through (``native_logs_hidden``).
NATIVE_LOGGER = "edge_runtime.native"
_NATIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def native_logs_hidden() -> Iterator[None]:
    """Hides what the interpreter's C++ writes to standard error in the block, unless asked for.

    LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when a model's tensors
    are first allocated, and no setting of either runtime turns it off; a library should be quiet by
    default. So for the block, file descriptor 2 points at the null device (Python's own
    ``sys.stderr`` writes through it too, so keep the block to one native call). Set the
    ``edge_runtime.native`` logger to DEBUG (``edgerank -v`` does) to see those lines.
    """
    if logging.getLogger(NATIVE_LOGGER).isEnabledFor(logging.DEBUG):
        yield
        return
    with _NATIVE_LOCK:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def installed_backends() -> list[str]:
    """The backends whose package is installed, in order of preference (found, not imported)."""
    return [name for name, module, _ in BACKENDS if importlib.util.find_spec(module.split(".")[0]) is not None]


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
    errors: list[tuple[str, ImportError]] = []
    for backend_name, module_name, distribution in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            errors.append((backend_name, error))
            continue
        return Backend(backend_name, distribution, module.Interpreter, module.OpResolverType)
    if name:
        raise BackendUnavailableError(f"the {name} backend is not installed ({errors[0][1]}); "
                                      f"installed: {', '.join(installed_backends()) or 'none'}")
    raise BackendUnavailableError(
        "no TFLite interpreter is installed; install one with "
        "`pip install ai-edge-litert` or `pip install 'numpy<2' tflite-runtime` ("
        + "; ".join(f"{backend_name}: {error}" for backend_name, error in errors)
        + ")"
    )
