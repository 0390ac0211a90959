"""Which bundle ``edgerank score`` and ``recommend`` use when ``--model`` is not given.

In order: ``$EDGERANK_MODEL``; else the bundle the last ``edgerank convert``
wrote (remembered in ``$XDG_STATE_HOME/edgerank/last-bundle``, by default
``~/.local/state/edgerank/last-bundle``); else ``artifacts/edge/history-int8``
under the current folder, where ``edgerank convert --quantize int8`` writes it.
So the quick start works from any folder once a bundle is converted, and
a missing bundle's message says how to name one.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_runtime import atomic
from edge_runtime.manifest import ModelError

#: The environment variable that names the default bundle.
ENVIRONMENT = "EDGERANK_MODEL"
#: Where ``edgerank convert --quantize int8`` writes the history bundle, relative to the current folder.
CONVERTED = "artifacts/edge/history-int8"


def last_bundle_file() -> Path:
    """The file that remembers the last converted bundle's absolute path."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "edgerank" / "last-bundle"


def remember_bundle(bundle: str | os.PathLike[str]) -> None:
    """Records ``bundle`` as the one the last ``convert`` wrote; a state folder that cannot be written is skipped."""
    try:
        atomic.write_bytes(last_bundle_file(), f"{Path(bundle).resolve()}\n".encode())
    except OSError:
        pass  # a read-only home: the default falls back to CONVERTED


def resolve_model(given: str) -> str:
    """``given`` if not empty, else the default bundle (see the module docstring).

    Raises:
        ModelError: No ``given``, and no default bundle exists: the message says how to name one.
    """
    if given:
        return given
    if os.environ.get(ENVIRONMENT):
        return os.environ[ENVIRONMENT]
    try:
        remembered = last_bundle_file().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        remembered = ""
    for candidate in (remembered, CONVERTED):
        if candidate and Path(candidate).exists():
            return candidate
    raise ModelError(f"no model bundle given, and none at the default {CONVERTED} (under {Path.cwd()}): pass "
                     f"--model FOLDER (a bundle edgerank convert wrote), or set {ENVIRONMENT}=FOLDER")
