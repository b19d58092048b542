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

The files hold whole tensors whatever the run's sharding, so a checkpoint does not depend on how the run was
split across processes: :func:`gather_state` collects the trainable tensors and the optimizer state from the
shards (FSDP through ``torch.distributed.checkpoint.state_dict``; DeepSpeed ZeRO through its
``safe_get_full_*`` accessors) and :func:`scatter_state` puts them back into a sharded model and optimizer.
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
from ..io import FINAL_WEIGHTS, atomic_write_json, atomic_write_text, load_tensors, read_json, save_tensors

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
def save_optimizer(optimizer: torch.optim.Optimizer | dict, names: list[str], folder: Path) -> None:
    """Flatten ``optimizer.state_dict()`` (or such a dict): tensors to ``optimizer.safetensors``, the rest to JSON."""
    sd = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
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


def read_optimizer(names: list[str], folder: Path) -> dict:
    """The optimizer state dict saved by :func:`save_optimizer` (parameters as indices into ``names``)."""
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
    return {"state": state, "param_groups": groups}


def load_optimizer(optimizer: torch.optim.Optimizer, names: list[str], folder: Path) -> None:
    optimizer.load_state_dict(read_optimizer(names, folder))


# --------------------------------------------------------------------------------------------- sharded runs
def sharding(accelerator) -> str:
    """How the run holds its trainable state: "replicated" (one process, DDP), "fsdp" or "deepspeed"."""
    kind = str(getattr(accelerator, "distributed_type", "NO")).rsplit(".", 1)[-1].upper()
    return {"FSDP": "fsdp", "DEEPSPEED": "deepspeed"}.get(kind, "replicated")


def _by_name(optim_sd: dict, names: list[str]) -> dict:
    """An index-keyed optimizer state dict -> keyed by parameter name (torch.distributed.checkpoint's form)."""
    return {"state": {names[int(i)]: v for i, v in optim_sd["state"].items()},
            "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]} for g in optim_sd["param_groups"]]}


def _by_index(optim_sd: dict, names: list[str]) -> dict:
    index = {n: i for i, n in enumerate(names)}
    return {"state": {index[n]: v for n, v in optim_sd["state"].items()},
            "param_groups": [{**g, "params": [index[n] for n in g["params"]]} for g in optim_sd["param_groups"]]}


def _ds_params(model, names: list[str]) -> list:
    own = dict(model.named_parameters())
    return [own[n] for n in names]


def _ds_step(optimizer):
    """Adam's step count under ZeRO (the base optimizer's state of any flat partition), or None before a step."""
    base = getattr(optimizer, "optimizer", optimizer)
    found = next((v["step"] for v in base.state.values() if isinstance(v, dict) and "step" in v), None)
    return float(found) if found is not None else None


def gather_state(kind: str, *, model, wrapped, optimizer, names: list[str],
                 group_params: list[list[int]] | None = None) -> tuple[dict, dict]:
    """(trainable tensors by name, optimizer state dict with indices into ``names``), whole and on the CPU.

    ``model`` is the unwrapped model, ``wrapped`` what ``accelerator.prepare`` returned, ``optimizer`` the torch
    optimizer inside accelerate's wrapper, ``group_params`` the indices into ``names`` of each param group (needed
    under DeepSpeed, whose groups hold flat partitions). Under "fsdp" and "deepspeed" this is a collective: every
    process must call it; under "fsdp" only the main process receives the state (the others get empty dicts)."""
    if kind == "replicated":
        return ({n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
                optimizer.state_dict())
    if kind == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        msd, osd = get_state_dict(wrapped, optimizer, options=StateDictOptions(
            full_state_dict=True, cpu_offload=True, ignore_frozen_params=True))
        if not msd:  # with cpu_offload only the first process receives the whole state
            return {}, {"state": {}, "param_groups": []}
        return {n: msd[n] for n in names}, _by_index(osd, names)
    if kind == "deepspeed":
        from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

        params = _ds_params(model, names)
        tensors = {n: safe_get_full_fp32_param(p).cpu() for n, p in zip(names, params)}
        step = _ds_step(optimizer)
        state = {}
        for i, p in enumerate(params):
            state[i] = {k: safe_get_full_optimizer_state(p, k).cpu() for k in ("exp_avg", "exp_avg_sq")}
            if step is not None:
                state[i]["step"] = torch.tensor(float(step))
        # ZeRO holds one flat partition per param group, in the order the groups were given
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": list(members)}
                  for g, members in zip(optimizer.param_groups, group_params)]
        return tensors, {"state": state, "param_groups": groups}
    raise ValueError(f"unknown sharding {kind!r}")


def scatter_state(kind: str, folder: Path, *, model, wrapped, optimizer, names: list[str]) -> None:
    """Load a checkpoint's trainable tensors and optimizer state into a (possibly sharded) model and optimizer."""
    if kind == "replicated":
        model.load_trainable(folder / FINAL_WEIGHTS)
        load_optimizer(optimizer, names, folder)
        return
    trainable = load_tensors(folder / FINAL_WEIGHTS, what="trainable tensors")
    if sorted(trainable) != sorted(names):
        raise InputError(f"{folder}: the checkpoint holds other trainable tensors than this model's")
    optim_sd = read_optimizer(names, folder)
    if kind == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(wrapped, optimizer, model_state_dict=trainable, optim_state_dict=_by_name(optim_sd, names),
                       options=StateDictOptions(full_state_dict=True, strict=False))
        return
    if kind == "deepspeed":
        from deepspeed.utils import safe_set_full_fp32_param, safe_set_full_optimizer_state

        for i, (n, p) in enumerate(zip(names, _ds_params(model, names))):
            safe_set_full_fp32_param(p, trainable[n])
            for k in ("exp_avg", "exp_avg_sq"):
                safe_set_full_optimizer_state(p, optim_sd["state"][i][k], k)
        step = next((float(v["step"]) for v in optim_sd["state"].values() if "step" in v), None)
        base = getattr(optimizer, "optimizer", optimizer)
        if step is not None:  # ZeRO keeps one Adam step count per flat partition
            for v in base.state.values():
                if isinstance(v, dict) and "step" in v:
                    if torch.is_tensor(v["step"]):
                        v["step"].fill_(step)
                    else:
                        v["step"] = int(step)
        return
    raise ValueError(f"unknown sharding {kind!r}")


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


def write_main(tmp: Path, *, trainable: dict[str, torch.Tensor], optimizer_state: dict, names: list[str], scheduler,
               config_yaml: str, state: dict) -> None:
    """Everything but the per-process RNG files (main process); tensors as :func:`gather_state` returns them."""
    save_tensors(tmp / FINAL_WEIGHTS, trainable)
    atomic_write_text(tmp / "config.yaml", config_yaml)
    save_optimizer(optimizer_state, names, tmp)
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


def load(folder: Path, *, model, optimizer, names: list[str], scheduler, rank: int, wrapped=None,
         kind: str = "replicated") -> dict:
    """Restore a checkpoint into the given objects (see :func:`scatter_state`); returns its ``state.json``."""
    scatter_state(kind, folder, model=model, wrapped=wrapped if wrapped is not None else model, optimizer=optimizer,
                  names=names)
    scheduler.load_state_dict(read_json(folder / "scheduler.json"))
    load_rng(folder / f"rng-rank{rank}.safetensors")
    return read_json(folder / "state.json")
