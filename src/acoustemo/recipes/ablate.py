"""``acoustemo ablate``: train and evaluate the variants of Table 2 over several seeds.

    acoustemo ablate --config configs/small-synth.yaml --out runs/ablation --seeds 0,1,2
    acoustemo ablate --config configs/small-synth.yaml --out runs/ablation --variants full,no_utterance --seeds 0

Each (variant, seed) trains into ``<out>/<variant>/seed-<s>/`` (``train.seed = s``) and is evaluated on
``train.test_manifest`` into ``.../eval/``. A run whose ``eval/scores.json`` exists is not repeated, and a
run killed during training resumes from its newest checkpoint, so the whole command can be started again.
The table (mean ± sample std over seeds) is printed and written as ``table.csv``, ``table.json`` and
``table.png`` (bars with std error bars) into ``<out>``. Below it, each variant's difference from Full in
every score column, with the p-value of Welch's t-test over the seeds (each seed an independent run; a few
seeds resolve only large differences). ``--done-only`` trains nothing: the table holds the
runs finished so far (each row says over which seeds), and the unfinished ones are listed, e.g. to look at a
grid that takes several days of CPU between two of its runs. ``--records DIR`` copies the table and each
finished run's record (scores, per-sample answers, training curves; no weights) into ``DIR`` with the same
layout: ``--done-only --out DIR`` tables them again once the runs themselves are gone.

``--probe``: the fast acoustic-branch ablation. The same variants, but each run trains only the acoustic
Q-Formers under a light head over the label vocabulary (stage 1, :mod:`acoustemo.training.acoustic`;
``train.acoustic``, whose ``epochs`` must be set) into ``.../acoustic/``, and scores its top label on the test split
(top-1: the share of samples whose highest-scoring label is one of theirs). Minutes per run on a CPU: it
answers "do the variant's acoustic tokens carry the cue?" without the LLM's cost and noise.

    acoustemo ablate --probe --config configs/small-synth.yaml --train.acoustic.epochs=12 --out runs/probe-ablation \\
        --seeds 0,1,2,3,4

Avg / Acc / Rec are Accuracy_s, Recall_s and their mean under ``--metric`` (``embedding``: synonym groups from
sentence embeddings, the offline stand-in for the paper's GPT grouping; ``exact``; or ``grouping`` with
``--grouping``); M-avg is the emotion-wheel score; val loss the last validation loss.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import add_config_arguments, add_device_argument
from ..device import resolve_device
from ..errors import ConfigError
from ..experiments.ablation import VARIANTS, ablate, format_table, keep_records
from ..results import read_breakdown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for the runs and the table")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--metric", default="embedding", choices=("embedding", "exact", "grouping"),
                        help="grouping of labels for Avg/Acc/Rec (default: embedding)")
    parser.add_argument("--grouping", help="JSON synonym groups for --metric grouping")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--primary", choices=("emotion", "cue"),
                        help="also report primary accuracy: the share of test samples whose first predicted label is "
                             "in the gold label's category (emotion: acted emotions, neutral = calm; cue: the "
                             "synthetic cues)")
    parser.add_argument("--probe", action="store_true",
                        help="fast acoustic-branch ablation: stage 1 (Q-Formers + a label head) instead of the LLM")
    parser.add_argument("--breakdown", metavar="FILE:FIELD",
                        help="with --probe: also report test top-1 per value of FIELD, read from a JSONL file of "
                             "objects with an \"id\" (e.g. <synth corpus>/cues.jsonl:design)")
    add_device_argument(parser)
    parser.add_argument("--done-only", action="store_true",
                        help="train nothing: the table (table.csv/.json/.png, rewritten) of the runs finished so "
                             "far; the others are listed")
    parser.add_argument("--records", metavar="DIR",
                        help="also copy the table and each finished run's record (scores, per-sample answers, "
                             "training curves; no weights) into DIR, laid out as --out, so that --done-only --out DIR "
                             "tables them again without the checkpoints (e.g. into a results folder kept in git)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    resolve_device(args.device)  # an absent device stops here, before anything is trained
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    if args.breakdown and not args.probe:
        raise ConfigError("--breakdown needs --probe")
    if args.records and Path(args.records).resolve() == Path(args.out).resolve():
        raise ConfigError("--records: give a folder other than --out")
    if args.primary and args.probe:
        raise ConfigError("--primary scores the LLM's answers; --probe runs have none (their top-1 is already primary)")
    table = ablate(args.config, args.overrides, out=args.out, variants=variants, seeds=seeds, metric=args.metric,
                   grouping=args.grouping, max_new_tokens=args.max_new_tokens, device=args.device,
                   progress=not args.quiet, probe=args.probe, primary=args.primary,
                   breakdown=read_breakdown(args.breakdown) if args.breakdown else None, done_only=args.done_only)
    print(format_table(table))
    print(f"table -> {Path(args.out) / 'table.csv'} (.json, .png)", file=sys.stderr)
    if args.records:
        written = keep_records(Path(args.out), Path(args.records), {r["variant"]: r["seeds"] for r in table["rows"]})
        print(f"records -> {args.records} ({len(written)} files)", file=sys.stderr)
    return 0
