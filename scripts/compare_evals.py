"""Side by side: the model rows of several `benchmarks/release_eval.py --out` files, one column per file.

    python scripts/compare_evals.py docs/release-eval.json runs/my-run-eval.json [--names shipped,mine]

For each test set: primary-emotion accuracy, emotion-wheel M-avg and distinct label lists of the model, and,
where the set has them, the per-utterance scores (primary accuracy, emotional utterance found / found alone).
The baselines are the same in every file (same data), so the last column repeats baseline (b) of the first.
"""

from __future__ import annotations

import argparse
import json
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
        return json.loads(Path(path).read_text(encoding="utf-8"))["sets"]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {path}: not a release_eval.py --out file ({e})", file=sys.stderr)
        sys.exit(2)


def fmt(value) -> str:
    if value is None or value != value:  # missing, or NaN (no such dialogues)
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="release_eval.py --out JSON files")
    ap.add_argument("--names", help="comma-separated column names (default: the file names)")
    args = ap.parse_args(argv)
    names = args.names.split(",") if args.names else [Path(f).stem for f in args.files]
    if len(names) != len(args.files):
        ap.error(f"--names gives {len(names)} names for {len(args.files)} files")
    runs = [load(f) for f in args.files]
    print(f"| set | score | {' | '.join(names)} | (b) probe |")
    print(f"|---|---|{'---|' * len(names)}---|")
    for set_name in runs[0]:
        for label, part, row, field in ROWS:
            cells = [run.get(set_name, {}).get(part, {}).get(row, {}).get(field) for run in runs]
            if all(c is None or c != c for c in cells):
                continue
            probe = runs[0][set_name].get(part, {}).get(PROBE_OF[part], {}).get(field)
            print(f"| {set_name} | {label} | {' | '.join(fmt(c) for c in cells)} | {fmt(probe)} |")


if __name__ == "__main__":
    main()
