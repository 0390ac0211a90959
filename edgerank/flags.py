"""The stages' config dataclasses as command-line flags: one flag per field.

A field ``name`` becomes ``--name``; a nested dataclass field adds its own
fields with its name as a prefix (``ranking.epochs`` -> ``--ranking-epochs``),
or without one when its metadata says ``flatten`` (``log.data`` -> ``--data``).
The dataclass defaults are the flag defaults, and each field's whole entry
under ``Attributes:`` in its class docstring is the flag's help. A field's
metadata may add ``choices`` (the values the flag accepts, listed in its
help) or make it ``positional`` (a list of words after the flags, with its
``metavar``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from typing import Any


def attribute_docs(cls: type) -> dict[str, str]:
    """Each ``name: text`` entry under ``Attributes:`` in a dataclass docstring, whole.

    An entry's indented continuation lines are joined to it, and reST's double
    backticks dropped, so the flag's help is the field's full description as a
    person reads it.
    """
    docs: dict[str, list[str]] = {}
    lines = inspect.cleandoc(cls.__doc__ or "").split("Attributes:")[-1].splitlines()
    entry, indent = None, 0
    for line in lines:
        match = re.match(r"^(\s+)(\w+): (.+)$", line)
        if match and (entry is None or len(match.group(1)) <= indent):
            entry, indent = match.group(2), len(match.group(1))
            docs.setdefault(entry, [match.group(3)])
        elif entry is not None and line.strip() and len(line) - len(line.lstrip()) > indent:
            docs[entry].append(line.strip())
        else:
            entry = None
    return {name: re.sub(r"``(.+?)``", r"\1", " ".join(parts)) for name, parts in docs.items()}


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "", defaults: Any = None) -> None:
    """Adds one ``--flag`` per field of dataclass ``cls`` (nested fields prefixed, see the module docstring).

    Args:
        parser: Where the flags go.
        cls: The dataclass.
        prefix: Prefix of nested fields' names.
        defaults: An instance whose values are the flags' defaults; ``None``: ``cls()``.
    """
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    defaults = cls() if defaults is None else defaults
    for field in dataclasses.fields(cls):
        hint, default, dest = hints[field.name], getattr(defaults, field.name), prefix + field.name
        if dataclasses.is_dataclass(hint):
            add_config_arguments(parser, hint, prefix=_prefix(field, prefix), defaults=default)
            continue
        flag = "--" + dest.replace("_", "-")
        choices = field.metadata.get("choices")
        shown = "none" if default in (None, "", ()) else default
        help_text = f"{docs.get(field.name, '')} (default: {shown})".strip()
        if field.metadata.get("positional"):
            parser.add_argument(dest, nargs="*", default=default, metavar=field.metadata.get("metavar"),
                                help=docs.get(field.name, ""))
        elif hint is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, dest=dest, type=typing.get_args(hint)[0], nargs="+", default=default, help=help_text)
        else:
            if typing.get_origin(hint) in (typing.Union, types.UnionType):
                hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
            parser.add_argument(flag, dest=dest, type=hint, default=default, choices=choices, help=help_text)


def config_to_argv(config: Any, prefix: str = "") -> list[str]:
    """The flags that ``config_from_args`` turns back into ``config`` (defaults included)."""
    argv: list[str] = []
    for field in dataclasses.fields(config):
        value, name = getattr(config, field.name), prefix + field.name
        flag = "--" + name.replace("_", "-")
        if field.metadata.get("positional"):
            continue  # after the flags, below
        if dataclasses.is_dataclass(value):
            argv += config_to_argv(value, prefix=_prefix(field, prefix))
        elif isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv + [str(word) for field in dataclasses.fields(config) if field.metadata.get("positional")
                   for word in getattr(config, field.name)]


def config_from_args(cls: type, args: argparse.Namespace, prefix: str = "") -> Any:
    """Builds dataclass ``cls`` from the flags ``add_config_arguments`` added."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        hint, dest = hints[field.name], prefix + field.name
        if dataclasses.is_dataclass(hint):
            values[field.name] = config_from_args(hint, args, prefix=_prefix(field, prefix))
        else:
            value = getattr(args, dest)
            values[field.name] = tuple(value) if typing.get_origin(hint) is tuple else value
    return cls(**values)


def _prefix(field: dataclasses.Field, prefix: str) -> str:
    """The prefix of a nested dataclass field's own fields: its name's, or none when it is ``flatten``."""
    return prefix if field.metadata.get("flatten") else f"{prefix}{field.name}_"
