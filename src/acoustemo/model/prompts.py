"""The instruction prompt T_Lq (section 3.4) and the parsing of emotion lists out of answers.

This module is the only place prompt strings live. A prompt is a list of pieces: text, or a slot that
the model fills with Q-Former tokens. With utterance windows it reads::

    <s>Video: [T_V]
    Audio of the whole clip (0.00-9.84 s): [T_A^global]
    Utterances, with their times and the audio of each:
    1. (0.42-2.10 s) "I left the keys on the table." Audio: [T_A^1]
    2. (2.65-4.90 s) "Fine, whatever you say." Audio: [T_A^2]
    Which emotions does the speaker express? Use the face, the tone of voice in each utterance and the
    words. Answer with a comma-separated list of emotion words.
    Answer: anxious, nervous</s>

The ``compact`` style, for small LLMs whose forward and backward pass is most of a training step, says
the same in about half the tokens (no times, no instruction; the model learns the task from the data)::

    <s>Clip: [T_A^global]
    1. "I left the keys on the table." [T_A^1]
    2. "Fine, whatever you say." [T_A^2]
    Emotions: anxious, nervous</s>

A second question form asks for each utterance too (``model.utterance_answers``): the question names it, and
the answer adds one line per utterance, its number and its own emotions::

    Which emotions does the speaker express, in the whole clip and in each utterance? ... Answer: anxious
    1: calm
    2: anxious, nervous</s>

(compact style: ``Emotions, then each utterance:``). :func:`parse_answer` reads both forms back.

With fixed windows (the ablation) the audio slots are listed per 2 s segment and the utterances keep
their times and text. Without the utterance-aware Q-Former the utterances have no audio slot; without
the global Q-Former the whole-clip line is left out; without visual features the video line is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

QUESTION = (
    "Which emotions does the speaker express? Use the face, the tone of voice in each utterance and the "
    "words. Answer with a comma-separated list of emotion words."
)
UTTERANCE_QUESTION = (
    "Which emotions does the speaker express, in the whole clip and in each utterance? Use the face, the tone "
    "of voice in each utterance and the words. Answer with a comma-separated list of emotion words for the "
    "clip, then one line per utterance: its number, a colon and its emotion words."
)
ANSWER_PREFIX = "Answer:"
COMPACT_ANSWER_PREFIX = "Emotions:"
COMPACT_UTTERANCE_PREFIX = "Emotions, then each utterance:"
QUESTION_FORMS = ("clip", "utterances")
PROMPT_STYLES = ("full", "compact")
SLOT_KINDS = ("visual", "global", "utterance")  # one Q-Former per kind; Batch.slot_kind holds 1 + the index
SLOT_CODES = {kind: code for code, kind in enumerate(SLOT_KINDS, 1)}


@dataclass(frozen=True)
class Slot:
    """Where ``num_tokens`` Q-Former tokens go: kind is "visual", "global" or "utterance" (an utterance's window
    of Eq. 1, or a fixed window of the ablation: both are read by the utterance-aware Q-Former)."""

    kind: str
    num_tokens: int


@dataclass(frozen=True)
class Segment:
    """A stretch of the clip with its own acoustic tokens: an utterance (with text) or a fixed window."""

    start: float  # seconds
    end: float
    text: str = ""
    labels: tuple[str, ...] | None = None  # the utterance's own emotions (training with utterance answers)


def _time(t: float) -> str:
    return f"{t:.2f}"


def build_prompt(
    *,
    utterances: list[Segment],
    windows: list[Segment] | None,
    duration: float,
    visual_tokens: int,
    global_tokens: int,
    window_tokens: int,
    layout: str = "interleaved",
    style: str = "full",
    question: str = "clip",
) -> list[str | Slot]:
    """The pieces of T_Lq, in the order the model reads them.

    Args:
        utterances: the dialogue's utterances (times and text), stated in the prompt.
        windows: the acoustic windows when they are not the utterances themselves (fixed windows),
            None when each utterance carries its own window (Eq. 1).
        duration: clip length in seconds.
        visual_tokens, global_tokens, window_tokens: tokens per slot; 0 leaves the slot out.
        layout: "interleaved" puts each slot where the text names it (an utterance's tokens right after
            its line); "prefix" puts every slot first, [T_V; T_A^global; T_A^1 ... T_A^N; T_Lq] as
            Eq. (3) writes it, and the text refers to each group by its place ("audio group 2").
        style: "full" states times and the instruction; "compact" only the text, in about half the tokens.
        question: "clip" asks for the clip's emotions; "utterances" for the clip's and each utterance's.
    Slots come in the same order in both layouts and styles: visual, global, then the windows in time order.
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r} ({', '.join(PROMPT_STYLES)})")
    if question not in QUESTION_FORMS:
        raise ValueError(f"unknown question form {question!r} ({', '.join(QUESTION_FORMS)})")
    build = _interleaved if style == "full" else _compact
    pieces = build(utterances, windows, duration, visual_tokens, global_tokens, window_tokens)
    pieces[-1] = {("full", "clip"): QUESTION + "\n" + ANSWER_PREFIX,
                  ("full", "utterances"): UTTERANCE_QUESTION + "\n" + ANSWER_PREFIX,
                  ("compact", "clip"): COMPACT_ANSWER_PREFIX,
                  ("compact", "utterances"): COMPACT_UTTERANCE_PREFIX}[style, question]
    if layout == "interleaved":
        return pieces
    if layout != "prefix":
        raise ValueError(f"unknown prompt layout {layout!r} (interleaved, prefix)")
    slots = [p for p in pieces if isinstance(p, Slot)]
    text, window = [], 0
    for p in pieces:
        if isinstance(p, Slot):
            if p.kind == "utterance":
                window += 1
            text.append({"visual": "(the video tokens)", "global": "(the clip's audio tokens)"}.get(
                p.kind, f"(audio group {window})"))
        else:
            text.append(p)
    return slots + ["\n" + "".join(text)] if slots else ["".join(text)]


def _interleaved(utterances, windows, duration, visual_tokens, global_tokens, window_tokens) -> list[str | Slot]:
    pieces: list[str | Slot] = []
    if visual_tokens:
        pieces += ["Video: ", Slot("visual", visual_tokens), "\n"]
    if global_tokens:
        pieces += [f"Audio of the whole clip (0.00-{_time(duration)} s): ", Slot("global", global_tokens), "\n"]
    per_utterance = window_tokens and windows is None
    if windows is not None and window_tokens:
        pieces.append("Audio segments:\n")
        for j, w in enumerate(windows, 1):
            pieces += [f"{j}. ({_time(w.start)}-{_time(w.end)} s) ", Slot("utterance", window_tokens), "\n"]
    if utterances:
        pieces.append("Utterances, with their times and the audio of each:\n" if per_utterance
                      else "Utterances, with their times:\n")
        for i, u in enumerate(utterances, 1):
            text = f'{i}. ({_time(u.start)}-{_time(u.end)} s) "{u.text.strip()}"'
            if per_utterance:
                pieces += [text + " Audio: ", Slot("utterance", window_tokens), "\n"]
            else:
                pieces.append(text + "\n")
    pieces.append(QUESTION + "\n" + ANSWER_PREFIX)
    return pieces


def _compact(utterances, windows, duration, visual_tokens, global_tokens, window_tokens) -> list[str | Slot]:
    pieces: list[str | Slot] = []
    if visual_tokens:
        pieces += ["Face: ", Slot("visual", visual_tokens), "\n"]
    if global_tokens:
        pieces += ["Clip: ", Slot("global", global_tokens), "\n"]
    per_utterance = window_tokens and windows is None
    if windows is not None and window_tokens:
        pieces.append("Segments:")
        for w in windows:
            pieces += [" ", Slot("utterance", window_tokens)]
        pieces.append("\n")
    for i, u in enumerate(utterances, 1):
        pieces.append(f'{i}. "{u.text.strip()}"')
        pieces += [" ", Slot("utterance", window_tokens), "\n"] if per_utterance else ["\n"]
    pieces.append(COMPACT_ANSWER_PREFIX)
    return pieces


def format_answer(labels: list[str], utterance_labels: list[tuple[str, ...]] | None = None) -> str:
    """The answer T_La the model learns to write: ``" anxious, nervous"``; with ``utterance_labels`` (the
    second question form) one more line per utterance: ``"\n1: calm\n2: anxious, nervous"``."""
    text = " " + ", ".join(label.strip() for label in labels)
    for i, own in enumerate(utterance_labels or [], 1):
        text += f"\n{i}: " + ", ".join(label.strip() for label in own)
    return text


_SPLIT = re.compile(r"\s*(?:[,;，；、/|]|\band\b|\bor\b|\n)\s*")
_STRIP = "[](){}'\"`.。!?*- \t"
_ENUMERATION = re.compile(r"^(?:\d+[.)]|[-*•])\s+")


_UTTERANCE_LINE = re.compile(r"^\s*(\d{1,3})\s*:\s*(.*)$")


def parse_answer(answer: str, num_utterances: int | None = None) -> tuple[list[str], list[list[str]] | None]:
    """The clip's emotions and each utterance's, from an answer to either question form.

    Lines ``"<number>: words"`` are utterance lines (the second form); the rest is the clip's list
    (:func:`parse_emotions`). Returns ``(clip, None)`` when the answer has no utterance line, else
    ``(clip, per_utterance)`` with one list per utterance 1..``num_utterances`` (or up to the highest number
    written): an utterance the answer skipped gets ``[]``; numbers out of range are ignored and a repeated
    number keeps its first line.
    """
    clip_lines, own = [], {}
    for line in answer.splitlines():
        m = _UTTERANCE_LINE.match(line)
        if m:
            own.setdefault(int(m.group(1)), parse_emotions(m.group(2)))
        else:
            clip_lines.append(line)
    clip = parse_emotions("\n".join(clip_lines))
    if not own:
        return clip, None
    n = num_utterances if num_utterances is not None else max(own)
    return clip, [own.get(i, []) for i in range(1, n + 1)]


def parse_emotions(answer: str) -> list[str]:
    """The open-vocabulary emotion list written in an answer, lowercased, in order, without repeats.

    Accepts "anxious, nervous", "['anxious', 'nervous']", "Anxious and nervous.", one word per line.
    Lines without a letter ("(1)") are skipped; when the first line is a comma-separated list, later
    lines (an explanation) are ignored; text after a first sentence-ending period is ignored ("Sad. The
    speaker ..." gives ["sad"]).
    """
    text = answer.strip()
    for prefix in (ANSWER_PREFIX, COMPACT_UTTERANCE_PREFIX, COMPACT_ANSWER_PREFIX):
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix):]
    lines = [ln for ln in text.splitlines() if re.search(r"[^\W\d_]", ln)]  # lines with a letter
    if len(lines) == 1 or (lines and "," in lines[0]):
        text = lines[0]  # "anxious, nervous" (+ an explanation on later lines)
    else:
        text = "\n".join(lines)  # one emotion per line
    text = re.split(r"(?<=[a-z])\.\s", text, maxsplit=1)[0]
    out: list[str] = []
    for part in _SPLIT.split(text):
        word = _ENUMERATION.sub("", part.strip()).strip(_STRIP).lower()  # "1. angry" -> "angry"
        if word and word not in out:
            out.append(word)
    return out
