"""Why the model answered as it did: how much each utterance's sound carried the answer, and where inside it.

Evidence (occlusion). The model's own answer is scored -- the summed log-likelihood of its answer tokens,
teacher-forced, exactly as training scores a label list -- on the clip as it is and on copies in which the
frames of one utterance are replaced by the average frame (the training data's mean frame, which the
Q-Formers' input standardisation holds; the clip's own mean frame for a model without it):

    evidence_i = log p(answer | clip) - log p(answer | clip with utterance i neutralised)      (nats)

Higher means the answer relied on that utterance's sound more; 0 means it did not change the answer's
likelihood at all; a negative value means the answer became more likely without it. From a model that also
answers per utterance, only the clip's line is scored (in the question form it was given in): each
utterance's own line naturally rests on that utterance, and the question is which utterance carried the
clip's emotions. The frames are replaced
everywhere they are read (the utterance's window and the global Q-Former), so the number is about that
stretch of audio, not about one branch. The transcript is kept.

Evidence (prior). Where the model names a clip of several utterances from its utterances' acoustic priors
(``model.clip_prior_source: utterances`` with ``model.acoustic_prior``), the clip's first label is decided by a
weighted mean of those priors (:func:`acoustemo.model.prior.clip_from_utterances`), and each utterance's share
of the probability that mean gives the first label is the exact account of that decision:

    evidence_i = w_i p_i(first label) / sum_j w_j p_j(first label)      (shares, adding up to 1)

It explains the first label, which is what the prior decides; the LLM's further words are not weighed.

Attention. Inside each utterance, the utterance Q-Former's cross-attention over the utterance's frames
(:meth:`acoustemo.model.qformer.QFormer.frame_attention`): where in the utterance the queries read.

    explanation = explain(model, example, labels=["angry", "frustrated"])
    explanation.evidence      # [0.02, 1.73, 0.10]: one number per utterance
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.collate import IGNORE_INDEX, Collator, Example
from ..errors import ConfigError
from ..model.windows import gather_windows, utterance_windows


@dataclass
class Explanation:
    answer_logprob: float  # log p(answer | clip), nats
    evidence: list[float]  # one per utterance (see the module docstring)
    attention: list[list[float]]  # one per utterance: the Q-Former's weight on each frame of its window
    windows: list[tuple[int, int]]  # each utterance's frames [begin, end) at frame_rate
    frame_rate: float
    method: str = "occlusion"  # how the evidence was measured: "occlusion" / "gradient" (nats), "prior" (shares)


def baseline_frame(model, audio: torch.Tensor) -> torch.Tensor:
    """(d,) the frame that stands for "no particular sound": the training mean frame where the Q-Formers
    standardise their inputs, else the clip's mean frame."""
    for kind in ("utterance", "global"):
        q = model.qformers[kind] if kind in model.qformers else None
        if q is not None and q.cfg.input_standardization:
            return q.input_mean.detach().float().cpu()
    return audio.float().mean(0)


@torch.no_grad()
def answer_logprobs(model, examples: list[Example], labels: list[str], *, batch_size: int = 8,
                    first_line: bool = False) -> torch.Tensor:
    """(N,) the summed log-likelihood of the answer that names ``labels`` after each example's prompt
    (``first_line``: of its tokens before the first line break only, the clip's line of a per-utterance answer)."""
    collator = Collator(model.config, model.tokenizer, train=True)
    out = []
    for i in range(0, len(examples), batch_size):
        chunk = [dataclasses.replace(ex, labels=list(labels)) for ex in examples[i:i + batch_size]]
        batch = collator(chunk).to(model.device)
        logits = model(batch).logits[:, :-1].float()
        target = batch.labels[:, 1:]
        keep = target != IGNORE_INDEX
        if first_line:
            keep = keep & _before_first_newline(model.tokenizer, target, keep)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0)[..., None])[..., 0]
        out.append((logp * keep).sum(1).cpu())
    return torch.cat(out)


def _before_first_newline(tokenizer, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(B, T) True on the kept positions that come before the first kept token containing a line break."""
    out = torch.zeros_like(keep)
    for row in range(target.shape[0]):
        for pos in keep[row].nonzero().flatten().tolist():
            if "\n" in tokenizer.decode([int(target[row, pos])]):
                break
            out[row, pos] = True
    return out


EVIDENCE_METHODS = ("occlusion", "gradient", "prior")


def explains_by_prior(model) -> bool:
    """Whether the model's clip label comes from its utterances' priors, which the "prior" evidence accounts for."""
    cfg = model.config
    return (cfg.acoustic_prior is not None and cfg.clip_prior_source == "utterances"
            and getattr(model, "acoustic_head", None) is not None)


def prior_evidence(model, example: Example, label: str) -> list[float]:
    """Each utterance's share of the clip prior's probability of ``label``, the clip's first label (see the module
    docstring); a clip of one utterance gives it all."""
    from ..model.prior import neutral_mask, utterance_shares

    if not explains_by_prior(model):
        raise ConfigError("the prior evidence explains a clip label named from the utterances' priors: the model "
                          "needs its stage-1 head, model.acoustic_prior and model.clip_prior_source=utterances")
    n = len(example.utterances or [])
    words = model.acoustic_head.labels
    word = label.strip().lower()
    if word not in words:
        raise ValueError(f"the first label {label!r} is not a word of the acoustic classifier")
    if n == 1:
        return [1.0]
    batch = Collator(model.config, model.tokenizer, train=False)([example]).to(model.device)
    own = model.acoustic_prior(batch).utterances[0]
    if own is None or own.shape[0] != n:
        raise ValueError(f"{example.id}: the prior evidence needs one window per utterance (its windows are merged)")
    return utterance_shares(own.cpu(), neutral_mask(words), model.config.clip_prior_emphasis,
                            words.index(word)).tolist()


def gradient_evidence(model, example: Example, labels: list[str], *, first_line: bool = False
                      ) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(log p(answer | clip), the gradient of that log-likelihood with respect to the frames (L, d), the baseline
    frame (d,)) from one forward and one backward pass: the first-order estimate of every occlusion at once,
    ``evidence_i ~ sum over utterance i's frames of gradient . (frame - baseline)``."""
    collator = Collator(model.config, model.tokenizer, train=True)
    batch = collator([dataclasses.replace(example, labels=list(labels))]).to(model.device)
    audio = batch.audio.detach().float().requires_grad_(True)
    batch.audio = audio
    with torch.enable_grad():
        logits = model(batch).logits[:, :-1].float()
        target = batch.labels[:, 1:]
        keep = target != IGNORE_INDEX
        if first_line:
            keep = keep & _before_first_newline(model.tokenizer, target, keep)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0)[..., None])[..., 0]
        total = (logp * keep).sum()
        (grad,) = torch.autograd.grad(total, audio)
    base = baseline_frame(model, example.audio).to(grad.device, grad.dtype)
    return float(total), grad[0, : example.audio.shape[0]].detach(), base


@torch.no_grad()
def explain(model, example: Example, labels: list[str],
            utterance_labels: list[list[str]] | None = None, *, method: str = "occlusion") -> Explanation:
    """Evidence and frame attention of every utterance of ``example`` for the answer naming ``labels`` (and,
    from a model that answers per utterance, each utterance's ``utterance_labels``: the answer is given in that
    question form and its clip line is scored).

    ``method``: "occlusion" scores the answer once per utterance with that utterance's frames neutralised (the
    definition; time grows with the square of the utterance count, as each copy reads the whole dialogue);
    "gradient" estimates all of them at once to first order from one forward and one backward pass (linear in
    the utterances; docs/performance.md compares the two). The gradient needs the LLM's float weights (not --int8).
    "prior": each utterance's share in the prior that named the clip's first label (:func:`prior_evidence`)."""
    if not labels:
        raise ValueError("explain needs the answer's labels (an empty answer has nothing to explain)")
    if method not in EVIDENCE_METHODS:
        raise ValueError(f"evidence method {method!r}: one of {', '.join(EVIDENCE_METHODS)}")
    model.eval()
    utterances = list(example.utterances or [])
    if utterance_labels is not None:
        if len(utterance_labels) != len(utterances):
            raise ValueError(f"{len(utterance_labels)} utterance label lists for {len(utterances)} utterances")
        utterances = [dataclasses.replace(u, labels=tuple(own)) for u, own in zip(utterances, utterance_labels)]
        example = dataclasses.replace(example, utterances=utterances)
    length = example.audio.shape[0]
    begin, end = utterance_windows([u.start for u in utterances], [u.end for u in utterances], example.frame_rate,
                                   length) if utterances else ([], [])
    first_line = utterance_labels is not None
    if method == "prior":
        evidence = prior_evidence(model, example, labels[0])
        logprob = float(answer_logprobs(model, [example], labels, first_line=first_line)[0])
    elif method == "gradient":
        logprob, grad, base = gradient_evidence(model, example, labels, first_line=first_line)
        change = grad * (example.audio.to(grad.device, grad.dtype) - base)  # (L, d)
        evidence = [float(change[b:e].sum()) for b, e in zip(begin, end)]
    else:
        base = baseline_frame(model, example.audio).to(example.audio.dtype)
        copies = []
        for b, e in zip(begin, end):
            audio = example.audio.clone()
            audio[b:e] = base
            copies.append(dataclasses.replace(example, audio=audio))
        scores = answer_logprobs(model, [example, *copies], labels, first_line=first_line)
        logprob, evidence = float(scores[0]), (scores[0] - scores[1:]).tolist()
    attention: list[list[float]] = [[] for _ in utterances]
    if utterances and "utterance" in model.qformers:
        q = model.qformers["utterance"]
        frames, mask = gather_windows(example.audio[None].float().to(model.device),
                                      torch.zeros(len(begin), dtype=torch.long, device=model.device),
                                      torch.tensor(begin, device=model.device), torch.tensor(end, device=model.device))
        weights = q.frame_attention(frames, mask).cpu()
        attention = [weights[i, : e - b].tolist() for i, (b, e) in enumerate(zip(begin, end))]
    return Explanation(logprob, evidence, attention, list(zip(begin, end)), example.frame_rate, method)


def plot_explanation(media: str | Path, utterances, emotions: list[str], explanation: Explanation,
                     out: str | Path) -> Path:
    """A PNG in the style of the paper's Figure 2: the waveform with its pitch contour and the utterance spans
    (text above each), a bar of evidence per utterance, and a heat strip of each utterance's frame attention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..io import atomic_open
    from ..media import SAMPLE_RATE, load_audio

    wav = load_audio(media)
    seconds = len(wav) / SAMPLE_RATE
    fig, (ax_wave, ax_ev, ax_att) = plt.subplots(3, 1, figsize=(10, 4.8), dpi=110, sharex=True,
                                                 gridspec_kw={"height_ratios": [3, 1.3, 0.6]})
    step = max(1, len(wav) // 4000)
    t = np.arange(0, len(wav), step) / SAMPLE_RATE
    ax_wave.plot(t, wav[::step] / max(1e-6, float(np.abs(wav).max())), color="0.6", linewidth=0.5)  # peak-scaled
    ax_wave.set_ylim(-1.05, 1.05)
    ax_wave.set_yticks([])
    f0_t, f0 = _pitch(wav)
    if f0_t.size:
        ax_pitch = ax_wave.twinx()
        ax_pitch.plot(f0_t, f0, color="tab:blue", linewidth=1.2)
        ax_pitch.set_ylabel("pitch (Hz)", color="tab:blue", fontsize=8)
        ax_pitch.tick_params(labelsize=7)
    colors = plt.cm.tab10.colors
    evidence = explanation.evidence
    for i, u in enumerate(utterances):
        ax_wave.axvspan(u.start, u.end, color=colors[i % 10], alpha=0.12)
        text = u.text if len(u.text) <= 32 else u.text[:30] + "..."
        ax_wave.text((u.start + u.end) / 2, 1.0, text, ha="center", va="bottom", fontsize=7, clip_on=False)
        if i < len(evidence):
            ax_ev.bar((u.start + u.end) / 2, evidence[i], width=(u.end - u.start) * 0.9, color=colors[i % 10])
    ax_ev.axhline(0.0, color="0.3", linewidth=0.6)
    ax_ev.set_ylabel("evidence\n(share)" if explanation.method == "prior" else "evidence\n(nats)", fontsize=8)
    ax_ev.tick_params(labelsize=7)
    strip = np.zeros((1, max(1, round(seconds * explanation.frame_rate))))
    for (b, _), weights in zip(explanation.windows, explanation.attention):
        if weights:
            w = np.asarray(weights)
            strip[0, b:b + len(w)] = w / w.max()
    ax_att.imshow(strip, aspect="auto", cmap="magma", extent=(0, strip.shape[1] / explanation.frame_rate, 0, 1))
    ax_att.set_yticks([])
    ax_att.set_ylabel("attention", fontsize=8)
    ax_att.set_xlabel("time (s)", fontsize=8)
    ax_att.set_xlim(0, seconds)
    ax_wave.set_title(f"{Path(media).name}: {', '.join(emotions) or '(no emotion named)'}", fontsize=9, pad=14)
    fig.tight_layout()
    out = Path(out)
    with atomic_open(out, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return out


def _pitch(wav):
    """(times, f0 in Hz with NaN where unvoiced), from Praat's autocorrelation pitch (parselmouth)."""
    import numpy as np

    try:
        import parselmouth
    except ImportError:  # the plot goes without its contour
        return np.zeros(0), np.zeros(0)
    from ..media import SAMPLE_RATE

    pitch = parselmouth.Sound(wav.astype(np.float64), sampling_frequency=SAMPLE_RATE).to_pitch(
        time_step=0.01, pitch_floor=60.0, pitch_ceiling=500.0)
    f0 = pitch.selected_array["frequency"]
    return pitch.xs(), np.where(f0 > 0, f0, np.nan)
