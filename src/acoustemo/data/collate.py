"""From examples (features, utterances, labels) to a model batch: windows, prompt, tokens, masks.

The sequence budget. With K tokens per window, a long dialogue overflows the LLM's maximum length
(K = 32 and 1024 tokens: after about 28 utterances). Policy: while the sequence does not fit, merge the
two adjacent windows whose union is shortest (their texts are joined, their window is the union), so
long utterances keep their own tokens longest; a ``BudgetWarning`` says how many windows were merged.
The answer is never cut: when even a single window does not fit, the sample is refused with an
``InputError`` naming it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from ..config import ModelConfig
from ..errors import InputError
from ..model.batch import Batch
from ..model.prompts import SLOT_CODES, Segment, Slot, build_prompt, format_answer
from ..model.windows import fixed_time_windows, pad_sequences, utterance_windows
from ..utterance import Utterance

__all__ = ["IGNORE_INDEX", "Batch", "BudgetWarning", "Collator", "Example"]

IGNORE_INDEX = -100  # label of every position the loss ignores (prompt, modality tokens, padding)


class BudgetWarning(UserWarning):
    """Windows were merged so that a sample fits the LLM's maximum length."""


@dataclass
class Example:
    """One sample as the model sees it."""

    id: str
    audio: torch.Tensor  # (L, audio_dim) frame-level features F_A
    frame_rate: float  # f_s of ``audio``, frames per second
    utterances: list[Utterance] = field(default_factory=list)
    visual: torch.Tensor | None = None  # (T, visual_dim) per-frame visual features
    labels: list[str] | None = None  # the open-vocabulary answer (training)
    speaker: str | None = None  # the manifest's speaker, where known (speaker-relative acoustics)


@dataclass
class _Encoded:
    input_ids: list[int]
    labels: list[int]
    slot: list[int]  # slot kind code per token (0: text)
    segments: list[Segment]  # acoustic windows in seconds, in prompt order
    merged: int
    num_utterances: int = 0
    question: str = "clip"


class Collator:
    """Turns a list of :class:`Example` into a :class:`Batch`.

    ``train=True`` appends the answer (``labels`` of each example) and the EOS token and right-pads;
    ``train=False`` ends the prompt at "Answer:" and left-pads, ready for generation.
    """

    def __init__(self, config: ModelConfig, tokenizer, *, train: bool = True):
        self.config = config
        self.tokenizer = tokenizer
        self.train = train
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._cache: dict[str, list[int]] = {}

    def _tokens(self, text: str) -> list[int]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._cache) < 100_000:
                self._cache[text] = ids
        return ids

    def _render(self, pieces: list[str | Slot]) -> tuple[list[int], list[int]]:
        ids: list[int] = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        slot = [0] * len(ids)
        for p in pieces:
            if isinstance(p, Slot):
                ids += [self.pad_id] * p.num_tokens
                slot += [SLOT_CODES[p.kind]] * p.num_tokens
            else:
                t = self._tokens(p)
                ids += t
                slot += [0] * len(t)
        return ids, slot

    def question_form(self, ex: Example) -> str:
        """"utterances" (the clip's and each utterance's emotions) when the model answers per utterance
        (``model.utterance_answers``) and the example has utterances (in training: each with its own labels);
        else "clip"."""
        if not self.config.utterance_answers or not ex.utterances:
            return "clip"
        if self.train and any(u.labels is None for u in ex.utterances):
            return "clip"
        return "utterances"

    def encode(self, ex: Example) -> _Encoded:
        cfg = self.config
        if ex.audio.ndim != 2 or ex.audio.shape[1] != cfg.audio_dim:
            raise InputError(f"sample {ex.id!r}, field 'audio': features of shape {tuple(ex.audio.shape)}, "
                             f"expected (L, {cfg.audio_dim})")
        if ex.audio.shape[0] == 0:
            raise InputError(f"sample {ex.id!r}, field 'audio': no frames")
        if cfg.use_visual:
            if ex.visual is None:
                raise InputError(f"sample {ex.id!r}, field 'visual': the model uses visual features "
                                 f"(model.use_visual=true) but the sample has none")
            if ex.visual.ndim != 2 or ex.visual.shape[1] != cfg.visual_dim or ex.visual.shape[0] == 0:
                raise InputError(f"sample {ex.id!r}, field 'visual': features of shape {tuple(ex.visual.shape)}, "
                                 f"expected (T >= 1, {cfg.visual_dim})")
        for name, qf, length in (("audio", cfg.acoustic, ex.audio.shape[0]),
                                 ("visual", cfg.visual, 0 if ex.visual is None else ex.visual.shape[0])):
            if qf.frame_positions == "learned" and length > qf.max_frames:
                raise InputError(f"sample {ex.id!r}, field {name!r}: {length} frames exceed the learned frame "
                                 f"positions (model.{'acoustic' if name == 'audio' else 'visual'}.max_frames="
                                 f"{qf.max_frames})")
        if self.train and not ex.labels:
            raise InputError(f"sample {ex.id!r}, field 'labels': a training sample needs a non-empty label list")
        duration = ex.audio.shape[0] / ex.frame_rate
        utterances = [Segment(u.start, u.end, u.text, u.labels) for u in ex.utterances]
        question = self.question_form(ex)
        fixed = cfg.windows == "fixed"
        windows = [Segment(s, e) for s, e in fixed_time_windows(duration, cfg.fixed_window_seconds)] if fixed else None
        k = cfg.acoustic.num_tokens
        merged = 0
        while True:
            answer: list[int] = []
            if self.train:
                own = [u.labels for u in utterances] if question == "utterances" else None
                answer = self._tokens(format_answer(ex.labels, own)) + [self.tokenizer.eos_token_id]
            pieces = build_prompt(
                utterances=utterances,
                windows=windows,
                duration=duration,
                visual_tokens=cfg.visual.num_tokens if cfg.use_visual else 0,
                global_tokens=k if cfg.global_qformer else 0,
                window_tokens=k if cfg.utterance_qformer else 0,
                layout=cfg.prompt_layout,
                style=cfg.prompt_style,
                question=question,
            )
            ids, slot = self._render(pieces)
            if len(ids) + len(answer) <= cfg.max_length:
                break
            mergeable = windows if fixed else utterances
            if not cfg.utterance_qformer or len(mergeable) < 2:
                raise InputError(
                    f"sample {ex.id!r}: {len(ids)} prompt + {len(answer)} answer tokens exceed "
                    f"model.max_length={cfg.max_length} even with every window merged; raise max_length or "
                    f"shorten the utterances' text")
            mergeable = _merge_shortest_pair(mergeable)
            merged += 1
            if fixed:
                windows = mergeable
            else:
                utterances = mergeable
        if merged:
            warnings.warn(f"sample {ex.id!r}: merged {merged} adjacent windows (now {len(windows or utterances)}) "
                          f"to fit model.max_length={cfg.max_length}", BudgetWarning, stacklevel=3)
        labels = [IGNORE_INDEX] * len(ids) + answer
        segments = (windows if fixed else utterances) if cfg.utterance_qformer else []
        return _Encoded(ids + answer, labels, slot + [0] * len(answer), segments, merged, len(utterances), question)

    def __call__(self, examples: list[Example]) -> Batch:
        encoded = [self.encode(ex) for ex in examples]
        longest = max(len(e.input_ids) for e in encoded)
        b = len(examples)
        input_ids = torch.full((b, longest), self.pad_id, dtype=torch.long)
        labels = torch.full((b, longest), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros(b, longest, dtype=torch.long)
        slot = torch.zeros(b, longest, dtype=torch.long)
        for i, e in enumerate(encoded):
            n = len(e.input_ids)
            span = slice(0, n) if self.train else slice(longest - n, longest)  # right / left padding
            input_ids[i, span] = torch.tensor(e.input_ids)
            labels[i, span] = torch.tensor(e.labels)
            attention[i, span] = 1
            slot[i, span] = torch.tensor(e.slot)
        sample, begin, end = [], [], []
        for i, (ex, e) in enumerate(zip(examples, encoded)):
            if not e.segments:
                continue
            try:
                bg, en = utterance_windows([s.start for s in e.segments], [s.end for s in e.segments],
                                           ex.frame_rate, ex.audio.shape[0])
            except ValueError as err:
                raise InputError(f"sample {ex.id!r}, field 'utterances': {err}") from None
            sample += [i] * len(bg)
            begin += bg
            end += en
        audio, audio_mask = pad_sequences([ex.audio.float() for ex in examples])
        visual = visual_mask = None
        if self.config.use_visual:
            visual, visual_mask = pad_sequences([ex.visual.float() for ex in examples])
        return Batch(
            ids=[ex.id for ex in examples],
            input_ids=input_ids,
            attention_mask=attention,
            labels=labels if self.train else None,
            slot_kind=slot,
            audio=audio,
            audio_mask=audio_mask,
            window_sample=torch.tensor(sample, dtype=torch.long),
            window_begin=torch.tensor(begin, dtype=torch.long),
            window_end=torch.tensor(end, dtype=torch.long),
            visual=visual,
            visual_mask=visual_mask,
            merged=[e.merged for e in encoded],
            num_utterances=[e.num_utterances for e in encoded],
            question=[e.question for e in encoded],
        )


def check_examples(collator: "Collator", dataset, *, progress: bool = False, desc: str = "check") -> None:
    """Collate every sample of ``dataset`` once, alone, before a long job; raise one :class:`InputError`
    that counts and lists every bad sample (windows outside the audio, a prompt over the budget, ...)."""
    from tqdm import tqdm

    problems = []
    for i in tqdm(range(len(dataset)), disable=not progress, desc=desc, unit="sample", leave=False):
        try:
            collator([dataset[i]])
        except InputError as e:
            problems.append(str(e))
    if problems:
        raise InputError.from_problems(problems, "bad samples")


def _merge_shortest_pair(segments: list[Segment]) -> list[Segment]:
    """Merge the two adjacent segments whose union is shortest (ties: the earliest pair)."""
    def union(i):
        return max(segments[i].end, segments[i + 1].end) - min(segments[i].start, segments[i + 1].start)

    i = min(range(len(segments) - 1), key=union)
    a, b = segments[i], segments[i + 1]
    text = " ".join(t for t in (a.text.strip(), b.text.strip()) if t)
    labels = None
    if a.labels is not None and b.labels is not None:  # the emotions of either, the more telling first
        first, second = (b, a) if a.labels == ("calm",) else (a, b)
        labels = tuple(dict.fromkeys(first.labels + second.labels))
    joined = Segment(min(a.start, b.start), max(a.end, b.end), text, labels)
    return segments[:i] + [joined] + segments[i + 2:]
