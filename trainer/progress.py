"""Training progress a person can follow: Keras's bars for a few epochs, one bar for many.

Keras draws a bar per epoch (and prints a line per epoch off a terminal).
That suits the tutorials' 3 epochs, but AutoRec trains up to 1,500 one-batch
epochs and the history retrieval up to 100: thousands of lines. Past
``MAX_KERAS_EPOCHS`` one tqdm bar spans the whole fit instead, with its rate and
ETA (early stopping ends it early).

``StageClock`` times the stages of a whole run (read, split, each model,
export) for ``metrics.json``, with their wall-clock start, so a benchmark
watching the process from outside can tell which stage used what.
"""

from __future__ import annotations

import sys
import time

import tensorflow as tf

#: Fits with more epochs than this get one bar over all of them.
MAX_KERAS_EPOCHS = 5


def fit_progress(verbose: int, epochs: int, description: str) -> tuple[int, list[tf.keras.callbacks.Callback]]:
    """The ``verbose`` and extra ``callbacks`` to pass to ``Model.fit``.

    Args:
        verbose: The caller's Keras verbosity (0: silent).
        epochs: The most epochs the fit runs.
        description: What the bar is labelled.

    Returns:
        ``(verbose, callbacks)``: Keras's own bars, or ``verbose=0`` and one ``tqdm`` callback.
    """
    if verbose == 0 or epochs <= MAX_KERAS_EPOCHS:
        return verbose, []
    from tqdm.keras import TqdmCallback

    terminal = sys.stderr.isatty()
    return 0, [TqdmCallback(epochs=epochs, verbose=0, desc=description, file=sys.stderr, leave=True,
                            mininterval=0.5 if terminal else 60.0, ncols=None if terminal else 100)]


class StageClock:
    """Times consecutive stages: ``begin(name)`` ends the running stage and starts the next; ``end()`` the last.

    ``stages`` lists ``{"stage", "started" (Unix time), "seconds"}`` in order.
    """

    def __init__(self) -> None:
        self.stages: list[dict[str, float | str]] = []
        self._running: tuple[str, float, float] | None = None

    def begin(self, name: str) -> None:
        self.end()
        self._running = (name, time.time(), time.perf_counter())

    def end(self) -> None:
        if self._running is not None:
            name, started, clock = self._running
            self.stages.append({"stage": name, "started": round(started, 3),
                                "seconds": round(time.perf_counter() - clock, 3)})
            self._running = None
