"""Server-side training of the MovieLens retrieval and ranking models (TFRS).

Importing this package is cheap: TensorFlow is imported by the modules that
need it (``data``, ``ranking``, ``autorec``, ``retrieval``, ``pipeline``), never here, so
the CLI can read ``trainer.config`` on a device without TensorFlow.
"""

import os

# TFRS 0.7.7 needs Keras 2, which TensorFlow 2.20 provides through tf-keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Keep TensorFlow's C++ start-up noise (banners, cuInit on machines without a
# GPU) out of the logs; set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
