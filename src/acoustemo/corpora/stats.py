"""Corpus statistics: dialogues, hours, utterances per dialogue, label distribution — printed and saved.

:func:`corpus_stats` computes them from the written samples and their media durations;
:func:`write_stats` prints them and writes ``stats.json`` and ``stats.txt`` beside the manifests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..data.manifest import Sample
from ..io import atomic_write_json, atomic_write_text

SPLITS = ("train", "validation", "test")


def _summary(values: list[float]) -> dict:
    if not values:
        return {"mean": 0.0, "min": 0.0, "max": 0.0}
    return {"mean": round(float(np.mean(values)), 3), "min": round(float(min(values)), 3),
            "max": round(float(max(values)), 3)}


def corpus_stats(rows: list[tuple[str, Sample, float, str]], *, extra: dict[str, Counter] | None = None) -> dict:
    """Statistics of a corpus.

    ``rows``: one ``(split, sample, media_seconds, speaker)`` per dialogue. ``extra``: further named
    counters to report (e.g. ``{"designs": Counter(...)}``). Durations are in seconds, hours in hours.
    """
    def block(sel):
        seconds = [r[2] for r in sel]
        n_utt = [len(r[1].utterances or []) for r in sel]
        return {
            "dialogues": len(sel),
            "hours": round(sum(seconds) / 3600, 4),
            "speakers": len({r[3] for r in sel}),
            "utterances": sum(n_utt),
            "dialogue_seconds": _summary(seconds),
            "utterances_per_dialogue": {**_summary(n_utt), "histogram": {str(k): v for k, v in sorted(Counter(n_utt).items())}},
        }

    labels = Counter(label for r in rows for label in (r[1].labels or []))
    stats = {
        **block(rows),
        "splits": {s: block([r for r in rows if r[0] == s]) for s in SPLITS},
        "labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    for name, counter in (extra or {}).items():
        stats[name] = dict(sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))))
    return stats


def format_stats(stats: dict, title: str) -> str:
    """A short human-readable report of :func:`corpus_stats`' output."""
    u = stats["utterances_per_dialogue"]
    d = stats["dialogue_seconds"]
    lines = [
        f"{title}: {stats['dialogues']} dialogues, {stats['hours']:.3f} h, {stats['speakers']} speakers, "
        f"{stats['utterances']} utterances",
        f"  utterances per dialogue: mean {u['mean']:.2f} (min {u['min']:.0f}, max {u['max']:.0f}); "
        + ", ".join(f"{k}: {v}" for k, v in u["histogram"].items()),
        f"  dialogue length: mean {d['mean']:.2f} s (min {d['min']:.2f}, max {d['max']:.2f})",
    ]
    for s, b in stats["splits"].items():
        lines.append(f"  {s:<10} {b['dialogues']:>6} dialogues  {b['hours']:.3f} h  {b['speakers']} speakers")
    lines.append("  labels: " + ", ".join(f"{k} {v}" for k, v in stats["labels"].items()))
    for name, counts in stats.items():
        if name not in ("labels", "splits") and isinstance(counts, dict) and name not in (
                "dialogue_seconds", "utterances_per_dialogue"):
            lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)


def write_stats(out: Path, stats: dict, title: str) -> str:
    """Print the report and write ``stats.json`` and ``stats.txt`` into ``out``; returns the report."""
    text = format_stats(stats, title)
    atomic_write_json(Path(out) / "stats.json", stats)
    atomic_write_text(Path(out) / "stats.txt", text + "\n")
    print(text)
    return text
