"""The emotion-wheel lexicon shipped with the package (OV-MER / AffectGPT, Apache-2.0).

Three layers map a free-form emotion label onto ever coarser clusters:

1. ``format.csv``: 1,255 *lexicon words*, each with its surface forms ("abandon", "abandonment",
   ... -> "abandoned"). A surface form may be listed under several words.
2. ``synonym.csv``: 253 *wheel words*, each with the synonyms produced by 8 independent runs; the
   runs are merged, so a lexicon word belongs to every wheel word it was named a synonym of.
3. ``wheel1.csv`` ... ``wheel5.csv``: five emotion wheels, ``level1 > level2 > level3``; a blank cell
   repeats the value above it. Every wheel word sits somewhere in at least one wheel.

Everything is lower-cased and stripped. Where a label has several candidates, the alphabetically
first one is taken, so every mapping is deterministic.

Example::

    lex = load_lexicon()
    lex.word("Abandonment")                   # 'abandoned'          (M1 key)
    lex.synonym_group("abandonment")          # a wheel word         (M2 key)
    lex.wheel_cluster("furious", 1, "level1") # 'mad'                (M3 key)
    lex.synonyms("happy")                     # lexicon words sharing a wheel word with 'happy'
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass, field
from importlib import resources

NUM_WHEELS = 5  # wheel1.csv ... wheel5.csv
NUM_SYNONYM_RUNS = 8  # word_run1/synonym_run1 ... word_run8/synonym_run8 in synonym.csv
LEVELS = ("level1", "level2")  # the two wheel levels the M3 metrics cluster to

_SPLIT = re.compile(r"[,'\"，]")


def normalize(label: str) -> str:
    """``"  Happy "`` -> ``"happy"``: the form in which every label is looked up."""
    return label.strip().lower()


def split_forms(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: a comma-separated cell of the lexicon, normalised, no blanks."""
    return [normalize(t) for t in _SPLIT.split(text) if t.strip()]


@dataclass(frozen=True)
class Wheel:
    """One emotion wheel: ``tree[level1][level2] -> [level3, ...]`` in file order."""

    name: str  # "wheel1" ... "wheel5"
    tree: dict[str, dict[str, list[str]]]
    level1: dict[str, str] = field(init=False)  # any word of the wheel -> its level-1 emotion
    level2: dict[str, str] = field(init=False)  # any word of the wheel -> its level-2 emotion

    def __post_init__(self) -> None:
        to_level1: dict[str, str] = {}
        to_level2: dict[str, str] = {}
        # Walk the tree in file order; a word listed in several places keeps its last position.
        # A level-1 word clusters, at level 2, to the alphabetically first of its level-2 children.
        for top, children in self.tree.items():
            to_level1[top] = top
            to_level2[top] = min(children)
            for mid, leaves in children.items():
                to_level1[mid] = top
                to_level2[mid] = mid
                for leaf in leaves:
                    to_level1[leaf] = top
                    to_level2[leaf] = mid
        object.__setattr__(self, "level1", to_level1)
        object.__setattr__(self, "level2", to_level2)

    def cluster_map(self, level: str) -> dict[str, str]:
        """Word -> cluster at ``level`` (``"level1"`` or ``"level2"``)."""
        if level == "level1":
            return self.level1
        if level == "level2":
            return self.level2
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")

    @property
    def words(self) -> set[str]:
        """Every word that appears in this wheel, at any level."""
        return set(self.level1)


@dataclass(frozen=True)
class Lexicon:
    """The lexicon as lookup tables; build it with :func:`load_lexicon`.

    Attributes:
        surface_to_words: surface form (normalised) -> sorted lexicon words it is a form of.
            Every lexicon word is also a surface form of itself.
        word_to_wheel_words: lexicon word -> sorted wheel words it is a synonym of (merged over the
            8 runs of ``synonym.csv``; a wheel word is a synonym of itself).
        wheels: the five emotion wheels, ``wheels[0]`` is ``wheel1.csv``.
    """

    surface_to_words: dict[str, tuple[str, ...]]
    word_to_wheel_words: dict[str, tuple[str, ...]]
    wheels: tuple[Wheel, ...]

    @property
    def words(self) -> list[str]:
        """The 1,255 lexicon words (names of ``format.csv``), sorted."""
        return sorted(self.word_to_wheel_words)

    @property
    def wheel_words(self) -> list[str]:
        """The 253 wheel words (the words of ``synonym.csv``), sorted."""
        return sorted({w for ws in self.word_to_wheel_words.values() for w in ws})

    def word(self, label: str) -> str | None:
        """M1 key: the lexicon word of a label (alphabetically first if several), None if unknown."""
        words = self.surface_to_words.get(normalize(label))
        return words[0] if words else None

    def synonym_group(self, label: str) -> str | None:
        """M2 key: the wheel word that stands for the label's synonym group, None if unknown.

        The label goes to its lexicon word (:meth:`word`), then to the alphabetically first wheel
        word that the lexicon word is a synonym of.
        """
        word = self.word(label)
        if word is None:
            return None
        wheel_words = self.word_to_wheel_words.get(word)
        return wheel_words[0] if wheel_words else None

    def wheel_cluster(self, label: str, wheel: int, level: str) -> str | None:
        """M3 key: the emotion of ``wheel`` (1..5) at ``level`` that the label falls under, or None.

        All wheel words reachable from the label (through every lexicon word it is a form of) are
        tried in alphabetical order; the first one present in the wheel decides the cluster.
        """
        cluster_of = self.wheels[wheel - 1].cluster_map(level)
        reachable = set()
        for word in self.surface_to_words.get(normalize(label), ()):
            reachable.update(self.word_to_wheel_words.get(word, ()))
        for wheel_word in sorted(reachable):
            if wheel_word in cluster_of:
                return cluster_of[wheel_word]
        return None

    def surface_forms(self, word: str) -> list[str]:
        """Every surface form that maps to the lexicon word ``word`` (including itself), sorted."""
        word = normalize(word)
        return sorted(s for s, ws in self.surface_to_words.items() if word in ws)

    def synonyms(self, label: str) -> list[str]:
        """Lexicon words that share a wheel word with ``label``'s lexicon word (itself included), sorted.

        Empty if the label is not in the lexicon. Useful to draw varied but equivalent labels.
        """
        word = self.word(label)
        if word is None:
            return []
        groups = set(self.word_to_wheel_words.get(word, ()))
        return sorted(w for w, ws in self.word_to_wheel_words.items() if groups.intersection(ws))


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("acoustemo") / "resources" / "emotion_wheel" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _read_wheel(index: int) -> Wheel:
    tree: dict[str, dict[str, list[str]]] = {}
    top = mid = leaf = ""
    for row in _read_csv(f"wheel{index}.csv"):
        # a blank cell means "same as the row above"
        top = normalize(row["level1"] or "") or top
        mid = normalize(row["level2"] or "") or mid
        leaf = normalize(row["level3"] or "") or leaf
        tree.setdefault(top, {}).setdefault(mid, []).append(leaf)
    return Wheel(name=f"wheel{index}", tree=tree)


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read the lexicon shipped in ``acoustemo/resources/emotion_wheel`` (cached; ~20 ms)."""
    surface: dict[str, set[str]] = {}
    words = []
    for row in _read_csv("format.csv"):
        word = normalize(row["name"])
        words.append(word)
        for form in split_forms(row["format"] or "") + [word]:
            surface.setdefault(form, set()).add(word)

    to_wheel: dict[str, set[str]] = {w: set() for w in words}
    for row in _read_csv("synonym.csv"):
        for run in range(1, NUM_SYNONYM_RUNS + 1):
            wheel_word = normalize(row[f"word_run{run}"])
            for label in [wheel_word] + split_forms(row[f"synonym_run{run}"] or ""):
                to_wheel.setdefault(label, set()).add(wheel_word)

    known = set(words)
    wheels = tuple(_read_wheel(i) for i in range(1, NUM_WHEELS + 1))
    return Lexicon(
        surface_to_words={k: tuple(sorted(v)) for k, v in surface.items()},
        word_to_wheel_words={k: tuple(sorted(v)) for k, v in to_wheel.items() if k in known},
        wheels=wheels,
    )
