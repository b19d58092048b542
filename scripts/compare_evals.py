"""Side by side: the model rows of several `benchmarks/release_eval.py --out` files, one column per file.

    python scripts/compare_evals.py docs/release-eval.json runs/my-run-eval.json [--names shipped,mine]

For each test set: primary-emotion accuracy, emotion-wheel M-avg and distinct label lists of the model, and,
where the set has them, the per-utterance scores (primary accuracy, emotional utterance found / found alone).
The baselines are the same in every file (same data), so the last column repeats baseline (b) of the first.

    python scripts/compare_evals.py full-s0.json full-s1.json full-s2.json w-s0.json w-s1.json \
        --names Full,Full,Full,w/o,w/o

Files given the same name in ``--names`` are seeds of one setting: their column shows mean ± std over them
(sample std, and the number of files in the header). Without ``--names`` every file is its own column.

    python scripts/compare_evals.py --paired full.jsonl no_utterance.jsonl --names Full,w/o-utterance

``--paired A B`` compares the model rows of two ``release_eval.py --predictions`` files instead, sample by
sample on the samples both score (e.g. two ablation variants on the same test set): per set, the primary
accuracy of each, the difference B - A with a 95 % bootstrap interval, the samples only one of them gets right
and the exact McNemar p (:func:`acoustemo.metrics.paired.paired_comparison`). ``--breakdown FILE:FIELD`` adds
a row per value of FIELD for the samples that FILE (JSONL with "id") names, e.g. the synthetic dialogues by
design: ``--breakdown data/release/synth/cues.jsonl:design``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

MODEL = "AcoustEmo (this model)"
PROBE = "(b) Whisper mean+std probe (logistic regression)"
PROBE_UTT = "(b) Whisper mean+std probe, per utterance"
ROWS = (  # (label, part, row key, field)
    ("primary-emotion acc.", "rows", MODEL, "primary"),
    ("emotion-wheel M-avg", "rows", MODEL, "M-avg"),
    ("distinct label lists", "rows", MODEL, "distinct_lists"),
    ("utterances: primary acc.", "per_utterance", MODEL, "primary"),
    ("emotional utterance found", "per_utterance", MODEL, "emotional utterance found"),
    ("... and alone", "per_utterance", MODEL, "found and alone"),
)
PROBE_OF = {"rows": PROBE, "per_utterance": PROBE_UTT}


def load(path: str) -> dict:
    try:
        sets = json.loads(Path(path).read_text(encoding="utf-8"))["sets"]
        if not isinstance(sets, dict):
            raise TypeError("'sets' is not an object")
        return sets
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: {path}: not a release_eval.py --out file ({e!r})", file=sys.stderr)
        sys.exit(2)


def fmt(value) -> str:
    if value is None or value != value:  # missing, or NaN (no such dialogues)
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def cell(values: list) -> str:
    """One column's cell: the value of a single file, or mean ± std over the files (seeds) of one name; where
    only some of them have the score, the cell says over how many."""
    present = [v for v in values if v is not None and v == v]
    if len(values) == 1 or not present:
        return fmt(present[0] if present else None)
    text = fmt(present[0]) if len(present) == 1 else \
        f"{statistics.mean(present):.1f} ± {statistics.stdev(present):.1f}"
    return text if len(present) == len(values) else f"{text} ({len(present)} of {len(values)})"


def load_predictions(path: str) -> dict[tuple[str, str], bool]:
    """``(set, sample id) -> the model's first label is in the gold category`` of a ``--predictions`` file."""
    out = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        print(f"error: {path}: {e.strerror}", file=sys.stderr)
        sys.exit(2)
    except UnicodeDecodeError:
        print(f"error: {path}: not UTF-8 text", file=sys.stderr)
        sys.exit(2)
    for n, line in enumerate(lines, 1):
        try:
            r = json.loads(line)
            out[r["set"], r["id"]] = r[MODEL]["category"] is not None and r[MODEL]["category"] == r["gold_category"]
        except (ValueError, KeyError, TypeError) as e:
            print(f"error: {path}, line {n}: not a release_eval.py --predictions line with a model row ({e!r})",
                  file=sys.stderr)
            sys.exit(2)
    return out


def paired(files: list[str], names: list[str], breakdown: str | None = None) -> None:
    from acoustemo.errors import AcoustemoError
    from acoustemo.metrics.paired import paired_comparison
    from acoustemo.results import read_breakdown

    try:
        field, groups = read_breakdown(breakdown) if breakdown else (None, {})
    except AcoustemoError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    a, b = (load_predictions(f) for f in files)
    if breakdown and not any(i in groups for _, i in a):
        print(f"error: {breakdown}: none of its ids is in {files[0]}", file=sys.stderr)
        sys.exit(2)
    print(f"| set | samples | {names[0]} | {names[1]} | {names[1]} − {names[0]}, 95 % CI | "
          f"only {names[0]} / only {names[1]} | McNemar p |")
    print("|---|---|---|---|---|---|---|")
    for set_name in dict.fromkeys(s for s, _ in a):
        keys = [k for k in a if k[0] == set_name and k in b]
        parts = {set_name: keys}
        for value in sorted({groups[i] for _, i in keys if i in groups}):
            parts[f"{set_name} [{field}={value}]"] = [k for k in keys if groups.get(k[1]) == value]
        for name, part in parts.items():
            if not part:
                continue
            c = paired_comparison([b[k] for k in part], [a[k] for k in part])
            print(f"| {name} | {c['samples']} | {c['b']:.1f} | {c['a']:.1f} | {c['difference']:+.1f} "
                  f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}] | {c['only_b']} / {c['only_a']} | {c['p_value']:.2f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="release_eval.py --out JSON files")
    ap.add_argument("--paired", nargs=2, metavar=("A", "B"), help="two release_eval.py --predictions JSONL files")
    ap.add_argument("--names", help="comma-separated column names (default: the file names)")
    ap.add_argument("--breakdown", metavar="FILE:FIELD",
                    help="with --paired: also a row per value of FIELD, read from a JSONL file of objects with an "
                         "\"id\" (e.g. data/release/synth/cues.jsonl:design)")
    args = ap.parse_args(argv)
    if bool(args.files) == bool(args.paired):
        ap.error("give release_eval.py --out files, or --paired A B (not both)")
    if args.paired:
        names = args.names.split(",") if args.names else [Path(f).stem for f in args.paired]
        if len(names) != 2:
            ap.error(f"--names gives {len(names)} names for the two --paired files")
        return paired(args.paired, names, args.breakdown)
    if args.breakdown:
        ap.error("--breakdown goes with --paired")
    names = args.names.split(",") if args.names else [Path(f).stem for f in args.files]
    if not args.names and len(set(names)) < len(names):  # same stem, different files: not seeds of one setting
        names = list(args.files)
    if len(names) != len(args.files):
        ap.error(f"--names gives {len(names)} names for {len(args.files)} files")
    runs = [load(f) for f in args.files]
    groups = {name: [run for n, run in zip(names, runs) if n == name] for name in dict.fromkeys(names)}
    heads = [name if len(g) == 1 else f"{name} (mean ± std, {len(g)})" for name, g in groups.items()]
    print(f"| set | score | {' | '.join(heads)} | (b) probe |")
    print(f"|---|---|{'---|' * len(heads)}---|")
    for set_name in runs[0]:
        for label, part, row, field in ROWS:
            cells = [[run.get(set_name, {}).get(part, {}).get(row, {}).get(field) for run in g]
                     for g in groups.values()]
            if all(c is None or c != c for g in cells for c in g):
                continue
            probe = runs[0][set_name].get(part, {}).get(PROBE_OF[part], {}).get(field)
            print(f"| {set_name} | {label} | {' | '.join(cell(g) for g in cells)} | {fmt(probe)} |")


if __name__ == "__main__":
    main()
