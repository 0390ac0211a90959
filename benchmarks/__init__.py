"""Measure the converted ranker against the SavedModel it came from.

* ``benchmarks.matrix``: ``edgerank bench``, every contender (the SavedModel's
  ``__call__`` and signature, each ``.tflite`` on each edge backend) at several
  candidate and thread counts, each in its own ``benchmarks.worker`` process.
* ``benchmarks.edge_latency``: ``edgerank bench-edge``, the edge client's API
  against the bare interpreter, and its cold start; runs without TensorFlow.
* ``benchmarks.measure`` and ``benchmarks.flops``: timing and FLOP counting.

``benchmarks.config`` is TensorFlow-free, so the CLI can read it on a device.
"""

import os

# Keep TensorFlow's C++ start-up noise (banners, cuInit on machines without a
# GPU) out of the logs; set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
