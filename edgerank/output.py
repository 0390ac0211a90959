"""What the terminal shows: EdgeRank's own lines, not the native libraries' logs.

TensorFlow, XLA, MLIR, ScaNN, absl and the TFLite runtime log from C++ straight
to file descriptor 2, and some (absl, the TFLite converter, LiteRT's
"Created TensorFlow Lite XNNPACK delegate") ignore TensorFlow's log-level
variables. Unless ``-v`` is given, ``hide_native_logs`` sets those variables
before any library is imported, then points descriptor 2 at the null device
while Python's own standard error (``sys.stderr``: EdgeRank's messages, logging,
tracebacks) keeps writing to the terminal through a duplicate of it. Child
processes inherit the hidden descriptor, so a child whose messages matter is
started with ``stderr=sys.stderr``.
"""

from __future__ import annotations

import os
import sys

#: Log-level variables of the native libraries, set (unless already set) when their logs are hidden.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "GRPC_VERBOSITY": "ERROR"}


def hide_native_logs() -> None:
    """For the rest of this process, native writes to standard error go nowhere; Python's still show."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    sys.stderr.flush()
    terminal = os.dup(2)
    sys.stderr = open(terminal, "w", encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace",
                      buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
