"""Synthetic corpus: generation speed, and how local the cues are (distractor design vs. its twin).

    .venv/bin/python benchmarks/corpora_synth.py --num 60 --seed 0

Times the generation of ``--num`` dialogues (seconds per dialogue), then for every manipulated
dialogue renders its twin without the cue and reports, per cue, the change of the statistic the cue
moves inside the cue window and over the whole clip.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

import numpy as np

from acoustemo.corpora.prosody import window_stats
from acoustemo.corpora.synth import SynthConfig, build_synth_corpus, draw_dialogue, render_dialogue

STAT = {"tremor": "f0_wobble", "pitch_up": "f0_median", "pitch_down": "f0_median", "loud_burst": "rms_db",
        "whisper": "voiced_fraction", "breathy": "hnr", "rate_fast": "duration", "rate_slow": "duration",
        "sarcasm": "f0_sd"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--num", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    config = SynthConfig(num=args.num, seed=args.seed)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        build_synth_corpus(out, config, progress=False)
        elapsed = time.perf_counter() - t
    print(f"generation: {args.num} dialogues in {elapsed:.1f} s ({elapsed / args.num:.2f} s per dialogue)")
    deltas = defaultdict(list)
    for i in range(args.num):
        spec = draw_dialogue(config, i)
        if spec.cue is None:
            continue
        man, twin = render_dialogue(spec, config), render_dialogue(spec, config, apply_cue=False)
        u, tu = man.utterances[spec.target], twin.utterances[spec.target]
        offset = man.window[0] - u.start
        t_end = tu.start + offset + (man.window[1] - man.window[0]) * (tu.end - tu.start) / (u.end - u.start)
        stat = STAT[spec.cue]
        local = getattr(window_stats(man.audio, 16000, *man.window), stat) - getattr(
            window_stats(twin.audio, 16000, tu.start + offset, min(t_end, tu.end)), stat)
        whole = getattr(window_stats(man.audio, 16000), stat) - getattr(window_stats(twin.audio, 16000), stat)
        deltas[(spec.cue, spec.design)].append((local, whole))
    print(f"{'cue':<11} {'design':<11} {'n':>3}  {'statistic':<16} {'window change':>14} {'whole-clip change':>18}")
    for (cue, design), v in sorted(deltas.items()):
        a = np.array(v)
        print(f"{cue:<11} {design:<11} {len(v):>3}  {STAT[cue]:<16} {np.mean(a[:, 0]):>+14.3f} {np.mean(a[:, 1]):>+18.3f}")


if __name__ == "__main__":
    main()
