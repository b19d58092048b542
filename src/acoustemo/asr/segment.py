"""Utterances as a listener hears them: Whisper's segments re-cut at sentence ends and pauses.

Whisper's segments are decoding windows, not utterances: the bundled tiny.en often returns two or three
sentences of a dialogue as one segment, so the utterance windows of Eq. (1) would be wider at prediction
time than in training (where the manifests hold the true times). :func:`split_words` cuts the stream of
timed words instead:

- after a word that ends a sentence (``.``, ``?``, ``!``, also before closing quotes);
- in a pause: the next word starts at least ``min_gap`` seconds after this one ends;
- at Whisper's own segment boundaries (``segment_ends``);

and never inside a word. Text is the words joined as Whisper spelled them.

:func:`words_in_spans` takes the utterances from a voice-activity detector instead (``Transcriber(split="vad")``):
each span of speech is an utterance with the detector's edges, which are sharper than Whisper's word times, and
its words are those whose middle falls in it (a word outside every span finishes the sentence before it, or
begins the next span). :func:`join_unfinished` then joins a span whose words do not finish a sentence with the next
one (``vad_join``): a speaker's pause inside a sentence is not the end of an utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTENCE_END = (".", "?", "!", "…")
SPLITS = ("words", "segments", "vad")  # how a transcript is cut into utterances (acoustemo.asr.Transcriber)
# s of silence that end an utterance where the VAD cuts (split="vad", and the stream's endpointer): chosen on the
# validation dialogues (benchmarks/utterance_split.py; docs/features.md)
DEFAULT_VAD_SILENCE = 0.2
VAD_JOINS = ("none", "unfinished", "continued")  # join_unfinished's rules (Transcriber(vad_join=...))
DEFAULT_MIN_GAP = 0.3  # s: shorter than the pauses between turns, longer than most pauses inside a sentence


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    word: str


def ends_sentence(word: str) -> bool:
    w = word.strip().rstrip("\"'”’)]")
    return w.endswith(SENTENCE_END) and not _is_abbreviation(w)


def _is_abbreviation(w: str) -> bool:
    """"Mr." "Dr." "e.g." : a period that does not end a sentence."""
    core = w.rstrip(".").lower()
    return core in {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "prof"}


def split_words(words: list[TimedWord], *, min_gap: float = DEFAULT_MIN_GAP, punctuation: bool = True,
                segment_ends: set[int] | None = None) -> list[list[TimedWord]]:
    """Cut a time-ordered word list into utterances (lists of consecutive words, none empty).

    ``segment_ends``: indices of words after which a Whisper segment ended (always a cut).
    ``min_gap``: a pause of at least this many seconds is a cut (``None`` or ``inf``: pauses never cut).
    ``punctuation``: cut after sentence-final punctuation.
    """
    if min_gap is not None and min_gap < 0:
        raise ValueError(f"min_gap must be >= 0 seconds, got {min_gap}")
    out: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for i, w in enumerate(words):
        current.append(w)
        last = i == len(words) - 1
        cut = last or (segment_ends is not None and i in segment_ends)
        if not cut and punctuation and ends_sentence(w.word):
            cut = True
        if not cut and min_gap is not None and words[i + 1].start - w.end >= min_gap:
            cut = True
        if cut:
            out.append(current)
            current = []
    return out


def utterance_text(words: list[TimedWord]) -> str:
    return " ".join(w.word.strip() for w in words if w.word.strip())


def words_in_spans(words: list[TimedWord], spans: list[tuple[float, float]]) -> list[tuple[int, list[TimedWord]]]:
    """``(span index, its words)`` for every span of ``spans`` (time-ordered ``(start, end)`` seconds) that gets
    at least one word. A word belongs to the span holding its middle; a word in no span (Whisper's times are
    coarse: the last word of a sentence often lands in the pause after it) finishes the previous word's sentence
    when that one did not end, and otherwise begins the next span (the last one after the end)."""
    if not spans:
        return []
    groups: dict[int, list[TimedWord]] = {}
    previous: tuple[int, TimedWord] | None = None
    for w in words:
        mid = (w.start + w.end) / 2
        inside = [i for i, (a, b) in enumerate(spans) if a <= mid <= b]
        if inside:
            k = inside[0]
        elif previous is not None and not ends_sentence(previous[1].word):
            k = previous[0]
        else:
            k = next((i for i, (a, _) in enumerate(spans) if a > mid), len(spans) - 1)
        groups.setdefault(k, []).append(w)
        previous = (k, w)
    return sorted(groups.items())


def join_unfinished(groups: list[tuple[int, list[TimedWord]]], spans: list[tuple[float, float]],
                    rule: str = "unfinished") -> list[tuple[tuple[float, float], list[TimedWord]]]:
    """``(bounds, words)`` of each utterance from :func:`words_in_spans`' groups, a group joined with the next where
    the sentence goes on across the pause between them. ``rule``: "unfinished", the group's last word does not end
    a sentence; "continued", that and the next group's first word does not start with a capital letter (Whisper
    capitalises a new sentence); "none", no group is joined. The bounds are the first span's start and the last's
    end."""
    if rule not in VAD_JOINS:
        raise ValueError(f"vad join must be one of {', '.join(VAD_JOINS)}, got {rule!r}")
    out: list[tuple[tuple[float, float], list[TimedWord]]] = []
    for k, words in groups:
        if out and rule != "none" and not ends_sentence(out[-1][1][-1].word) and (
                rule == "unfinished" or not words[0].word.strip()[:1].isupper()):
            (start, _), previous = out[-1]
            out[-1] = ((start, spans[k][1]), previous + words)
        else:
            out.append((spans[k], list(words)))
    return out
