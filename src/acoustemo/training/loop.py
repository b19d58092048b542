"""The training loop of section 4.1 on Hugging Face accelerate, as named steps.

    trainer = Trainer(cfg)           # accelerator, datasets, run length
    trainer.setup_model()            # AcoustEmo (fresh=False before a restore), collator, AdamW, schedule
    trainer.restore("latest")        # optional: weights, optimizer, schedule and RNG of a checkpoint
    result = trainer.fit()           # loss_step per optimizer step, validation, save

or simply ``train(cfg, resume=...)``. Per optimizer step ``s`` (0-based):

- data order: each epoch is a permutation of the training set drawn from ``(train.seed, epoch)``; it is cut
  into global batches of ``batch_size x grad_accum x world_size`` samples (a remainder smaller than one
  global batch is left out of that epoch; other samples fall into it next epoch). Process ``r`` takes its
  ``batch_size x grad_accum`` slice of the global batch, in ``grad_accum`` micro-batches. The order is a
  function of ``s`` alone, so resuming at step ``s`` needs no sampler state.
- loss: Eq. (4) summed over the answer tokens of every micro-batch on every process and divided by the
  answer tokens of the whole global batch, so gradient accumulation and any number of processes give the
  gradient of the same global batch as one process with one big batch. Accumulation is accelerate's own
  (``accelerator.accumulate``), so DDP, FSDP and DeepSpeed ZeRO each synchronise and step once per optimizer step.
- AdamW (weight decay on matrices, not on biases and norms), gradient clipping at ``max_grad_norm``,
  transformers' linear warm-up over ``warmup_ratio`` of the steps, then cosine (or linear / constant) decay.

Written to ``train.output_dir``: ``log.jsonl`` (one line per step: loss, lr, grad norm, tokens; one per
validation), ``checkpoints/step-NNNNNN/`` (see :mod:`acoustemo.training.checkpoint`),
``final/trainable.safetensors`` with ``final/config.yaml``. Checkpoints hold whole tensors, gathered from the
shards under FSDP or DeepSpeed. Resuming restores weights, optimizer, scheduler and each process's RNG, and the
final weights equal those of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import STAGE_ONE_SETTINGS, TRAJECTORY_SETTINGS, Config, load_config, settings_diff
from ..data.dataset import dataset_for, prepared_for, require
from ..data.speakers import require_speakers
from ..errors import ConfigError, InputError, TrainingError
from ..io import (FINAL_WEIGHTS, HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE, QFORMER_WEIGHTS, atomic_write_bytes,
                  atomic_write_text, read_json, remove_stale_temporaries, save_tensors)
from . import checkpoint as ckpt
from .optim import build_scheduler, epoch_batches, rank_micro_batches, weight_decay_groups

LOG_NAME = "log.jsonl"


def answer_tokens(batch) -> torch.Tensor:
    """Tokens the causal-LM loss counts (labels shifted by one, as the LM shifts them)."""
    return (batch.labels[:, 1:] != -100).sum()


def mixed_precision(precision: str, device: torch.device) -> str:
    """accelerate's ``mixed_precision`` for ``train.precision``: auto is bf16 (or fp16) on GPUs, none on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"fp32": "no"}.get(precision, precision)


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


def train(cfg: Config, *, resume: str | None = None, stop_after: int | None = None, device: str | None = None,
          progress: bool = True) -> TrainResult:
    """Train as configured (see the module docstring); ``resume``: "latest" or a checkpoint folder;
    ``device``: "auto" (a GPU when present) or "cpu" (under ``accelerate launch``, its own choice holds)."""
    if cfg.train.acoustic.epochs and not cfg.model.qformer_weights:
        cfg = acoustic_stage(cfg, progress=progress)
    trainer = Trainer(cfg, device=device, progress=progress)
    trainer.setup_model(fresh=not resume)
    if resume:
        trainer.restore(resume)
    elif ckpt.latest_checkpoint(trainer.ckpt_root) is not None:
        raise ConfigError(f"{trainer.ckpt_root}: holds checkpoints of an earlier run; continue it with --resume or "
                          f"choose another train.output_dir")
    return trainer.fit(stop_after=stop_after)


def acoustic_stage(cfg: Config, *, progress: bool = True) -> Config:
    """Stage 1 into ``<output_dir>/acoustic/`` (skipped when it is there, trained with the same settings);
    returns ``cfg`` with ``model.qformer_weights`` pointing at its Q-Formers."""
    from .acoustic import fit_acoustic

    require(cfg, "output_dir")
    t = cfg.train
    folder = Path(t.output_dir) / "acoustic"
    weights = folder / QFORMER_WEIGHTS
    if weights.is_file() and (folder / "config.yaml").is_file():
        changed = settings_diff(load_config(folder / "config.yaml"), cfg, STAGE_ONE_SETTINGS)
        if changed:
            raise ConfigError(f"{folder}: stage 1 was trained with other settings ({', '.join(changed)}); choose "
                              f"another train.output_dir")
    else:
        from accelerate import PartialState

        if PartialState().is_main_process:  # small and fast: one process trains it, the others wait
            fit_acoustic(cfg, folder, progress=progress)
        PartialState().wait_for_everyone()
    return with_stage_one(cfg)


def with_stage_one(cfg: Config) -> Config:
    """``cfg`` as the LLM stage runs it: with stage 1 (``train.acoustic.epochs`` and no ``model.qformer_weights``
    of its own), ``model.qformer_weights`` points at ``<output_dir>/acoustic/``'s Q-Formers; else unchanged.
    The config a finished run records, so a rerun can tell "the same settings" from "other settings"."""
    if not cfg.train.acoustic.epochs or cfg.model.qformer_weights:
        return cfg
    weights = Path(cfg.train.output_dir) / "acoustic" / QFORMER_WEIGHTS
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, qformer_weights=str(weights)))


class Trainer:
    def __init__(self, cfg: Config, *, device: str | None = None, progress: bool = True):
        from accelerate import Accelerator

        from ..device import resolve_device

        require(cfg, "train_manifest", "cache_dir", "output_dir")
        device = resolve_device(device or "auto")
        self.accelerator = Accelerator(mixed_precision=mixed_precision(cfg.train.precision, device),
                                       cpu=device.type == "cpu", gradient_accumulation_steps=cfg.train.grad_accum)
        acc = self.accelerator
        self.kind = ckpt.sharding(acc)
        if self.kind == "deepspeed":
            configure_deepspeed(acc, cfg)
        self.rank, self.world, self.main = acc.process_index, acc.num_processes, acc.is_main_process
        self.progress = progress
        self.cfg = cfg
        self.setup_data()
        self.out = Path(self.cfg.train.output_dir)
        self.ckpt_root = self.out / "checkpoints"
        self.start = 0
        self.seen = {"samples": 0, "tokens": 0}
        self.resumed = False

    # ------------------------------------------------------------------------------------------ set-up
    def setup_data(self) -> None:
        """The training and validation datasets, the global batch and the run length."""
        cfg, t = self.cfg, self.cfg.train
        self.train_ds = dataset_for(cfg, t.train_manifest, require_labels=True)
        self.val_ds = dataset_for(cfg, t.validation_manifest, require_labels=True) if t.validation_manifest else None
        # the resolved cache keys ("whisper-0123456789ab") go into every saved config, so that a checkpoint
        # names exactly the features it was trained on
        self.cfg = cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            t, audio_key=self.train_ds.audio_key, visual_key=self.train_ds.visual_key))
        self.global_batch = t.batch_size * t.grad_accum * self.world
        if len(self.train_ds) < self.global_batch:
            raise ConfigError(f"{t.train_manifest}: {len(self.train_ds)} samples, fewer than one global batch of "
                              f"{self.global_batch} (batch_size x grad_accum x processes)")
        self.steps_per_epoch = len(self.train_ds) // self.global_batch
        self.total = t.epochs * self.steps_per_epoch
        if t.max_steps:
            self.total = min(t.max_steps, self.total)

    def setup_model(self, *, fresh: bool = True) -> None:
        """The model (same initial weights on every process and in every run of this seed), the collator with
        every sample checked, AdamW and the schedule. ``fresh=False``: the run will be restored from a
        checkpoint, so the projections' start (``train.projection_init``) is not computed."""
        from ..data.collate import Collator, check_examples
        from ..model import AcoustEmo

        t = self.cfg.train
        torch.manual_seed(t.seed)
        self.model = AcoustEmo.from_config(self.cfg.model, device=self.accelerator.device)
        if self.cfg.model.speaker_normalization != "none":  # frames relative to each speaker's (data.speakers)
            if self.cfg.model.speaker_normalization == "speaker":
                require_speakers(self.train_ds.samples, str(t.train_manifest))
            for ds in (self.train_ds, self.val_ds):
                if ds is not None:
                    prepared_for(ds, self.model)
        if fresh:
            self.init_projections()  # before accelerate wraps (and under FSDP / DeepSpeed shards) the model
        self.collator = Collator(self.cfg.model, self.model.tokenizer, train=True)
        for name, ds in (("train", self.train_ds), ("validation", self.val_ds)):
            if ds is not None:  # every sample collates, before the first step rather than hours into the run
                check_examples(self.collator, ds, progress=self.progress and self.main, desc=f"check {name}")
        scales = {"qformers.": t.qformer_lr_scale} if t.qformer_lr_scale != 1.0 else None
        groups, self.param_names = weight_decay_groups(self.model, t.weight_decay, lr=t.lr, lr_scales=scales)
        self.optimizer = torch.optim.AdamW(groups, lr=t.lr, betas=tuple(t.betas))
        self.scheduler = build_scheduler(self.optimizer, schedule=t.schedule, total_steps=self.total,
                                         warmup_ratio=t.warmup_ratio)
        torch.manual_seed(t.seed + 1 + self.rank)  # dropout streams differ between processes
        self.model.train()
        index = {n: i for i, n in enumerate(self.param_names)}
        self.group_params = [[index[n] for n in names] for names in _group_names(self.model, groups)]
        self.wrapped, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        if self.accelerator.gradient_accumulation_steps != t.grad_accum:
            raise ConfigError(f"the accelerate configuration accumulates {self.accelerator.gradient_accumulation_steps} "
                              f"micro-batches, train.grad_accum is {t.grad_accum}: leave gradient_accumulation_steps "
                              f"out of the accelerate / DeepSpeed configuration (train.grad_accum sets it)")
        self.params = [p for p in self.model.parameters() if p.requires_grad]

    def init_projections(self) -> None:
        """A fresh run's start for the projections, as ``train.projection_init`` says (:meth:`setup_model`; a
        resumed run takes them from its checkpoint instead)."""
        if self.cfg.train.projection_init != "labels":
            return
        from safetensors import safe_open

        from .acoustic import init_projections_from_labels

        weights = self.cfg.model.qformer_weights
        if not weights:
            raise ConfigError("train.projection_init=labels needs trained statistics tokens: stage 1 "
                              "(train.acoustic.epochs > 0) or model.qformer_weights")
        with safe_open(weights, "pt") as f:
            if any(k.startswith("projections.") for k in f.keys()):
                raise ConfigError(f"model.qformer_weights={weights} already holds trained projections, which "
                                  f"train.projection_init=labels would replace: set train.projection_init=random "
                                  f"to start from them")
        init_projections_from_labels(self.model, [self.train_ds[i] for i in range(len(self.train_ds))])

    def restore(self, resume: str | Path) -> None:
        """Continue from ``resume`` ("latest": the newest checkpoint of ``train.output_dir``)."""
        folder = ckpt.latest_checkpoint(self.ckpt_root) if resume == "latest" else Path(resume)
        if folder is None:
            raise InputError(f"{self.ckpt_root}: no checkpoint to resume from")
        check_resumable(self.cfg, folder, self.world)
        state = ckpt.load(folder, model=self.model, optimizer=self.optimizer.optimizer, names=self.param_names,
                          scheduler=self.scheduler, rank=self.rank, wrapped=self.wrapped, kind=self.kind)
        if state["total_steps"] != self.total:
            raise ConfigError(f"{folder}: the run had {state['total_steps']} steps, this one would have {self.total} "
                              f"(the training manifest's content changed?); resuming would not continue it")
        self.start = state["step"]
        self.seen = {"samples": state["samples"], "tokens": state["tokens"]}
        self.resumed = True

    # ------------------------------------------------------------------------------------------ one step
    def micro_batches(self, step: int) -> list:
        """This process's micro-batches of optimizer step ``step``, on the accelerator."""
        epoch, within = divmod(step, self.steps_per_epoch)
        if getattr(self, "_batches_epoch", None) != epoch:
            lengths = None
            if self.cfg.train.group_by_length:
                lengths = [len(s.utterances or []) for s in self.train_ds.samples]
            self._batches = epoch_batches(len(self.train_ds), self.global_batch, self.cfg.train.seed, epoch, lengths)
            self._batches_epoch = epoch
        t = self.cfg.train
        raw = set()
        if t.speaker_baseline_dropout and self.cfg.model.speaker_normalization != "none":
            # the same draw on every process and in a resumed run: seeded by the seed and the step
            g = torch.Generator().manual_seed(t.seed * 1_000_003 + step)
            raw = set(torch.nonzero(torch.rand(len(self.train_ds), generator=g) < t.speaker_baseline_dropout)
                      .flatten().tolist())
        return [self.collator([self.train_ds.example(i, relative=i not in raw) for i in idx]).to(self.accelerator.device)
                for idx in rank_micro_batches(self._batches[within], self.rank, t.batch_size, t.grad_accum)]

    def loss_step(self, micro: list) -> tuple[float, int, float]:
        """Forward and backward over the micro-batches, clip, step: (global mean loss, answer tokens, grad norm)."""
        acc = self.accelerator
        n_tokens = acc.reduce(torch.stack([answer_tokens(b) for b in micro]).sum(), "sum")
        # accelerate (and DeepSpeed's engine) divide each micro-batch's loss by the accumulation steps, and DDP,
        # FSDP and ZeRO average gradients over processes: undo both, so the gradient is the sum over the global
        # batch's answer tokens divided by their number
        scale = self.world * len(micro) / n_tokens
        loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
        grad_norm = None
        for b in micro:
            with acc.accumulate(self.wrapped), acc.autocast():
                lm_loss = self.wrapped(b).loss
                n = answer_tokens(b)
                acc.backward(lm_loss * n * scale)  # under DeepSpeed the engine steps here on the last micro-batch
                if acc.sync_gradients:
                    grad_norm = acc.clip_grad_norm_(self.params, self.cfg.train.max_grad_norm)
            loss_sum += lm_loss.detach().double() * n
        if not acc.sync_gradients:
            raise TrainingError(f"{len(micro)} micro-batches did not end an accumulation of "
                                f"{acc.gradient_accumulation_steps}")
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = float(acc.reduce(loss_sum, "sum") / n_tokens)
        return loss, int(n_tokens), float(grad_norm) if grad_norm is not None else float("nan")

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Token-weighted mean loss over the validation set (each process takes every world-th sample)."""
        acc, model, ds = self.accelerator, self.wrapped, self.val_ds
        model.eval()
        idx = list(range(self.rank, len(ds), self.world))
        total = torch.zeros(2, dtype=torch.float64, device=acc.device)
        bs = self.cfg.train.eval_batch_size
        for i in range(0, len(idx), bs):
            batch = self.collator([ds[j] for j in idx[i:i + bs]]).to(acc.device)
            with acc.autocast():
                out = model(batch)
            n = answer_tokens(batch)
            total += torch.stack([out.loss.double() * n, n.double()])
        total = acc.reduce(total, "sum")
        model.train()
        return float(total[0] / total[1]) if total[1] else float("nan")

    def gathered(self) -> tuple[dict, dict]:
        """(trainable tensors, optimizer state), whole: a collective under FSDP / DeepSpeed."""
        return ckpt.gather_state(self.kind, model=self.model, wrapped=self.wrapped, optimizer=self.optimizer.optimizer,
                                 names=self.param_names, group_params=self.group_params)

    def save(self, step: int) -> None:
        """A whole checkpoint of ``step``: written into a temporary folder by every process, renamed by the main one."""
        acc = self.accelerator
        trainable, optimizer_state = self.gathered()
        tmp = ckpt.tmp_dir(self.ckpt_root, step)
        if self.main:
            ckpt.begin(self.ckpt_root, step)
        acc.wait_for_everyone()
        ckpt.save_rng(tmp / f"rng-rank{self.rank}.safetensors")
        acc.wait_for_everyone()
        if self.main:
            state = {"step": step, "epoch": step // self.steps_per_epoch, "world_size": self.world,
                     "total_steps": self.total, **self.seen}
            ckpt.write_main(tmp, trainable=trainable, optimizer_state=optimizer_state, names=self.param_names,
                            scheduler=self.scheduler, config_yaml=self.cfg.to_yaml(), state=state)
            ckpt.finish(self.ckpt_root, tmp, step, self.cfg.train.keep_checkpoints)
        acc.wait_for_everyone()
        self.last_saved = step

    # ------------------------------------------------------------------------------------------ the run
    def fit(self, *, stop_after: int | None = None) -> TrainResult:
        """Optimizer steps from ``start`` to the end of the run (or ``stop_after``), validating and saving."""
        from tqdm import tqdm

        t, acc, start = self.cfg.train, self.accelerator, self.start
        if stop_after is not None and stop_after <= start:
            raise ConfigError(f"--stop-after {stop_after}: the run is already at step {start}")
        log = _Log(self.out / LOG_NAME, self.main, keep_until=start if self.resumed else None)
        if self.main:
            ckpt.remove_partial(self.ckpt_root)  # what a killed run was writing
            remove_stale_temporaries(self.out)
            atomic_write_text(self.out / "config.yaml", self.cfg.to_yaml())
        bar = tqdm(total=self.total, initial=start, disable=not (self.main and self.progress), file=sys.stderr,
                   dynamic_ncols=True, desc="train", unit="step")
        every_eval = t.eval_every or self.steps_per_epoch
        every_save = t.save_every or self.steps_per_epoch
        loss, val = float("nan"), None
        self.last_saved = start if self.resumed else -1
        step = start
        while step < self.total:
            t0 = time.perf_counter()
            micro = self.micro_batches(step)
            lr = self.scheduler.get_last_lr()[0]
            loss, n_tokens, grad_norm = self.loss_step(micro)
            if not math.isfinite(loss):
                bar.close()
                last = f"the last checkpoint (step {self.last_saved}) is kept" if self.last_saved > 0 else \
                    "no checkpoint was written"
                raise TrainingError(f"{self.out}: training diverged at step {step + 1} (loss {loss}); {last}; "
                                    f"lower train.lr (now {t.lr}) or train.max_grad_norm")
            step += 1
            self.seen["samples"] += self.global_batch
            self.seen["tokens"] += int(acc.reduce(torch.tensor(sum(int(b.attention_mask.sum()) for b in micro),
                                                               device=acc.device), "sum"))
            log.write(step=step, epoch=(step - 1) // self.steps_per_epoch, loss=loss, lr=lr, grad_norm=grad_norm,
                      answer_tokens=n_tokens, tokens=self.seen["tokens"], seconds=round(time.perf_counter() - t0, 4))
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            if self.val_ds is not None and (step % every_eval == 0 or step == self.total):
                val = self.validation_loss()
                log.write(step=step, epoch=(step - 1) // self.steps_per_epoch, val_loss=val)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", val=f"{val:.4f}", refresh=False)
            if step % every_save == 0 or step == self.total or step == stop_after:
                self.save(step)
            if stop_after is not None and step >= stop_after:
                break
        if self.last_saved != step and step > 0:
            self.save(step)
        bar.close()
        log.close()
        final = None
        if step >= self.total:
            final = self.out / "final"
            trainable = self.gathered()[0]
            if self.main:
                save_tensors(final / FINAL_WEIGHTS, trainable)
                atomic_write_text(final / "config.yaml", self.cfg.to_yaml())
                keep_acoustic_head(final, self.cfg)
            acc.wait_for_everyone()
        return TrainResult(self.out, step, self.total, loss, val, final, self.main, self.model)


def _group_names(model: torch.nn.Module, groups: list[dict]) -> list[list[str]]:
    """The parameter names of each optimizer param group."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [[name_of[id(p)] for p in g["params"]] for g in groups]


def configure_deepspeed(accelerator, cfg: Config) -> None:
    """Fill the DeepSpeed settings that ``train.*`` owns (micro-batch size, clipping; accumulation is set by
    ``accelerator``); a configuration that fixes them to other values is an error, not silently overridden."""
    ds = accelerator.state.deepspeed_plugin.deepspeed_config
    t = cfg.train
    for key, ours in (("train_micro_batch_size_per_gpu", t.batch_size), ("gradient_clipping", t.max_grad_norm)):
        theirs = ds.get(key, "auto")
        if theirs not in ("auto", None) and float(theirs) != float(ours):
            raise ConfigError(f"the DeepSpeed configuration sets {key}={theirs}, the training configuration "
                              f"{ours}: remove it from the DeepSpeed configuration")
        ds[key] = ours


def keep_acoustic_head(final: Path, cfg: Config) -> bool:
    """Copy stage 1's classifier head and label words beside the final weights (for ``model.acoustic_prior``)
    where the LLM stage left the Q-Formers as stage 1 trained them (``train.qformer_lr_scale=0``); True if so."""
    if not cfg.model.qformer_weights or cfg.train.qformer_lr_scale != 0:
        return False
    stage_one = Path(cfg.model.qformer_weights).parent
    if not all((stage_one / f).is_file() for f in (HEAD_WEIGHTS, LABELS_FILE)):
        return False
    for f in (HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE):
        if (stage_one / f).is_file():  # the probe's label words only where stage 1 started from a probe
            atomic_write_bytes(final / f, (stage_one / f).read_bytes())
    return True


def check_resumable(cfg: Config, folder: Path, world: int) -> None:
    """A checkpoint may be continued only with the same model, the same trajectory and as many processes."""
    if not (folder / "state.json").is_file():
        raise InputError(f"{folder}: not a complete checkpoint (no state.json)")
    changed = settings_diff(load_config(folder / "config.yaml"), cfg, TRAJECTORY_SETTINGS)
    if changed:
        raise ConfigError(f"{folder}: other settings than the checkpoint's ({', '.join(changed)}); resuming would "
                          f"not continue the same run")
    state = read_json(folder / "state.json")
    if state["world_size"] != world:
        raise ConfigError(f"{folder}: saved by {state['world_size']} processes, resumed with {world}")


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
