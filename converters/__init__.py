"""Ranker SavedModel -> TFLite model that takes raw strings, validated.

See ``converters.tflite``. TensorFlow is imported by the converter module,
not here, so ``converters.config`` stays readable without it.
"""

import os

# Keep TensorFlow's C++ start-up noise (banners, cuInit on machines without a
# GPU) out of the logs; set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
