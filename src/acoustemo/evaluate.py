"""``acoustemo evaluate``: generate open-vocabulary labels for a manifest and score them.

    acoustemo evaluate --checkpoint runs/small/final                       # train.test_manifest of its config
    acoustemo evaluate --checkpoint runs/small/final --manifest test.jsonl --out eval/ --metrics exact,wheel,embedding
    acoustemo evaluate --checkpoint runs/small/final --sample --temperature 0.7 --top-p 0.9 --seed 1

Writes into ``--out`` (default: ``<checkpoint>/eval-<manifest name>/``):

- ``predictions.csv``  ``name,openset`` as the MER tools write it (``acoustemo score --pred`` reads it);
- ``gold.csv``         the manifest's labels in the same form (``acoustemo score --gold``);
- ``predictions.jsonl`` one line per sample: ``name``, the full answer ``text``, ``openset``, ``gold``;
- ``scores.json``      the scores, the generation settings and the resolved configuration.

Metrics (``--metrics``, see :mod:`acoustemo.metrics`): ``exact`` Accuracy_s / Recall_s / Avg with every label
its own group; ``grouping`` the same with ``--grouping``'s synonym groups (EMER); ``embedding`` with groups from
sentence embeddings; ``wheel`` the emotion-wheel M1/M2/M3 and M-avg (OV-MER).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import Config, load_config
from .errors import ConfigError, InputError
from .io import atomic_write_json, atomic_write_text
from .train import FINAL_WEIGHTS, add_config_arguments, dataset_for

METRICS = ("exact", "grouping", "embedding", "wheel")


@dataclass
class Generation:
    """Decoding settings: greedy by default."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    seed: int = 0

    def kwargs(self) -> dict:
        kw = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kw.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k or None)
        return kw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="folder with trainable.safetensors and config.yaml (a run's final/ or a step-N/)")
    add_config_arguments(parser, default=None)
    parser.set_defaults(config=None)
    parser.add_argument("--manifest", help="samples to label (default: train.test_manifest of the config)")
    parser.add_argument("--out", help="output folder (default: <checkpoint>/eval-<manifest name>)")
    parser.add_argument("--metrics", default="exact,wheel",
                        help=f"comma-separated, of {', '.join(METRICS)} (default: exact,wheel)")
    parser.add_argument("--grouping", help="JSON {name: [[label, synonym, ...], ...]} for the grouping metric")
    parser.add_argument("--batch-size", type=int, default=None, help="default: train.eval_batch_size")
    g = Generation()
    parser.add_argument("--max-new-tokens", type=int, default=g.max_new_tokens)
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=g.temperature)
    parser.add_argument("--top-p", type=float, default=g.top_p)
    parser.add_argument("--top-k", type=int, default=g.top_k)
    parser.add_argument("--seed", type=int, default=g.seed, help="sampling seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    gen = Generation(args.max_new_tokens, args.sample, args.temperature, args.top_p, args.top_k, args.seed)
    result = evaluate(args.checkpoint, manifest=args.manifest, out=args.out, metrics=metrics, grouping=args.grouping,
                      generation=gen, batch_size=args.batch_size, config=args.config, overrides=args.overrides,
                      progress=not args.quiet)
    print(format_scores(result["scores"]))
    print(f"predictions and scores -> {result['out']}", file=sys.stderr)
    return 0


def checkpoint_config(checkpoint: Path, config: str | None = None, overrides: list[str] | None = None) -> Config:
    """The checkpoint's resolved config (or ``config``), with overrides."""
    source = config or checkpoint / "config.yaml"
    if config is None and not Path(source).is_file():
        raise InputError(f"{checkpoint}: no config.yaml (not a checkpoint folder)")
    return load_config(source, overrides)


def load_model(checkpoint: Path, cfg: Config):
    """AcoustEmo built as in training (same seed, so frozen randomly initialised parts match) with the
    checkpoint's trainable weights."""
    from .model import AcoustEmo

    weights = checkpoint / FINAL_WEIGHTS
    if not weights.is_file():
        raise InputError(f"{checkpoint}: no {FINAL_WEIGHTS}")
    torch.manual_seed(cfg.train.seed)
    model = AcoustEmo.from_config(cfg.model)
    try:
        model.load_trainable(weights)
    except (KeyError, ValueError) as e:
        raise InputError(f"{weights}: does not fit the configured model ({e})") from None
    return model.eval()


@torch.no_grad()
def predict(model, dataset, *, batch_size: int, generation: Generation, progress: bool = True):
    """Predictions (:class:`acoustemo.model.Prediction`) for every sample of ``dataset``, in order."""
    from tqdm import tqdm

    from .data.collate import Collator

    collator = Collator(model.config, model.tokenizer, train=False)
    torch.manual_seed(generation.seed)
    out = []
    for i in tqdm(range(0, len(dataset), batch_size), disable=not progress, file=sys.stderr, desc="generate",
                  unit="batch", dynamic_ncols=True):
        batch = collator([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        out += model.generate(batch, **generation.kwargs())
    return out


def score(gold: dict, pred: dict, metrics: list[str], grouping: str | None = None) -> dict:
    """``{metric: result}`` of :mod:`acoustemo.metrics` for each requested metric."""
    from . import metrics as M

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"--metrics: unknown {unknown[0]!r} (known: {', '.join(METRICS)})")
    if "grouping" in metrics and not grouping:
        raise ConfigError("--metrics grouping needs --grouping FILE")
    out = {}
    for m in metrics:
        if m == "exact":
            with warnings.catch_warnings():  # "samples have no synonym groups" is the point here
                warnings.simplefilter("ignore", M.ScoreWarning)
                out[m] = M.score_grouped(gold, pred, {})
        elif m == "grouping":
            out[m] = M.score_grouped(gold, pred, M.read_grouping(grouping))
        elif m == "embedding":
            out[m] = M.score_embedding(gold, pred)
        else:
            out[m] = M.score_wheel(gold, pred)
    return out


def openset_cell(labels: list[str]) -> str:
    """``['happy', "it's"]``: each label quoted, so commas, brackets and apostrophes inside a label read back
    intact with :func:`acoustemo.metrics.parse_labels` (a label holding both quote characters loses its ``"``)."""
    items = []
    for label in labels:
        q = "'" if "'" not in label else '"'
        items.append(q + (label.replace('"', "") if q == '"' else label) + q)
    return "[" + ", ".join(items) + "]"


def labels_csv(rows: dict[str, list[str]]) -> str:
    """``name,openset`` CSV text, as the MER tools write it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "openset"])
    for name, labels in rows.items():
        w.writerow([name, openset_cell(labels)])
    return buf.getvalue()


def evaluate(checkpoint: str | Path, *, manifest: str | None = None, out: str | Path | None = None,
             metrics: list[str] = ("exact", "wheel"), grouping: str | None = None,
             generation: Generation | None = None, batch_size: int | None = None, config: str | None = None,
             overrides: list[str] | None = None, progress: bool = True) -> dict:
    """Generate, write and score; returns ``{"scores", "out", "predictions"}``."""
    checkpoint = Path(checkpoint)
    generation = generation or Generation()
    cfg = checkpoint_config(checkpoint, config, overrides)
    manifest = manifest or cfg.train.test_manifest
    if manifest is None:
        raise ConfigError("no manifest to evaluate: give --manifest or set train.test_manifest")
    out = Path(out) if out else checkpoint / f"eval-{Path(manifest).stem}"
    dataset = dataset_for(cfg, manifest, require_labels=True)
    model = load_model(checkpoint, cfg)
    preds = predict(model, dataset, batch_size=batch_size or cfg.train.eval_batch_size, generation=generation,
                    progress=progress)
    gold = {s.id: list(s.labels) for s in dataset.samples}
    pred = {p.id: p.emotions for p in preds}
    scores = score(gold, pred, list(metrics), grouping)
    atomic_write_text(out / "predictions.csv", labels_csv(pred))
    atomic_write_text(out / "gold.csv", labels_csv(gold))
    atomic_write_text(out / "predictions.jsonl", "".join(
        json.dumps({"name": p.id, "text": p.text, "openset": p.emotions, "gold": gold[p.id]}, ensure_ascii=False)
        + "\n" for p in preds))
    atomic_write_json(out / "scores.json", {
        "scores": scores, "checkpoint": str(checkpoint), "manifest": str(manifest), "num_samples": len(preds),
        "generation": generation.__dict__, "config": cfg.to_dict()})
    return {"scores": scores, "out": out, "predictions": preds}


def format_scores(scores: dict) -> str:
    """A terminal table: one row per metric family."""
    lines = [f"{'metric':<10} {'Avg':>7} {'Acc_s':>7} {'Rec_s':>7} {'M-avg':>7} {'M1':>7} {'M2':>7} {'samples':>8}"]
    for name, r in scores.items():
        if name == "wheel":
            lines.append(f"{name:<10} {'':>7} {'':>7} {'':>7} {r['M-avg']:7.2f} {r['M1']:7.2f} {r['M2']:7.2f} "
                         f"{r['num_samples']:8d}")
        else:
            lines.append(f"{name:<10} {r['avg']:7.2f} {r['accuracy_s']:7.2f} {r['recall_s']:7.2f} {'':>7} {'':>7} "
                         f"{'':>7} {r['num_samples']:8d}")
    return "\n".join(lines)
