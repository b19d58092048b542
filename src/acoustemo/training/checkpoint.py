"""Training checkpoints without pickles: safetensors for tensors, JSON/YAML for everything else.

A checkpoint folder ``<output_dir>/checkpoints/step-000040/`` holds::

    trainable.safetensors     the trainable tensors only (Q-Formers, projections, LoRA)
    config.yaml               the resolved configuration
    optimizer.safetensors     every tensor of the optimizer state, as ``state.<param index>.<name>``
    optimizer.json            the rest: param groups, non-tensor state, the parameter names in index order
    scheduler.json            the LR scheduler's state dict
    rng-rank<r>.safetensors   per process: torch CPU (and CUDA) generator states, Python's and NumPy's
                              Mersenne Twister states as int64 tensors
    state.json                step, epoch, world size, samples and tokens seen

It is written into a temporary folder and renamed into place, so a killed run leaves either a whole
checkpoint or none; resuming picks the newest whole one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..errors import InputError
from ..io import atomic_write_json, atomic_write_text, load_tensors, read_json

STEP_DIR = re.compile(r"^step-(\d{6,})$")


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:06d}"


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``root`` (``.../checkpoints``), or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)) and
             (p / "state.json").is_file()]
    return max(found)[1] if found else None


# --------------------------------------------------------------------------------------------- optimizer
def save_optimizer(optimizer: torch.optim.Optimizer, names: list[str], folder: Path) -> None:
    """Flatten ``optimizer.state_dict()``: tensors to ``optimizer.safetensors``, the rest to JSON."""
    sd = optimizer.state_dict()
    tensors, plain = {}, {}
    for idx, state in sd["state"].items():
        plain[str(idx)] = {}
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                plain[str(idx)][k] = v
    save_file(tensors, str(folder / "optimizer.safetensors"))
    atomic_write_json(folder / "optimizer.json", {"param_groups": sd["param_groups"], "state": plain,
                                                  "param_names": names})


def load_optimizer(optimizer: torch.optim.Optimizer, names: list[str], folder: Path) -> None:
    meta = read_json(folder / "optimizer.json")
    if meta["param_names"] != names:
        raise ValueError(f"{folder}: the optimizer was saved for other parameters than this model's trainable ones")
    tensors = load_tensors(folder / "optimizer.safetensors", what="optimizer state")
    state: dict[int, dict] = {int(i): dict(v) for i, v in meta["state"].items()}
    for key, t in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = t
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------------------------- RNG
def save_rng(path: Path) -> None:
    """This process's random generator states (torch CPU/CUDA, Python, NumPy) as tensors."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        "torch_cpu": torch.get_rng_state(),
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
    }
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    meta = {"python_version": str(py_version), "python_gauss": json.dumps(py_gauss), "numpy_name": np_name,
            "numpy_pos": str(np_pos), "numpy_has_gauss": str(np_has_gauss), "numpy_gauss": repr(float(np_gauss))}
    save_file(tensors, str(path), metadata=meta)


def load_rng(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            t = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises several types
        raise InputError(f"{path}: not a readable random-state file ({e})") from None
    torch.set_rng_state(t["torch_cpu"])
    cuda = [t[k] for k in sorted(t) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    random.setstate((int(meta["python_version"]), tuple(t["python_state"].tolist()),
                     json.loads(meta["python_gauss"])))
    np.random.set_state((meta["numpy_name"], t["numpy_keys"].numpy().astype(np.uint32), int(meta["numpy_pos"]),
                         int(meta["numpy_has_gauss"]), float(meta["numpy_gauss"])))


# --------------------------------------------------------------------------------------------- whole folders
def begin(root: Path, step: int) -> Path:
    """A fresh temporary folder for the checkpoint of ``step`` (main process)."""
    tmp = tmp_dir(root, step)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def tmp_dir(root: Path, step: int) -> Path:
    return root / f".tmp-step-{step:06d}"


def remove_partial(root: Path) -> int:
    """Delete the temporary folders of checkpoints that a killed run did not finish; returns how many."""
    folders = sorted(root.glob(".tmp-step-*")) if root.is_dir() else []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


def write_main(tmp: Path, *, model, optimizer, names: list[str], scheduler, config_yaml: str, state: dict) -> None:
    """Everything but the per-process RNG files (main process)."""
    model.save_trainable(tmp / "trainable.safetensors")
    atomic_write_text(tmp / "config.yaml", config_yaml)
    save_optimizer(optimizer, names, tmp)
    atomic_write_json(tmp / "scheduler.json", scheduler.state_dict())
    atomic_write_json(tmp / "state.json", state)  # last: its presence marks a whole checkpoint


def finish(root: Path, tmp: Path, step: int, keep: int) -> Path:
    """Rename the temporary folder into place and delete all but the ``keep`` newest checkpoints."""
    final = step_dir(root, step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    done = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)))
    for _, p in done[:-keep]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load(folder: Path, *, model, optimizer, names: list[str], scheduler, rank: int) -> dict:
    """Restore a checkpoint into the given objects; returns its ``state.json``."""
    model.load_trainable(folder / "trainable.safetensors")
    load_optimizer(optimizer, names, folder)
    scheduler.load_state_dict(read_json(folder / "scheduler.json"))
    load_rng(folder / f"rng-rank{rank}.safetensors")
    return read_json(folder / "state.json")
