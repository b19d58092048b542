"""Atomic writes: a file appears whole under its final name or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import InputError, excerpt

# the weight files of a trained model's folder: AcoustEmo's trainable tensors, and stage 1's Q-Formers and head
FINAL_WEIGHTS = "trainable.safetensors"
QFORMER_WEIGHTS = "qformers.safetensors"
HEAD_WEIGHTS = "head.safetensors"
LABELS_FILE = "labels.json"  # the stage-1 head's label words, in its order
PROBE_LABELS_FILE = "probe-labels.json"  # the label words of the probe rows in its statistics projection


_HOST = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:32] or "host"
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)\.[^.]+\.tmp$")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a killed
    or failing writer never leaves a truncated file under the final name.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the name of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{path}: cannot write there ({path.parent} is not a folder)") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def read_text(path: str | os.PathLike, *, encoding: str = "utf-8-sig") -> str:
    """A text file's content; bytes that are not ``encoding`` raise :class:`InputError` naming the file and
    the line (``utf-8-sig`` drops a byte-order mark)."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None


def loads_json(text: str):
    """``json.loads``; JSON nested deeper than Python can follow raises ``json.JSONDecodeError`` like any other
    malformed JSON (instead of ``RecursionError``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None


def remove_stale_temporaries(root: str | os.PathLike) -> int:
    """Delete the temporary files that :func:`atomic_open` writers on this machine left under ``root`` when they
    were killed (their process is gone); returns how many. Files of live writers and of other machines stay."""
    removed = 0
    for folder, _, files in os.walk(root):
        for name in files:
            m = _TEMPORARY.match(name)
            if m is None or m["host"] != _HOST or _alive(int(m["pid"])):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_json(path: str | os.PathLike):
    """A JSON file's value; unreadable, undecodable or malformed files raise :class:`InputError` naming the file."""
    try:
        return loads_json(read_text(path, encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg})") from None


def load_tensors(path: str | os.PathLike, *, what: str = "weights", finite: bool = True) -> dict:
    """The tensors of a safetensors file. A missing, truncated or foreign file, or (with ``finite``) a floating
    tensor holding NaN or infinity, raises :class:`InputError` naming the file and the tensor."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        state = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types (header, buffer, I/O)
        raise InputError(f"{path}: not a readable safetensors file ({excerpt(str(e), 100)[1:-1]})") from None
    if finite:
        for name, t in state.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise InputError(f"{path}: tensor {excerpt(name)} holds NaN or infinite values (a run that diverged?)")
    return state


def save_tensors(path: str | os.PathLike, tensors: dict) -> None:
    """Tensors to a safetensors file (contiguous, on the CPU), atomically."""
    from safetensors.torch import save

    atomic_write_bytes(path, save({n: t.detach().contiguous().cpu() for n, t in tensors.items()}))


def half_matrices(tensors: dict) -> dict:
    """For shipping: every floating tensor of two or more dimensions (weight matrices, query tokens) in float16,
    vectors (biases, norms, input statistics) as they are. Half the bytes on disk; loading casts back to the
    model's own dtype (``copy_``)."""
    import torch

    return {n: t.to(torch.float16) if t.is_floating_point() and t.ndim >= 2 else t for n, t in tensors.items()}


PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def model_folder_kwargs(path: str | os.PathLike, *, what: str, allow_pickle: bool | None = None) -> dict:
    """``from_pretrained`` keyword arguments that load a user's model folder from safetensors only.

    A local folder with ``*.safetensors`` loads those (``use_safetensors=True``). A folder with only pickled
    weights (``pytorch_model.bin``, ``*.pt``...) is refused, since unpickling can run any code, unless
    ``allow_pickle`` (default: the environment variable ``ACOUSTEMO_ALLOW_PICKLE=1``). A hub name loads its
    safetensors. Raises :class:`InputError` naming the folder.
    """
    if allow_pickle is None:
        allow_pickle = os.environ.get("ACOUSTEMO_ALLOW_PICKLE", "") not in ("", "0")
    p = Path(path)
    if not p.exists():
        return {"use_safetensors": True}  # a hub name
    if not p.is_dir():
        raise InputError(f"{p}: {what} must be a model folder (config.json and weights), not a file")
    names = [f.name for f in p.iterdir() if f.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return {"use_safetensors": True}
    if any(n.endswith(PICKLED_WEIGHTS) for n in names):
        if allow_pickle:
            return {"use_safetensors": False}
        raise InputError(f"{p}: {what} has only pickled weights, which can run code when loaded; convert them to "
                         "safetensors, or, if you trust the folder, set ACOUSTEMO_ALLOW_PICKLE=1 (`acoustemo extract`: "
                         "--allow-pickle)")
    raise InputError(f"{p}: {what} has no weights (*.safetensors) in it")
