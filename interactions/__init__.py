"""The data layer: interaction logs read, described, split and measured, with no TensorFlow.

* ``interactions.schema``: ``LogConfig`` (what the user says about their log:
  the file, which column is what) and ``Schema`` (what was read), recorded in
  ``metrics.json`` and in the bundle's manifest.
* ``interactions.tables``: CSV, TSV, Parquet and JSON lines into pyarrow
  tables, the delimiter and header detected, unreadable rows named by line.
* ``interactions.log``: ``read_log``, a log's columns checked row by row,
  duplicates merged, and its items' display names.
* ``interactions.movielens``: the MovieLens family's own file layouts.
* ``interactions.holdout``: random, per-user time and new-user splits.
* ``interactions.ids``: ids looked up in a vocabulary or a set by hashing
  (``pyarrow.compute``), for columns of millions.
* ``interactions.split_files``: the split files ``edgerank train`` hands on
  (``data/train.npz``, ``data/test.npz``).
* ``interactions.metrics``: rating error, top-k accuracy, order agreement,
  and recall@k and NDCG@k over the items a user has not seen.

Only numpy and pyarrow are imported (``tests/unit/test_interactions.py``
proves it), so the converters, benchmarks and the device-side CLI can use it
without TensorFlow.
"""
