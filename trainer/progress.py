"""Training progress a person can follow: Keras's bars for a few epochs, one bar for many.

Keras draws a bar per epoch (and prints a line per epoch off a terminal).
That suits the tutorials' 3 epochs, but AutoRec trains up to 1,500 one-batch
epochs and the history retrieval up to 100: thousands of lines. Past
``MAX_KERAS_EPOCHS`` one tqdm bar spans the whole fit instead, with its rate and
ETA (early stopping ends it early).
"""

from __future__ import annotations

import sys

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
