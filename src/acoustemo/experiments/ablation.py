"""The ablations of Table 2 over seeds: variants, one run each (the LLM stage, or stage 1 alone with ``probe``),
the table across seeds (``acoustemo ablate``, whose docstring says what each part does)."""


from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from ..config import RUN_SETTINGS, Config, from_dict, load_config, settings_diff
from ..errors import ConfigError
from ..inference.evaluation import Generation, evaluate
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ..results import mean_std, pyplot, save_figure, spread, val_drift, versus
from ..training import LOG_NAME, train
from ..training.checkpoint import latest_checkpoint
from ..training.loop import with_stage_one

# variant -> (Table 2 row name, config overrides)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "full": ("AcoustEmo (Full)", []),
    "no_global": ("w/o Global Acoustic Q-Former", ["model.global_qformer=false"]),
    "fixed": ("w/ fixed-length windows (2s)", ["model.windows=fixed", "model.fixed_window_seconds=2.0"]),
    "no_utterance": ("w/o Utterance-Aware A-QF", ["model.utterance_qformer=false"]),
}
COLUMNS = ("Avg", "Acc", "Rec", "M-avg", "val loss", "distinct", "val drift")
PROBE_COLUMNS = ("test top-1", "val top-1", "test loss", "val loss", "distinct", "val drift")


def variant_config(base: str, overrides: list[str], variant: str, seed: int, run_dir: Path) -> Config:
    if variant not in VARIANTS:
        raise ConfigError(f"--variants: unknown {variant!r} (known: {', '.join(VARIANTS)})")
    return load_config(base, [*overrides, *VARIANTS[variant][1], f"train.seed={seed}", f"train.output_dir={run_dir}"])


def run_one(cfg: Config, run_dir: Path, *, metric: str, grouping: str | None, max_new_tokens: int,
            device: str | None = None, progress: bool, primary: str | None = None) -> dict:
    """Train (resuming if a checkpoint exists) and evaluate one run; returns its row of numbers.

    Besides the scores: ``distinct``, how many different label lists the test answers hold (1: the run
    collapsed onto one answer), ``val drift`` (:func:`val_drift`) and, with ``primary``, the primary accuracy
    (:mod:`acoustemo.metrics.primary`) of the answers' first labels."""
    scores_file = run_dir / "eval" / "scores.json"
    if scores_file.is_file():  # done before: only if with the same settings, or rows would mix configs
        done = from_dict(Config, json.loads(scores_file.read_text())["config"], "")
        # its LLM stage read its own stage 1, in the folder it ran in (another one for a record, --records)
        changed = settings_diff(done, with_stage_one(with_output_dir(cfg, done.train.output_dir)), RUN_SETTINGS)
        if changed:
            raise ConfigError(f"{run_dir}: done before with other settings ({', '.join(changed)}); use another --out")
    else:
        if cfg.train.test_manifest is None:
            raise ConfigError("train.test_manifest is not set: the ablation scores the test split")
        resume = "latest" if latest_checkpoint(run_dir / "checkpoints") else None
        result = train(cfg, resume=resume, device=device, progress=progress)
        evaluate(result.final, out=run_dir / "eval", metrics=[metric, "wheel"], grouping=grouping,
                 generation=Generation(max_new_tokens=max_new_tokens), device=device, progress=progress)
    scores = json.loads(scores_file.read_text())["scores"]
    log = [json.loads(line) for line in (run_dir / LOG_NAME).read_text().splitlines() if "val_loss" in line]
    val = [(r["step"], r["val_loss"]) for r in log]
    answers = [json.loads(line) for line in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    s = scores[metric]
    row = {"Avg": s["avg"], "Acc": s["accuracy_s"], "Rec": s["recall_s"], "M-avg": scores["wheel"]["M-avg"],
           "val loss": val[-1][1] if val else float("nan"), "distinct": len({tuple(a["openset"]) for a in answers}),
           "val drift": val_drift(val)}
    if primary:
        row["primary"] = primary_of_answers(answers, primary, run_dir / "eval" / "predictions.jsonl")
    return row


def primary_of_answers(answers: list[dict], kind: str, source: Path) -> float:
    """Primary accuracy (%) of evaluation answers (``{"name", "openset", "gold"}``) under the ``kind``
    categories; a test sample whose gold labels fall in no category is an error (it would be counted wrong)."""
    from ..metrics.primary import CUE_CATEGORIES, EMOTION_CATEGORIES, category_of_labels, primary_accuracy

    categories = EMOTION_CATEGORIES if kind == "emotion" else CUE_CATEGORIES
    gold = {a["name"]: category_of_labels(a["gold"], categories) for a in answers}
    missing = [name for name, c in gold.items() if c is None]
    if missing:
        raise ConfigError(f"{source}: --primary {kind}: sample {missing[0]!r} has gold labels in no {kind} category "
                          f"({len(missing)} such samples)")
    return primary_accuracy(gold, {a["name"]: a["openset"] for a in answers}, categories)


def run_probe(cfg: Config, run_dir: Path, *, progress: bool) -> dict:
    """Stage 1 of one (variant, seed) into ``run_dir/acoustic`` and its scores on the test split (cached in
    ``run_dir/probe.json`` with each test sample's top label, reused only for the same settings).

    Besides top-1 and the losses: ``distinct``, how many different top labels the test samples get (a run that
    collapsed onto one answer has 1), and ``val drift`` (:func:`val_drift`, over the epochs' validation losses)."""
    from ..data.dataset import dataset_for, prepared_for
    from ..training.acoustic import fit_acoustic, predict_acoustic, score_acoustic

    done_file = run_dir / "probe.json"
    if done_file.is_file():
        done = read_json(done_file)
        # read back as a Config: a setting added since the run was done takes its default
        changed = settings_diff(with_output_dir(from_dict(Config, done["config"], ""), None),
                                with_output_dir(cfg, None))
        if changed:
            raise ConfigError(f"{run_dir}: done before with other settings ({', '.join(changed)}); use another --out")
        if "correct" not in done:
            raise ConfigError(f"{done_file}: written by an older version without per-sample results; delete it "
                              f"to score the run again")
        return done
    if cfg.train.test_manifest is None:
        raise ConfigError("train.test_manifest is not set: the ablation scores the test split")
    t = cfg.train
    if not t.acoustic.epochs:
        raise ConfigError("ablate --probe trains stage 1: set train.acoustic.epochs (e.g. --train.acoustic.epochs=12)")
    result = fit_acoustic(cfg, run_dir / "acoustic", progress=progress)
    test = prepared_for(dataset_for(cfg, t.test_manifest, require_labels=True), result.model)
    examples = [test[i] for i in range(len(test))]
    vocab = {w: i for i, w in enumerate(result.model.labels)}
    probs = predict_acoustic(result.model, examples)
    scored = score_acoustic(probs, examples, vocab)
    top = [result.model.labels[int(j)] for j in probs.argmax(1)]
    nan = float("nan")
    scores = {"test top-1": 100 * scored["val_top1"], "test loss": scored["val_loss"],
              "val top-1": 100 * result.val_top1 if result.val_top1 is not None else nan,
              "val loss": result.val_loss if result.val_loss is not None else nan,
              "distinct": len(set(top)),
              "val drift": val_drift([(h["epoch"], h["val_loss"]) for h in result.history if "val_loss" in h])}
    done = {"config": cfg.to_dict(), "scores": scores, "top": {s.id: label for s, label in zip(test.samples, top)},
            "correct": {s.id: label in s.labels for s, label in zip(test.samples, top)}}
    atomic_write_json(done_file, done)
    return done


def with_output_dir(cfg: Config, output_dir: str | None) -> Config:
    """``cfg`` with another ``train.output_dir``: a run's record read from another folder (``--records``) is
    the same run."""
    return replace(cfg, train=replace(cfg.train, output_dir=output_dir))


# what ``--records`` keeps of a finished run: its scores, per-sample answers and training curves
RECORD_FILES = ("eval/scores.json", "eval/predictions.jsonl", LOG_NAME, "probe.json", "acoustic/history.json")


def keep_records(out: Path, dest: Path, runs: dict[str, list[int]]) -> list[Path]:
    """Copy the record of each finished run (``{variant: [seed, ...]}``) and the table from ``out`` into ``dest``
    with the same layout (:data:`RECORD_FILES`, a few hundred KB per run and no weights), so that
    ``--done-only --out dest`` tables them again once the checkpoints are gone. Returns the files written."""
    names = ["table.json", "table.csv", "table.png",
             *(f"{v}/seed-{s}/{f}" for v, seeds in runs.items() for s in seeds for f in RECORD_FILES)]
    written = [dest / name for name in names if (out / name).is_file()]
    for path in written:
        atomic_write_bytes(path, (out / path.relative_to(dest)).read_bytes())
    return written


def ablate(config: str, overrides: list[str], *, out: str | Path, variants: list[str], seeds: list[int],
           metric: str = "embedding", grouping: str | None = None, max_new_tokens: int = 32,
           device: str | None = None, progress: bool = True, probe: bool = False,
           breakdown: tuple[str, dict[str, str]] | None = None, primary: str | None = None,
           done_only: bool = False) -> dict:
    """Run every (variant, seed) and write the table; returns ``{"rows": [...], "metric", "seeds"}``.
    ``probe``: stage 1 with a label head instead of the LLM (see the module docstring); ``breakdown``
    (``(field, {id: value})``, probe only) adds a ``test top-1 [field=value]`` column per value; ``primary``
    (``"emotion"`` or ``"cue"``, LLM runs only) adds the primary-accuracy column. ``done_only``: nothing is
    trained; the table holds the finished runs (each row's ``seeds`` says which), the others are printed."""
    out = Path(out)
    if not seeds:
        raise ConfigError("--seeds is empty")
    configs = {(v, s): variant_config(config, overrides, v, s, out / v / f"seed-{s}") for v in variants for s in seeds}
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    done_seeds: dict[str, list[int]] = {v: [] for v in variants}
    for (v, s), cfg in configs.items():
        if done_only and not (out / v / f"seed-{s}" / ("probe.json" if probe else "eval/scores.json")).is_file():
            print(f"ablate: {v}, seed {s}: not finished, left out of the table", file=sys.stderr)
            continue
        done_seeds[v].append(s)
        if progress:
            print(f"ablate: {v}, seed {s}", file=sys.stderr)
        if probe:
            done = run_probe(cfg, out / v / f"seed-{s}", progress=progress)
            runs[v].append({**done["scores"], **group_top1(done["correct"], breakdown)})
        else:
            runs[v].append(run_one(cfg, out / v / f"seed-{s}", metric=metric, grouping=grouping,
                                   max_new_tokens=max_new_tokens, device=device, progress=progress,
                                   primary=primary))
    variants = [v for v in variants if runs[v]]
    if not variants:
        raise ConfigError(f"{out}: no finished run of these variants and seeds yet")
    columns = PROBE_COLUMNS if probe else (("primary", *COLUMNS) if primary else COLUMNS)
    if probe and breakdown:
        columns = (*columns, *sorted({k for v in variants for r in runs[v] for k in r} - set(PROBE_COLUMNS)))
    rows = []
    for v in variants:
        row = {"variant": v, "name": VARIANTS[v][0], "seeds": done_seeds[v]}
        for c in columns:
            row[c] = spread([r.get(c, float("nan")) for r in runs[v]])
        rows.append(row)
    full = next((r for r in rows if r["variant"] == "full"), None)
    for r in rows:
        if full is not None and r is not full:
            r["vs full"] = {c: versus(full[c]["runs"], r[c]["runs"]) for c in columns}
    table = {"rows": rows, "metric": "probe top-1" if probe else metric, "seeds": seeds, "columns": list(columns),
             "config": configs[(variants[0], done_seeds[variants[0]][0])].to_dict()}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "table.json", table)
    atomic_write_text(out / "table.csv", table_csv(table))
    plot(table, out / "table.png")
    return table


def group_top1(correct: dict[str, bool], breakdown: tuple[str, dict[str, str]] | None) -> dict[str, float]:
    """Top-1 (%) of the test samples of each group; a test sample missing from the breakdown is an error."""
    if breakdown is None:
        return {}
    field, groups = breakdown
    missing = [i for i in correct if i not in groups]
    if missing:
        raise ConfigError(f"--breakdown: test sample {missing[0]!r} has no {field!r} ({len(missing)} missing)")
    out: dict[str, list[bool]] = {}
    for i, ok in correct.items():
        out.setdefault(f"test top-1 [{field}={groups[i]}]", []).append(ok)
    return {k: 100.0 * sum(v) / len(v) for k, v in out.items()}


def table_csv(table: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    columns = table.get("columns", COLUMNS)
    w.writerow(["variant", "model settings"] + [f"{c} {k}" for c in columns for k in ("mean", "std")] + ["seeds"])
    for r in table["rows"]:
        w.writerow([r["variant"], r["name"]] + [f"{r[c][k]:.4f}" for c in columns for k in ("mean", "std")]
                   + [" ".join(map(str, r["seeds"]))])
    return buf.getvalue()


def row_name(table: dict, row: dict) -> str:
    """A row's model settings, and its seeds where they are not all of the table's (``--done-only``)."""
    if list(row["seeds"]) == list(table["seeds"]):
        return row["name"]
    return f"{row['name']} (seed{'s' if len(row['seeds']) > 1 else ''} {', '.join(map(str, row['seeds']))})"


def format_table(table: dict) -> str:
    """Table 2 layout: model settings, then mean ± std of each column."""
    width = max(len(row_name(table, r)) for r in table["rows"]) + 2
    columns = table.get("columns", COLUMNS)
    widths = [max(16, len(c) + 2) for c in columns]
    head = f"{'Model settings':<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths))
    what = "acoustic branch under a label head" if table["metric"] == "probe top-1" else \
        f"Avg/Acc/Rec: {table['metric']} grouping"
    lines = [f"Ablation over seeds {', '.join(map(str, table['seeds']))} ({what})", head]
    for r in table["rows"]:
        cells = "".join(mean_std(r[c], w) for c, w in zip(columns, widths))
        lines.append(f"{row_name(table, r):<{width}}{cells}")
    compared = [r for r in table["rows"] if "vs full" in r]
    shown = [(c, w) for c, w in zip(columns, widths) if c not in ("distinct", "val drift")]
    if compared:
        lines += ["", "Difference from Full (mean over seeds; Welch's t-test p over the seeds)",
                  f"{'Model settings':<{width}}" + "".join(f"{c:>{w}}" for c, w in shown)]
        for r in compared:
            cells = []
            for c, w in shown:
                d = r["vs full"][c]
                p = "p n/a" if d["p"] is None else f"p {d['p']:.2f}"
                cell = f"{d['difference']:+.2f} ({p})"
                cells.append(f"{cell:>{w}}")
            lines.append(f"{row_name(table, r):<{width}}" + "".join(cells))
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    """Grouped bars of Avg, Acc, Rec and M-avg per variant, with std error bars (PNG)."""
    import numpy as np

    plt = pyplot()
    cols = [c for c in table.get("columns", COLUMNS) if "loss" not in c and c not in ("distinct", "val drift")]
    rows = table["rows"]
    x = np.arange(len(cols))
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(cols) + 2.5), 3.8), dpi=120)
    for i, r in enumerate(rows):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, [r[c]["mean"] for c in cols], width,
               yerr=[0.0 if math.isnan(r[c]["std"]) else r[c]["std"] for c in cols], capsize=3,
               label=row_name(table, r))
    ax.set_xticks(x, [c.replace(" [", "\n[") for c in cols], fontsize=8)  # breakdown columns on two lines
    ax.set_ylabel("score (%)")
    counts = sorted({len(r["seeds"]) for r in rows})
    ax.set_title(f"Ablation, mean ± std over {'/'.join(map(str, counts))} seed(s)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    save_figure(fig, path)
