"""EdgeRank's front door: the ``edgerank`` command for the whole toolkit.

* ``edgerank.cli``: the parser and one handler per subcommand.
* ``edgerank.flags``: the stages' config dataclasses as command-line flags.
* ``edgerank.recommend``: two-stage recommend, retrieving in a child process.
* ``edgerank.demo``: the demo workflow, every stage in its own process.

It sits above every stage: it may import ``trainer``, ``converters``,
``benchmarks`` and ``edge_runtime``, and none of them imports it. The device
subcommands (``score``, ``info``, ``recommend`` from a hand-off file,
``bench-edge``) run where only the edge client is installed; the others
import TensorFlow inside their handlers.
"""
