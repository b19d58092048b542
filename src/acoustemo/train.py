"""``acoustemo train``: the recipe of section 4.1 on Hugging Face accelerate.

    acoustemo train --config configs/small.yaml
    acoustemo train --config configs/small.yaml --train.lr=0.0001 --model.acoustic.num_queries=16
    acoustemo train --config configs/small.yaml --resume            # continue a killed run
    accelerate launch --cpu --num_processes 2 -m acoustemo.cli train --config configs/small.yaml   # DDP, gloo

The loop, per optimizer step ``s`` (0-based):

- data order: each epoch is a permutation of the training set drawn from ``(train.seed, epoch)``; it is cut
  into global batches of ``batch_size x grad_accum x world_size`` samples (a remainder smaller than one
  global batch is left out of that epoch; other samples fall into it next epoch). Process ``r`` takes its
  ``batch_size x grad_accum`` slice of the global batch, in ``grad_accum`` micro-batches. The order is a
  function of ``s`` alone, so resuming at step ``s`` needs no sampler state.
- loss: Eq. (4) summed over the answer tokens of every micro-batch on every process and divided by the
  answer tokens of the whole global batch, so gradient accumulation and any number of processes give the
  gradient of the same global batch as one process with one big batch.
- AdamW (weight decay on matrices, not on biases and norms), gradient clipping at ``max_grad_norm``,
  linear warm-up over ``warmup_ratio`` of the steps, then cosine (or linear / constant) decay.

Written to ``train.output_dir``: ``log.jsonl`` (one line per step: loss, lr, grad norm, tokens; one per
validation), ``checkpoints/step-NNNNNN/`` (see :mod:`acoustemo.checkpoint`), ``final/trainable.safetensors``
with ``final/config.yaml``. Resuming restores weights, optimizer, scheduler and each process's RNG, and
the final weights equal those of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import torch

from . import checkpoint as ckpt
from .config import Config, load_config
from .errors import ConfigError, InputError
from .io import atomic_write_text

LOG_NAME = "log.jsonl"
FINAL_WEIGHTS = "trainable.safetensors"


# --------------------------------------------------------------------------------------------- CLI
class _Override(argparse.Action):
    """``--section.key=value`` -> ``args.overrides += ["section.key=value"]``."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, "overrides", None) or [])
        items.append(f"{option_string.removeprefix('--')}={values}")
        setattr(namespace, "overrides", items)


def config_paths(cls=Config, prefix: str = "") -> list[str]:
    """Every leaf key of the configuration: ``["model.llm", ..., "model.acoustic.num_queries", "train.lr", ...]``."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += config_paths(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def add_config_arguments(parser: argparse.ArgumentParser, default: str = "small") -> None:
    """``--config`` and one ``--section.key VALUE`` option per configuration key (values read as YAML)."""
    parser.add_argument("--config", default=default,
                        help=f"preset name (paper, small, tiny) or YAML file (default: {default})")
    parser.set_defaults(overrides=[])
    group = parser.add_argument_group("configuration overrides", "any key of the resolved config, e.g. "
                                      "--train.lr=0.0001 --model.windows=fixed (values are parsed as YAML)")
    for key in config_paths():
        group.add_argument(f"--{key}", action=_Override, metavar="V", help=argparse.SUPPRESS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                        help="continue from the newest checkpoint in train.output_dir (or the given folder)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                        help="checkpoint and stop after this optimizer step, as a killed run would (the "
                             "schedule still spans the whole run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=args.resume, stop_after=args.stop_after, progress=not args.quiet)
    if result.is_main:
        where = result.final if result.final else result.output_dir / "checkpoints"
        print(f"trained {result.step}/{result.total_steps} steps, loss {result.loss:.4f}"
              + (f", validation loss {result.val_loss:.4f}" if result.val_loss is not None else "")
              + f" -> {where}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------- pieces
def require(cfg: Config, *keys: str) -> None:
    for key in keys:
        if getattr(cfg.train, key) is None:
            raise ConfigError(f"train.{key} is not set: give it in the YAML or as --train.{key}=...")


def dataset_for(cfg: Config, manifest: str | Path, *, require_labels: bool):
    """The :class:`FeatureDataset` of a manifest in ``train.cache_dir``, its feature sizes checked against the model."""
    from .data.dataset import FeatureDataset

    require(cfg, "cache_dir")
    ds = FeatureDataset.from_manifest(manifest, cfg.train.cache_dir, audio_key=cfg.train.audio_key,
                                      visual_key=cfg.train.visual_key, use_visual=cfg.model.use_visual,
                                      require_labels=require_labels)
    dims = ds.dims()
    for kind, want in (("audio", cfg.model.audio_dim), ("visual", cfg.model.visual_dim if cfg.model.use_visual else None)):
        if dims[kind] is not None and want is not None and dims[kind] != want:
            raise ConfigError(f"model.{kind}_dim={want} but the {kind} features in {cfg.train.cache_dir} under "
                              f"{getattr(ds, f'{kind}_key')!r} have {dims[kind]} dimensions")
    return ds


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based) of ``total``."""
    if step < warmup:
        return (step + 1) / warmup  # linear warm-up, reaching the peak at the last warm-up step
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class LRSchedule:
    """A picklable ``lr_lambda`` (a plain object, so ``LambdaLR.state_dict`` stays JSON)."""

    def __init__(self, total: int, warmup: int, schedule: str):
        self.total, self.warmup, self.schedule = total, warmup, schedule

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total, self.warmup, self.schedule)


def epoch_batches(n: int, global_batch: int, seed: int, epoch: int) -> list[list[int]]:
    """The global batches of one epoch: a permutation seeded by ``(seed, epoch)``, cut into whole batches."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    return [perm[i:i + global_batch] for i in range(0, n - global_batch + 1, global_batch)]


def rank_micro_batches(global_batch: list[int], rank: int, batch_size: int, grad_accum: int) -> list[list[int]]:
    """Process ``rank``'s micro-batches of one global batch."""
    per_rank = batch_size * grad_accum
    mine = global_batch[rank * per_rank:(rank + 1) * per_rank]
    return [mine[i:i + batch_size] for i in range(0, per_rank, batch_size)]


def answer_tokens(batch) -> torch.Tensor:
    """Tokens the causal-LM loss counts (labels shifted by one, as the LM shifts them)."""
    return (batch.labels[:, 1:] != -100).sum()


def mixed_precision(precision: str) -> str:
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return {"fp32": "no"}.get(precision, precision)


def weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> tuple[list[dict], list[str]]:
    """AdamW groups: decay on matrices, none on biases / norm scales; and the parameter names in order."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [(n, p) for n, p in trainable if p.ndim >= 2]
    no_decay = [(n, p) for n, p in trainable if p.ndim < 2]
    names = [n for n, _ in decay + no_decay]  # the optimizer's parameter order
    decay, no_decay = [p for _, p in decay], [p for _, p in no_decay]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], names


@torch.no_grad()
def validation_loss(model, dataset, collator, batch_size: int, accelerator) -> float:
    """Token-weighted mean loss over ``dataset`` (each process takes every world-th sample)."""
    was_training = model.training
    model.eval()
    rank, world = accelerator.process_index, accelerator.num_processes
    idx = list(range(rank, len(dataset), world))
    total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for i in range(0, len(idx), batch_size):
        batch = collator([dataset[j] for j in idx[i:i + batch_size]]).to(accelerator.device)
        with accelerator.autocast():
            out = model(batch)
        n = answer_tokens(batch)
        total += torch.stack([out.loss.double() * n, n.double()])
    total = accelerator.reduce(total, "sum")
    model.train(was_training)
    return float(total[0] / total[1]) if total[1] else float("nan")


@dataclass
class TrainResult:
    output_dir: Path
    step: int  # optimizer steps done
    total_steps: int
    loss: float  # last step's loss
    val_loss: float | None
    final: Path | None  # the final weights, None when stopped early
    is_main: bool = True
    model: torch.nn.Module | None = dataclasses.field(default=None, repr=False)  # the trained AcoustEmo


def _logged_step(line: str) -> float:
    """The step of a log line; infinity for a blank line or one cut short by a killed run (dropped)."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


class _Log:
    """``log.jsonl``: appended by the main process; on resume, lines past the checkpoint are dropped."""

    def __init__(self, path: Path, enabled: bool, keep_until: int | None):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        lines = []
        if keep_until is not None and path.is_file():
            lines = [ln for ln in path.read_text().splitlines() if _logged_step(ln) <= keep_until]
        atomic_write_text(path, "".join(ln + "\n" for ln in lines))
        self.f = open(path, "a", encoding="utf-8")

    def write(self, **row) -> None:
        if self.enabled:
            self.f.write(json.dumps(row) + "\n")
            self.f.flush()

    def close(self) -> None:
        if self.enabled:
            self.f.close()


# --------------------------------------------------------------------------------------------- the loop
def train(cfg: Config, *, resume: str | None = None, stop_after: int | None = None,
          progress: bool = True) -> TrainResult:
    """Train as configured; see the module docstring. Returns where things were written."""
    from accelerate import Accelerator
    from tqdm import tqdm

    from .data.collate import Collator, check_examples
    from .model import AcoustEmo

    t = cfg.train
    require(cfg, "train_manifest", "cache_dir", "output_dir")
    out = Path(t.output_dir)
    accelerator = Accelerator(mixed_precision=mixed_precision(t.precision))
    rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process

    train_ds = dataset_for(cfg, t.train_manifest, require_labels=True)
    val_ds = dataset_for(cfg, t.validation_manifest, require_labels=True) if t.validation_manifest else None
    # the resolved cache keys ("whisper-0123456789ab") go into every saved config, so that a checkpoint
    # names exactly the features it was trained on
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(t, audio_key=train_ds.audio_key,
                                                             visual_key=train_ds.visual_key))
    t = cfg.train
    global_batch = t.batch_size * t.grad_accum * world
    if len(train_ds) < global_batch:
        raise ConfigError(f"{t.train_manifest}: {len(train_ds)} samples, fewer than one global batch of "
                          f"{global_batch} (batch_size x grad_accum x processes)")
    steps_per_epoch = len(train_ds) // global_batch
    total = min(t.max_steps, t.epochs * steps_per_epoch) if t.max_steps else t.epochs * steps_per_epoch
    warmup = math.ceil(t.warmup_ratio * total)

    torch.manual_seed(t.seed)  # same initial weights on every process and in every run of this seed
    model = AcoustEmo.from_config(cfg.model)
    collator = Collator(cfg.model, model.tokenizer, train=True)
    for name, ds in (("train", train_ds), ("validation", val_ds)):
        if ds is not None:  # every sample collates, before the first step rather than hours into the run
            check_examples(collator, ds, progress=progress and main, desc=f"check {name}")
    groups, names = weight_decay_groups(model, t.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=t.lr, betas=tuple(t.betas))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule(total, warmup, t.schedule))
    torch.manual_seed(t.seed + 1 + rank)  # dropout streams differ between processes
    model.train()

    ckpt_root = out / "checkpoints"
    start = 0
    seen = {"samples": 0, "tokens": 0}
    if resume:
        folder = ckpt.latest_checkpoint(ckpt_root) if resume == "latest" else Path(resume)
        if folder is None:
            raise InputError(f"{ckpt_root}: no checkpoint to resume from")
        _check_resumable(cfg, folder, world)
        state = ckpt.load(folder, model=model, optimizer=optimizer, names=names, scheduler=scheduler, rank=rank)
        if state["total_steps"] != total:
            raise ConfigError(f"{folder}: the run had {state['total_steps']} steps, this one would have {total} "
                              f"(the training manifest's content changed?); resuming would not continue it")
        start = state["step"]
        seen = {"samples": state["samples"], "tokens": state["tokens"]}
    elif ckpt.latest_checkpoint(ckpt_root) is not None:
        raise ConfigError(f"{ckpt_root}: holds checkpoints of an earlier run; continue it with --resume or "
                          f"choose another train.output_dir")
    if stop_after is not None and stop_after <= start:
        raise ConfigError(f"--stop-after {stop_after}: the run is already at step {start}")
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    params = [p for p in raw_model.parameters() if p.requires_grad]

    log = _Log(out / LOG_NAME, main, keep_until=start if resume else None)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", cfg.to_yaml())
    bar = tqdm(total=total, initial=start, disable=not (main and progress), file=sys.stderr, dynamic_ncols=True,
               desc="train", unit="step")
    every_eval = t.eval_every or steps_per_epoch
    every_save = t.save_every or steps_per_epoch
    loss_value, val = float("nan"), None
    last_saved = start if resume else -1

    def save(step: int) -> None:
        nonlocal last_saved
        tmp = ckpt.tmp_dir(ckpt_root, step)
        if main:
            ckpt.begin(ckpt_root, step)
        accelerator.wait_for_everyone()
        ckpt.save_rng(tmp / f"rng-rank{rank}.safetensors")
        accelerator.wait_for_everyone()
        if main:
            ckpt.write_main(tmp, model=raw_model, optimizer=_inner(optimizer), names=names, scheduler=scheduler,
                            config_yaml=cfg.to_yaml(), state={"step": step, "epoch": step // steps_per_epoch,
                                                               "world_size": world, "total_steps": total, **seen})
            ckpt.finish(ckpt_root, tmp, step, t.keep_checkpoints)
        accelerator.wait_for_everyone()
        last_saved = step

    step = start
    batches_epoch, batches = -1, []
    while step < total:
        epoch, within = divmod(step, steps_per_epoch)
        if epoch != batches_epoch:
            batches, batches_epoch = epoch_batches(len(train_ds), global_batch, t.seed, epoch), epoch
        t0 = time.perf_counter()
        micro = [collator([train_ds[i] for i in idx]).to(accelerator.device)
                 for idx in rank_micro_batches(batches[within], rank, t.batch_size, t.grad_accum)]
        local_tokens = torch.stack([answer_tokens(b) for b in micro]).sum()
        n_tokens = accelerator.reduce(local_tokens.clone(), "sum")
        loss_sum = torch.zeros((), dtype=torch.float64, device=accelerator.device)
        for j, b in enumerate(micro):
            sync = j == len(micro) - 1
            with (contextlib.nullcontext() if sync else accelerator.no_sync(model)), accelerator.autocast():
                lm_loss = model(b).loss
                n = answer_tokens(b)
                # DDP averages gradients over processes: scale by world so the sum over the global batch remains
                accelerator.backward(lm_loss * n / n_tokens * world)
            loss_sum += lm_loss.detach().double() * n
        grad_norm = accelerator.clip_grad_norm_(params, t.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_value = float(accelerator.reduce(loss_sum, "sum") / n_tokens)
        seen["samples"] += global_batch
        seen["tokens"] += int(accelerator.reduce(torch.tensor(sum(int(b.attention_mask.sum()) for b in micro),
                                                              device=accelerator.device), "sum"))
        log.write(step=step, epoch=epoch, loss=loss_value, lr=lr, grad_norm=float(grad_norm),
                  answer_tokens=int(n_tokens), tokens=seen["tokens"], seconds=round(time.perf_counter() - t0, 4))
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", refresh=False)
        if val_ds is not None and (step % every_eval == 0 or step == total):
            val = validation_loss(raw_model, val_ds, collator, t.eval_batch_size, accelerator)
            log.write(step=step, epoch=epoch, val_loss=val)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", val=f"{val:.4f}", refresh=False)
        if step % every_save == 0 or step == total or step == stop_after:
            save(step)
        if stop_after is not None and step >= stop_after:
            break
    if last_saved != step and step > 0:
        save(step)
    bar.close()
    log.close()
    final = None
    if step >= total:
        final = out / "final"
        if main:
            raw_model.save_trainable(final / FINAL_WEIGHTS)
            atomic_write_text(final / "config.yaml", cfg.to_yaml())
        accelerator.wait_for_everyone()
    return TrainResult(out, step, total, loss_value, val, final, main, raw_model)


def _inner(optimizer):
    """The torch optimizer inside accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


# Train keys that change the trajectory: a resumed run must keep them.
_TRAJECTORY_KEYS = ("lr", "betas", "weight_decay", "warmup_ratio", "schedule", "epochs", "batch_size", "grad_accum",
                    "max_grad_norm", "seed", "max_steps", "train_manifest")


def _check_resumable(cfg: Config, folder: Path, world: int) -> None:
    if not (folder / "state.json").is_file():
        raise InputError(f"{folder}: not a complete checkpoint (no state.json)")
    saved = load_config(folder / "config.yaml")
    if saved.model != cfg.model:
        raise ConfigError(f"{folder}: the checkpoint was trained with another model configuration")
    changed = [k for k in _TRAJECTORY_KEYS if getattr(saved.train, k) != getattr(cfg.train, k)]
    if changed:
        raise ConfigError(f"{folder}: train.{changed[0]} differs from the checkpoint's; resuming would not "
                          f"continue the same run")
    state = json.loads((folder / "state.json").read_text())
    if state["world_size"] != world:
        raise ConfigError(f"{folder}: saved by {state['world_size']} processes, resumed with {world}")
