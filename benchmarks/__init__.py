"""Measure the converted ranker against the SavedModel it came from.

``benchmarks.latency`` times one user against N candidates, single thread,
through the SavedModel (its signature and its restored ``__call__``) and the
``.tflite`` on the edge runtime. ``benchmarks.config`` is TensorFlow-free.
"""

import os

# Keep TensorFlow's C++ start-up noise (banners, cuInit on machines without a
# GPU) out of the logs; set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
