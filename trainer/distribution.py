"""Which ``tf.distribute`` strategy trains the models, chosen from what is present.

* Several machines: ``$TF_CONFIG`` names a cluster with more than one worker
  -> ``MultiWorkerMirroredStrategy`` (every worker runs the same command).
* Several GPUs on this machine -> ``MirroredStrategy`` over all of them.
* One GPU -> ``OneDeviceStrategy`` on it; no GPU -> the default strategy (CPU).

``distribution`` overrides the choice: ``"mirrored"`` mirrors over every GPU,
or over every logical CPU where there is no GPU (how tests run two replicas
on one CPU). Batch sizes in the config are global: each replica gets its share.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from edge_runtime.errors import EdgeRankError
from trainer.config import DISTRIBUTIONS

#: ``TrainConfig.distribution`` values.


class DistributionError(EdgeRankError, ValueError):
    """An unknown distribution name, or a ``$TF_CONFIG`` that is not JSON."""


def cluster_workers() -> int:
    """Workers named in ``$TF_CONFIG`` (1 when it is unset).

    Raises:
        DistributionError: ``$TF_CONFIG`` is not valid JSON.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 1
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise DistributionError(f"TF_CONFIG is not a JSON object: {error}") from error
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def select_strategy(distribution: str = "auto") -> tf.distribute.Strategy:
    """The strategy for ``distribution`` (see the module docstring).

    Args:
        distribution: One of ``DISTRIBUTIONS``.

    Returns:
        A strategy; build and compile models inside its ``scope()``.
    """
    if distribution not in DISTRIBUTIONS:
        raise DistributionError(f"unknown distribution {distribution!r}; choose one of {list(DISTRIBUTIONS)}")
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if distribution == "auto":
        if cluster_workers() > 1:
            distribution = "multi_worker"
        elif len(gpus) > 1:
            distribution = "mirrored"
        else:
            distribution = "one_device" if gpus else "default"
    if distribution == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or [d.name for d in tf.config.list_logical_devices("CPU")])
    if distribution == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> dict:
    """``{"strategy": class name, "replicas": n}`` for the metrics file and logs."""
    return {"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync}
