"""Reading open-vocabulary label lists: the cell parser and the CSV / JSONL / grouping-file readers.

A label list is written in many ways; all of these give ``["happy", "relieved"]``::

    ['happy', 'relieved']      ["happy","relieved"]      [happy, relieved]
    happy, relieved            Happy，Relieved  (full-width comma)      "  HAPPY , relieved "

``[]``, ``""`` and a blank cell are the empty list. Labels are stripped and lower-cased.

Files:

- CSV with a header and the columns ``name`` and ``openset`` (other columns are ignored);
- JSONL, one object a line, with ``name`` (or ``id``) and ``openset`` (or ``labels``), the value a
  JSON list of strings or a string in one of the forms above — a project manifest is accepted as is;
- a grouping file: a JSON object ``{name: [[label, synonym, ...], ...]}`` of per-sample synonym groups.

Every problem raises :class:`acoustemo.errors.InputError` naming the file, the row and the column.
"""

from __future__ import annotations

import csv
import json
import os
import re
from io import StringIO
from pathlib import Path

from ..errors import InputError, where
from ..io import loads_json, read_text

_SEPARATORS = re.compile(r"[,，、;；]")  # ASCII and full-width commas, ideographic comma, semicolons
_CLOSING_QUOTE = {"'": "'", '"': '"', "‘": "’", "“": "”"}
_OPEN, _CLOSE = "[［", "]］"


def normalize_label(label: str) -> str:
    """``"  Happy "`` -> ``"happy"``."""
    return label.strip().lower()


def parse_labels(value) -> list[str]:
    """Parse one label-list cell (a string or a list of strings) into normalised labels, in order.

    The text is a sequence of items separated by commas (ASCII or full-width), ``、`` or
    semicolons, optionally inside one or more bracketed lists (``[a, b]``, ``[], [c]`` and
    ``[], c`` are all accepted and concatenated). An item may be quoted with ``'`` or ``"`` (then it
    may hold commas and apostrophes, as in ``"don't know"``); quotes inside an unquoted item are
    kept. Raises ``ValueError`` with a short reason when the text is not a label list: unbalanced
    or nested brackets, an unterminated quote, or a non-string item.
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"item {item!r} is not a string")
        return [normalize_label(x) for x in value if x.strip()]
    if not isinstance(value, str):
        raise ValueError(f"expected a string or a list of strings, got {type(value).__name__}")
    return [normalize_label(x) for x in _tokenize(value) if x.strip()]


def _tokenize(text: str) -> list[str]:
    items: list[str] = []
    buf: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in _OPEN:
            if depth or "".join(buf).strip():
                raise ValueError(f"nested or stray '[' at character {i + 1} of {text!r}")
            depth = 1
        elif c in _CLOSE:
            if not depth:
                raise ValueError(f"unbalanced ']' at character {i + 1} of {text!r}")
            depth = 0
            items.append("".join(buf))
            buf = []
        elif _SEPARATORS.match(c):
            items.append("".join(buf))
            buf = []
        elif c in _CLOSING_QUOTE and not "".join(buf).strip():
            end = _closing_quote(text, i)
            if end is None:
                raise ValueError(f"unterminated quote at character {i + 1} of {text!r}")
            buf = [text[i + 1 : end]]
            i = end
        else:
            buf.append(c)
        i += 1
    if depth:
        raise ValueError(f"unbalanced '[' in {text!r}")
    items.append("".join(buf))
    return items


def _closing_quote(text: str, start: int) -> int | None:
    """Index of the quote that closes the one at ``start``: the first one followed by a separator,
    a bracket or the end (spaces aside)."""
    close = _CLOSING_QUOTE[text[start]]
    k = text.find(close, start + 1)
    while k != -1:
        rest = text[k + 1 :].lstrip()
        if not rest or rest[0] in _CLOSE or rest[0] in _OPEN or _SEPARATORS.match(rest[0]):
            return k
        k = text.find(close, k + 1)
    return None


def _missing(path: Path) -> InputError:
    return InputError(f"{where(path=path)}: file not found")


def _read_csv(path: Path, columns: tuple[str, str]) -> dict[str, list[str]]:
    name_col, label_col = columns
    try:
        with StringIO(read_text(path), newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for col in columns:
                if col not in header:
                    raise InputError(
                        f"{where(path=path, row=1, field=col)}: missing column "
                        f"(header has: {', '.join(header) or 'nothing'})"
                    )
            out: dict[str, list[str]] = {}
            for row in reader:
                line = reader.line_num
                name = (row.get(name_col) or "").strip()
                if not name:
                    raise InputError(f"{where(path=path, row=line, field=name_col)}: empty name")
                if name in out:
                    raise InputError(f"{where(path=path, row=line, field=name_col)}: duplicate name {name!r}")
                if None in row:  # more cells than header columns
                    raise InputError(
                        f"{where(path=path, row=line, field=label_col)}: more cells than columns "
                        "(quote a label list that contains commas)"
                    )
                try:
                    out[name] = parse_labels(row.get(label_col))
                except ValueError as e:
                    raise InputError(f"{where(path=path, row=line, field=label_col)}: {e}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{where(path=path)}: not UTF-8 text ({e.reason})") from None
    except csv.Error as e:
        raise InputError(f"{where(path=path)}: malformed CSV ({e})") from None
    return out


def _read_jsonl(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{where(path=path)}: not UTF-8 text ({e.reason})") from None
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where(path=path, row=line_no)}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where(path=path, row=line_no)}: not a JSON object")
        name_key = "name" if "name" in obj else "id"
        label_key = "openset" if "openset" in obj else "labels"
        name = obj.get(name_key)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where(path=path, row=line_no, field='name')}: missing or not a non-empty string")
        name = name.strip()
        if name in out:
            raise InputError(f"{where(path=path, row=line_no, field=name_key)}: duplicate name {name!r}")
        if label_key not in obj:
            raise InputError(f"{where(path=path, row=line_no, field='openset')}: missing field")
        try:
            out[name] = parse_labels(obj[label_key])
        except ValueError as e:
            raise InputError(f"{where(path=path, row=line_no, field=label_key)}: {e}") from None
    return out


def read_labels(path: str | os.PathLike, *, gold: bool = False) -> dict[str, list[str]]:
    """Read ``name -> labels`` from a CSV (``name,openset``) or a JSONL file (by its extension).

    With ``gold=True`` a file in which no sample has a label is an error (it cannot be scored).
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            out = _read_jsonl(path)
        else:
            out = _read_csv(path, ("name", "openset"))
    except OSError as e:
        raise InputError(f"{where(path=path)}: cannot read ({e.strerror})") from None
    if gold and not any(out.values()):
        raise InputError(
            f"{where(path=path, field='openset')}: gold file has no labels "
            f"({len(out)} samples, all with an empty label list)"
        )
    return out


def read_grouping(path: str | os.PathLike) -> dict[str, list[list[str]]]:
    """Read per-sample synonym groups: JSON ``{name: [[label, ...], ...]}``, labels normalised."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        obj = loads_json(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise InputError(f"{where(path=path)}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{where(path=path)}: not a JSON file ({e})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{where(path=path)}: expected a JSON object {{name: [[label, ...], ...]}}")
    out: dict[str, list[list[str]]] = {}
    for name, groups in obj.items():
        ok = isinstance(groups, list) and all(
            isinstance(g, list) and all(isinstance(x, str) for x in g) for g in groups
        )
        if not ok:
            raise InputError(f"{where(path=path, sample=name)}: expected a list of lists of labels")
        out[name] = [[normalize_label(x) for x in g if x.strip()] for g in groups]
    return out
