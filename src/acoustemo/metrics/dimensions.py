"""Valence and arousal of a label list, derived from the words through published ratings of English words.

The model names emotions; it does not rate them. For a dimensional track beside the labels (``acoustemo stream``,
``predict --json``), each label word is looked up in the valence and arousal norms of Warriner, Kuperman and
Brysbaert (2013), 13,915 English lemmas rated on 1-9 scales by US raters (the package carries the rows of the
corpora's emotion words, ``resources/affective_norms/warriner2013.tsv``, CC BY-NC-ND 3.0). A list's values are
the mean over its words that the norms hold, mapped from 1..9 onto -1..+1 (5, the scale's middle, is 0):

    valence_arousal(["sad", "unhappy"])   # (-0.757, -0.176): unpleasant, a little below mid arousal
    valence_arousal(["calm"])             # (0.472, -0.833): pleasant, low arousal

These are properties of the words, not ratings of the voice: two lists that name the same emotion differently
get somewhat different values, and a list of words the norms lack (e.g. inflected forms: "irritated") gets None.
"""

from __future__ import annotations

import functools
from importlib import resources

NORMS_FILE = "warriner2013.tsv"
SCALE_MIDDLE, SCALE_HALF = 5.0, 4.0  # the 1..9 scale onto -1..+1


@functools.cache
def norms() -> dict[str, tuple[float, float]]:
    """word -> (valence, arousal) on the norms' own 1..9 scale."""
    text = (resources.files("acoustemo") / "resources" / "affective_norms" / NORMS_FILE).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    if header != ["word", "valence", "arousal"]:
        raise ValueError(f"{NORMS_FILE}: unexpected header {header}")
    return {w: (float(v), float(a)) for w, v, a in body}


def valence_arousal(labels) -> tuple[float, float] | None:
    """The mean (valence, arousal) of the words of ``labels`` that the norms hold, in -1..+1; None for none."""
    table = norms()
    found = [table[w] for w in (str(x).strip().lower() for x in labels) if w in table]
    if not found:
        return None
    v = sum(x for x, _ in found) / len(found)
    a = sum(y for _, y in found) / len(found)
    return (round((v - SCALE_MIDDLE) / SCALE_HALF, 3), round((a - SCALE_MIDDLE) / SCALE_HALF, 3))


def valence_arousal_fields(labels) -> dict[str, float | None]:
    """``{"valence": v, "arousal": a}`` of ``labels`` as the JSON outputs write them (None for both when the norms
    hold none of the words)."""
    va = valence_arousal(labels)
    return {"valence": va[0] if va else None, "arousal": va[1] if va else None}
