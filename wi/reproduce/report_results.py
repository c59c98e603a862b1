"""The ``results.json`` of a reproduction (schema ``wi-reproduction``): read and check it.

``wi reproduce <paper> --out DIR`` leaves its outcome in ``DIR/results.json``; the figures and
configs it names are files inside DIR. :func:`read_results` checks that file completely
(types, required and unknown keys, statuses, the files it points to), so a mistake surfaces as
one line ``<DIR/results.json>: <key>: <what is wrong>`` instead of a broken report.
"""

from __future__ import annotations

import math
import os
import re
from json import JSONDecodeError, loads
from pathlib import Path
from typing import Any

from wi.errors import UserError, did_you_mean, require_file

SCHEMA = "wi-reproduction"
SCHEMA_VERSION = 1
RESULTS = "results.json"
STATUSES = ("pass", "fail", "not-reproduced")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DOI = re.compile(r"10\.\d{4,9}/\S+")

# The layout of results.json: key -> (type, default). A default of ``...`` means required; a
# default of None means optional and null allowed.
_STR, _INT, _NUM, _BOOL, _LIST, _OBJ = (
    "a string",
    "an integer",
    "a number",
    "true or false",
    "a list",
    "an object",
)
_TOP = {
    "schema": (_STR, ...),
    "schema_version": (_INT, ...),
    "paper": (_OBJ, ...),
    "wi_version": (_STR, ...),
    "command": (_STR, ...),
    "quick": (_BOOL, ...),
    "length_factor": (_NUM, None),
    "started_utc": (_STR, ...),
    "finished_utc": (_STR, ...),
    "wall_s": (_NUM, ...),
    "cpu_s": (_NUM, ...),
    "n_runs": (_INT, ...),
    "n_simulations": (_INT, ...),
    "disk_bytes": (_INT, ...),
    "sections": (_LIST, ...),
}
_PAPER = {
    k: (_INT if k == "year" else _STR, ...)
    for k in ("id", "title", "authors", "year", "venue", "doi")
}
_SECTION = {
    "id": (_STR, ...),
    "title": (_STR, ...),
    "claim": (_STR, ...),
    "figures": (_LIST, []),
    "tables": (_LIST, []),
    "checks": (_LIST, []),
    "configs": (_LIST, []),
    "notes": (_STR, ""),
}
_FIGURE = {"path": (_STR, ...), "caption": (_STR, "")}
_TABLE = {"caption": (_STR, ""), "columns": (_LIST, ...), "rows": (_LIST, ...)}
_CHECK = {"text": (_STR, ...), "status": (_STR, ...), "measured": (_STR, ""), "reason": (_STR, "")}
_CONFIG = {"name": (_STR, ...), "path": (_STR, ...)}


class _Object(dict):
    """A JSON object that remembers the keys it held more than once (JSON allows it silently)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    repeated = []
    for key, value in pairs:
        if key in obj:
            repeated.append(key)
        obj[key] = value
    obj.repeated = tuple(repeated)
    return obj


def _is(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, list if kind == _LIST else dict)


def _json_type(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object", _Object: "an object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


class _Checker:
    """Walks one results.json; every problem is a UserError naming the file and the key."""

    def __init__(self, directory: Path, file: Path):
        self.dir = directory
        self.root = directory.resolve()
        self.file = file

    def fail(self, key: str, message: str) -> UserError:
        return UserError(message, file=self.file, key=key)

    def fields(self, obj: Any, key: str, spec: dict) -> dict:
        """``obj`` as a dict with the defaults of ``spec`` filled in, after checking its keys."""
        where = key or "(top level)"
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected an object, got {_json_type(obj)}")
        sub = (lambda k: f"{key}.{k}") if key else (lambda k: k)
        for name in getattr(obj, "repeated", ()):
            raise self.fail(sub(name), "given twice (JSON keeps only the last one)")
        for name in obj:
            if name not in spec:
                raise self.fail(sub(name), f"unknown key{did_you_mean(name, spec)}")
        out = {}
        for name, (kind, default) in spec.items():
            if name not in obj:
                if default is ...:
                    raise self.fail(sub(name), "missing")
                out[name] = list(default) if isinstance(default, list) else default
                continue
            value = obj[name]
            if value is None and default is None:  # an optional number may be null
                out[name] = None
                continue
            if not _is(value, kind):
                raise self.fail(sub(name), f"expected {kind}, got {_json_type(value)}")
            if kind == _NUM and not math.isfinite(value):
                raise self.fail(sub(name), f"expected a finite number, got {value}")
            out[name] = value
        return out

    def count(self, value: int | float, key: str) -> None:
        if value < 0:
            raise self.fail(key, f"must be >= 0, got {value}")

    def text(self, value: str, key: str) -> None:
        if not value.strip():
            raise self.fail(key, "is empty")

    def items(self, values: list, key: str, spec: dict) -> list[dict]:
        return [self.fields(v, f"{key}[{i}]", spec) for i, v in enumerate(values)]

    def inside(self, rel: str, key: str, what: str) -> Path:
        """The existing regular file ``rel`` (relative to the directory, inside it)."""
        self.text(rel, key)
        if "\0" in rel:
            raise self.fail(key, f"{rel!r} holds a NUL character")
        if Path(rel).is_absolute():
            raise self.fail(
                key, f"{rel!r} is an absolute path; give the {what} relative to {self.dir}"
            )
        path = self.dir / rel
        try:
            path.resolve().relative_to(self.root)
        except ValueError:
            raise self.fail(key, f"{rel!r} points outside {self.dir}") from None
        if not path.exists():
            raise self.fail(key, f"{rel!r}: no such file in {self.dir}")
        if not path.is_file():
            raise self.fail(key, f"{rel!r} is not a file")
        return path

    def section(self, raw: Any, key: str) -> dict:
        sec = self.fields(raw, key, _SECTION)
        for name in ("id", "title", "claim"):
            self.text(sec[name], f"{key}.{name}")
        sec["figures"] = self.items(sec["figures"], f"{key}.figures", _FIGURE)
        for i, fig in enumerate(sec["figures"]):
            path = self.inside(fig["path"], f"{key}.figures[{i}].path", "figure")
            with open(path, "rb") as fh:
                if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                    raise self.fail(
                        f"{key}.figures[{i}].path", f"{fig['path']!r} is not a PNG image"
                    )
        sec["tables"] = self.items(sec["tables"], f"{key}.tables", _TABLE)
        for i, table in enumerate(sec["tables"]):
            self.table(table, f"{key}.tables[{i}]")
        sec["checks"] = self.items(sec["checks"], f"{key}.checks", _CHECK)
        for i, check in enumerate(sec["checks"]):
            here = f"{key}.checks[{i}]"
            self.text(check["text"], f"{here}.text")
            if check["status"] not in STATUSES:
                hint = did_you_mean(check["status"], STATUSES)
                raise self.fail(
                    f"{here}.status",
                    f"{check['status']!r} is not one of {', '.join(STATUSES)}{hint}",
                )
            if check["status"] != "pass" and not check["reason"].strip():
                raise self.fail(
                    f"{here}.reason", f"missing: say why the check is {check['status']}"
                )
        sec["configs"] = self.items(sec["configs"], f"{key}.configs", _CONFIG)
        for i, cfg in enumerate(sec["configs"]):
            self.text(cfg["name"], f"{key}.configs[{i}].name")
            path = self.inside(cfg["path"], f"{key}.configs[{i}].path", "config")
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise self.fail(
                    f"{key}.configs[{i}].path", f"{cfg['path']!r} is not UTF-8 text"
                ) from None
        return sec

    def table(self, table: dict, key: str) -> None:
        columns = table["columns"]
        if not columns:
            raise self.fail(f"{key}.columns", "is empty")
        for j, name in enumerate(columns):
            if not isinstance(name, str):
                raise self.fail(f"{key}.columns[{j}]", f"expected a string, got {_json_type(name)}")
        for r, row in enumerate(table["rows"]):
            if not isinstance(row, list):
                raise self.fail(f"{key}.rows[{r}]", f"expected a list, got {_json_type(row)}")
            if len(row) != len(columns):
                raise self.fail(
                    f"{key}.rows[{r}]", f"has {len(row)} cells for {len(columns)} columns"
                )
            for c, cell in enumerate(row):
                ok = cell is None or isinstance(cell, str) or _is(cell, _NUM)
                if not ok or (_is(cell, _NUM) and not math.isfinite(cell)):
                    raise self.fail(
                        f"{key}.rows[{r}][{c}]",
                        f"expected a string, a finite number or null, got {_json_type(cell)}",
                    )

    def results(self, raw: Any) -> dict:
        if not isinstance(raw, dict):
            raise self.fail("(top level)", f"expected an object, got {_json_type(raw)}")
        if "schema" not in raw:
            raise self.fail("schema", f"missing (expected {SCHEMA!r}): not a wi reproduction")
        if raw["schema"] != SCHEMA:
            raise self.fail(
                "schema", f"expected {SCHEMA!r}, got {raw['schema']!r}: not a wi reproduction"
            )
        version = raw.get("schema_version")
        if _is(version, _INT) and version > SCHEMA_VERSION:
            raise self.fail(
                "schema_version",
                f"{version} is newer than this wi reads ({SCHEMA_VERSION}); upgrade wi",
            )
        out = self.fields(raw, "", _TOP)
        if out["schema_version"] < 1:
            raise self.fail("schema_version", f"must be >= 1, got {out['schema_version']}")
        out["paper"] = paper = self.fields(out["paper"], "paper", _PAPER)
        for name in ("id", "title", "authors", "venue"):
            self.text(paper[name], f"paper.{name}")
        if not _DOI.fullmatch(paper["doi"]):
            raise self.fail(
                "paper.doi", f"{paper['doi']!r} is not a DOI (10.<registrant>/<suffix>)"
            )
        for name in ("wall_s", "cpu_s", "n_runs", "n_simulations", "disk_bytes"):
            self.count(out[name], name)
        if out["length_factor"] is not None and not out["length_factor"] > 0:
            raise self.fail("length_factor", f"must be > 0, got {out['length_factor']}")
        if not out["sections"]:
            raise self.fail("sections", "is empty: nothing to report")
        out["sections"] = [self.section(s, f"sections[{i}]") for i, s in enumerate(out["sections"])]
        seen: dict[str, int] = {}
        for i, sec in enumerate(out["sections"]):
            if sec["id"] in seen:
                raise self.fail(
                    f"sections[{i}].id", f"{sec['id']!r} is also sections[{seen[sec['id']]}].id"
                )
            seen[sec["id"]] = i
        return out


def read_results(directory: str | os.PathLike) -> dict:
    """Read ``DIR/results.json`` and check it against the ``wi-reproduction`` schema.

    Parameters
    ----------
    directory : path
        The reproduction directory written by ``wi reproduce``.

    Returns
    -------
    dict
        The results, with the optional keys filled in (a section's ``figures``, ``tables``,
        ``checks``, ``configs`` default to ``[]`` and ``notes`` to ``""``; a check's
        ``measured`` and ``reason`` to ``""``).

    Raises
    ------
    wi.errors.UserError
        For every problem, with ``file`` the results.json path and ``key`` the JSON path of
        the bad entry (e.g. ``sections[2].checks[0].status``): not JSON, a missing, unknown,
        repeated or mistyped key, a status other than pass, fail or not-reproduced, a failed or
        not-reproduced check without a reason, a figure or config path that is absolute,
        outside DIR or missing, a figure that is not a PNG, a config that is not UTF-8 text,
        a schema version newer than this ``wi``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(
            "no such reproduction directory" if not directory.exists() else "is not a directory",
            file=directory,
        )
    file = directory / RESULTS
    require_file(file, "the results.json of a reproduction")
    try:
        raw = loads(file.read_bytes(), object_pairs_hook=_object)
    except JSONDecodeError as exc:
        raise UserError(
            f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", file=file
        ) from None
    except UnicodeDecodeError:
        raise UserError("not valid JSON: not UTF-8 text", file=file) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", file=file) from None
    return _Checker(directory, file).results(raw)
