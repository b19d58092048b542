"""Open-vocabulary labels for a manifest, written in the MER tools' formats and scored.

    result = evaluate("runs/small/final", manifest="test.jsonl", metrics=["exact", "wheel"])

Writes into ``out`` (default: ``<checkpoint>/eval-<manifest name>/``):

- ``predictions.csv``  ``name,openset`` as the MER tools write it (``acoustemo score --pred`` reads it);
- ``gold.csv``         the manifest's labels in the same form (``acoustemo score --gold``);
- ``predictions.jsonl`` one line per sample: ``name``, the full answer ``text``, ``openset``, ``gold``;
- ``scores.json``      the scores, the generation settings and the resolved configuration.

Metrics (see :mod:`acoustemo.metrics`): ``exact`` Accuracy_s / Recall_s / Avg with every label its own
group; ``grouping`` the same with synonym groups from a file (EMER); ``embedding`` with groups from
sentence embeddings; ``wheel`` the emotion-wheel M1/M2/M3 and M-avg (OV-MER).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.dataset import dataset_for, prepared_for
from ..errors import ConfigError
from ..io import atomic_write_json, atomic_write_text
from .loading import checkpoint_config, load_model

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


@torch.no_grad()
def generate_all(model, dataset, *, batch_size: int, generation: Generation, progress: bool = True):
    """Predictions (:class:`acoustemo.model.Prediction`) for every sample of ``dataset``, in order, in batches
    (left-padded prompts) on the model's device."""
    from tqdm import tqdm

    from ..data.collate import Collator

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
    from .. import metrics as M

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
             overrides: list[str] | None = None, device: str | None = None, progress: bool = True,
             quantize: str | None = None) -> dict:
    """Generate, write and score; returns ``{"scores", "out", "predictions"}``."""
    checkpoint = Path(checkpoint)
    generation = generation or Generation()
    cfg = checkpoint_config(checkpoint, config, overrides)
    manifest = manifest or cfg.train.test_manifest
    if manifest is None:
        raise ConfigError("no manifest to evaluate: give --manifest or set train.test_manifest")
    out = Path(out) if out else checkpoint / f"eval-{Path(manifest).stem}"
    dataset = dataset_for(cfg, manifest, require_labels=True)
    model = load_model(checkpoint, cfg, device=device, quantize=quantize)
    dataset = prepared_for(dataset, model)
    preds = generate_all(model, dataset, batch_size=batch_size or cfg.train.eval_batch_size, generation=generation,
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
