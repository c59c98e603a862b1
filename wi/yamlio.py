"""The one YAML reader of ``wi``: configs, ``--set`` values, sweep files, stored configs.

:func:`yaml_load` is ``yaml.safe_load`` with two differences: ``1e-3`` (no dot) is a float, as
scientists write it, and a key given twice in one mapping is an error (:class:`DuplicateKeyError`,
naming the key path and both lines) instead of the last one silently winning.
:func:`parse_mapping` and :func:`load_yaml_file` turn every problem into a one-line
:class:`~wi.errors.UserError` ``<file>: <key>: <what is wrong>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from wi.errors import UserError, require_file


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping holds the same key twice. ``key`` is the dotted path of the key."""

    def __init__(self, key: str, first_line: int, mark):
        self.key = key
        self.first_line = first_line
        super().__init__(problem=f"duplicate key (first at line {first_line})", problem_mark=mark)


def _scalar_key(loader: yaml.SafeLoader, node) -> Any:
    """The constructed value of a scalar key node (unhashable keys are left to the loader)."""
    try:
        value = loader.construct_object(node, deep=True)
        hash(value)
    except Exception:  # noqa: BLE001 (the real constructor reports it properly)
        return None
    return value


def _check_duplicates(loader: yaml.SafeLoader, node, path: tuple = (), seen=None) -> None:
    """Raise DuplicateKeyError for the first mapping (depth first) that repeats a key."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # aliases: each node is checked once
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = _scalar_key(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            here = (*path, key)
            if key is not None:
                if key in first:
                    raise DuplicateKeyError(
                        ".".join(str(p) for p in here), first[key], key_node.start_mark
                    )
                first[key] = key_node.start_mark.line + 1
            _check_duplicates(loader, value_node, here, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(loader, item, (*path, i), seen)


def yaml_load(text: str) -> Any:
    """Parse YAML text (see the module docstring); raises ``yaml.YAMLError`` on bad input,
    :class:`DuplicateKeyError` (a ``yaml.YAMLError``) for a repeated key."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_duplicates(loader, node)
        loader.constructed_objects = {}
        loader.recursive_objects = {}
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line describing a YAML error: ``line L, column C: YAML syntax error: <problem>``."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    return _one_line(f"{where}YAML syntax error: {problem}")


def parse_yaml(text: str, source: str | os.PathLike, key: str | None = None) -> Any:
    """Parse YAML text, any problem a one-line UserError on ``source`` (and ``key``)."""
    try:
        return yaml_load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1
        dotted = f"{key}.{exc.key}" if key else exc.key
        raise UserError(
            f"duplicate key at line {line} (first at line {exc.first_line}); give each key once",
            file=source,
            key=_one_line(dotted),
        ) from None
    except yaml.YAMLError as exc:
        raise UserError(yaml_problem(exc), file=source, key=key) from None
    except RecursionError:
        raise UserError("YAML nested too deeply", file=source, key=key) from None


def parse_mapping(text: str, source: str | os.PathLike) -> dict:
    """Parse YAML text that must hold a mapping of keys (a config, a sweep file)."""
    raw = parse_yaml(text, source)
    if raw is None:
        raise UserError("the file is empty", file=source)
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of keys at the top level", file=source)
    return raw


def read_text(path: str | os.PathLike, what: str = "a YAML file") -> str:
    """The text of ``path``; a missing, directory, unreadable or binary file is a UserError."""
    path = Path(path)
    require_file(path, what)
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"not a text file (expected {what})", file=path) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", file=path) from None


def load_yaml_file(path: str | os.PathLike, what: str = "a YAML file") -> dict:
    """The mapping held by the YAML file ``path`` (one-line UserErrors, duplicate keys too)."""
    return parse_mapping(read_text(path, what), path)
