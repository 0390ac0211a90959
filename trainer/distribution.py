"""Which ``tf.distribute`` strategy trains the models, chosen from what is present.

* Several machines: ``$TF_CONFIG`` names a cluster with more than one worker
  -> ``MultiWorkerMirroredStrategy`` (every worker runs the same command).
* Several GPUs on this machine -> ``MirroredStrategy`` over all of them.
* One GPU -> ``OneDeviceStrategy`` on it; no GPU -> the default strategy (CPU).

``distribution`` overrides the choice: ``"mirrored"`` mirrors over every GPU,
or over every logical CPU where there is no GPU (how tests run two replicas
on one CPU). Batch sizes in the config are global: each replica gets its share.

Several machines: every worker runs the same ``edgerank train`` command on the
same log (each reads it whole; tf.data hands each worker its share of every
batch). Only the chief (``is_chief``) writes the artifacts. A worker waits at
most ``timeout`` seconds for the others to join, or in one exchange of
gradients, and TensorFlow's coordination service notices a dead worker by its
heartbeats; either way the run fails with ``cluster_failure``'s message, which
says what happened and what to do. The strategy must be made before
TensorFlow runs anything else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import tensorflow as tf

from edge_runtime.errors import EdgeRankError
from trainer.config import DISTRIBUTIONS


class DistributionError(EdgeRankError, ValueError):
    """An unknown distribution name, a ``$TF_CONFIG`` that is not JSON, or a cluster that failed."""


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


def select_strategy(distribution: str = "auto", timeout: float = 600.0) -> tf.distribute.Strategy:
    """The strategy for ``distribution`` (see the module docstring).

    Args:
        distribution: One of ``DISTRIBUTIONS``.
        timeout: Several machines: seconds a worker waits for the others (to join, in one collective).

    Returns:
        A strategy; build and compile models inside its ``scope()``.
    """
    if distribution not in DISTRIBUTIONS:
        raise DistributionError(f"unknown distribution {distribution!r}; choose one of {list(DISTRIBUTIONS)}")
    if distribution == "auto":
        gpus = tf.config.list_physical_devices("GPU")  # the physical list: it starts nothing
        if cluster_workers() > 1:
            distribution = "multi_worker"
        elif len(gpus) > 1:
            distribution = "mirrored"
        else:
            distribution = "one_device" if gpus else "default"
    if distribution == "multi_worker":
        watcher = _joined_within(timeout)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout))
        finally:  # made, or failed on its own: the watcher goes (it also goes when this process ends)
            watcher.stdin.close()
            watcher.wait()
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or [d.name for d in tf.config.list_logical_devices("CPU")])
    if distribution == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


#: The watcher ``_joined_within`` starts: it ends the trainer (argv[1]) unless its stdin closes within argv[2] s.
WATCHER = """import os, select, signal, sys
ready, _, _ = select.select([sys.stdin], [], [], float(sys.argv[2]))
if not ready:
    sys.stderr.write(sys.argv[3] + "\\n")
    os.kill(int(sys.argv[1]), signal.SIGKILL)
"""


def _joined_within(timeout: float) -> subprocess.Popen:
    """A watcher process that ends this one with ``cluster_failure``'s message unless told within ``timeout``.

    Making the strategy waits inside TensorFlow for every worker to start, holding Python's lock and
    catching SIGTERM, so neither a thread nor a timer here could stop it: a worker that never starts would
    hang the others forever. Nothing has been written yet at that point. Close the watcher's stdin once
    the strategy is made.
    """
    message = f"edgerank train: {cluster_failure(TimeoutError('the cluster was not complete'), timeout)}"
    # Python's standard error: the CLI points file descriptor 2 at nothing, to hide native logs.
    return subprocess.Popen([sys.executable, "-c", WATCHER, str(os.getpid()), str(timeout), message],
                            stdin=subprocess.PIPE, stderr=sys.stderr)


def describe(strategy: tf.distribute.Strategy) -> dict:
    """``{"strategy": class name, "replicas": n}`` for the metrics file and logs; on a cluster also ``"workers"``
    and ``"chief"`` (whether this process is the one that writes)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return {"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync}
    return {"strategy": "MultiWorkerMirroredStrategy", "replicas": strategy.num_replicas_in_sync,  # its public name
            "workers": cluster_workers(), "chief": is_chief(strategy)}


def replica_shares(figures: dict[str, tf.Tensor], shares: tuple[str, ...] = ()) -> dict[str, tf.Tensor]:
    """What a ``train_step`` or ``test_step`` returns so that Keras reports the all-replica figures.

    tf-keras sums what each replica's step returns. A Keras metric's ``result()`` is already the
    all-replica value on every replica, so each returns its share of it (the value over the number of
    replicas); the figures named in ``shares`` already are shares (TFRS's losses). One replica: unchanged.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return {name: value if name in shares else value / replicas for name, value in figures.items()}


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the artifacts: always, except on a cluster's workers other than the chief.

    The chief is the ``chief`` task when ``$TF_CONFIG`` names one, else worker 0.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return not has_chief and resolver.task_type == "worker" and resolver.task_id == 0


def cluster_failure(error: Exception, timeout: float) -> DistributionError:
    """The error a run that lost a worker fails with: what happened and what to do."""
    return DistributionError(
        f"the training cluster failed: a worker stopped answering or did not join within {timeout:g} s "
        f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); every worker must run "
        "the same edgerank train command with its own TF_CONFIG (README, Training on several machines): "
        "restart them all")
