"""The base of every error that means "bad input", shared by all stages.

The CLI reports these on one line with exit status 2; anything else is a bug
and keeps its traceback.
"""


class EdgeRankError(Exception):
    """Bad input or environment, with a message that names the problem."""
