"""Decoding with an acoustic prior: the first label of each list the model writes, weighed by what the acoustic
classifier of stage 1 says.

The LLM writes the clip's emotions and, asked per utterance, one line per utterance (``"2: anxious, nervous"``).
With a prior of weight ``w`` the first label of each of these lists is chosen among the classifier's label words
(:class:`~acoustemo.model.classifier.AcousticClassifier`, reading the model's own Q-Formers) by

    log p_LLM(label | prompt, answer so far) + w * log p_acoustic(label | the clip's, or that utterance's, audio)

token by token along a trie of the labels' token sequences: at each token the LLM's score of every token that
continues some label is added ``w`` times the log of the prior of the best label under it, relative to the best
label under the current node, and no other token is allowed; once a whole label is written (and no longer label
through it has a higher prior) the LLM goes on freely (more labels, the next line). ``w = 0`` only constrains the
first label to a known label word; a large ``w`` makes it the classifier's top label. The labels after the first
and everything else stay the LLM's own, open vocabulary.

The clip's prior is the classifier's pooled answer for the clip (``model.clip_prior_source: head``) or, for a clip
of several utterances, read from the utterances' own priors (``utterances``, :func:`clip_from_utterances`): the
clip takes the emotion of the utterance that carries one, as a listener names a dialogue by its emotional line.
"""

from __future__ import annotations

import re

import torch

from ..metrics.categories import NEUTRAL_WORDS

_LINE_START = re.compile(r"(?:^|\n)\s*(\d{1,3})\s*:\s*$")  # "...\n2:" (an utterance's list begins here)


def neutral_mask(labels: list[str]) -> torch.Tensor:
    """(V,) bool: which of the label words name no emotion (:data:`~acoustemo.metrics.categories.NEUTRAL_WORDS`)."""
    return torch.tensor([w.strip().lower() in NEUTRAL_WORDS for w in labels], dtype=torch.bool)


def pooling_weights(utterances: torch.Tensor, neutral: torch.Tensor, emphasis: float) -> torch.Tensor:
    """(n,) the weight of each utterance in :func:`clip_from_utterances`: ``softmax(emphasis * e)`` over the
    utterances, ``e`` the probability each gives the labels that are not ``neutral`` ((V,) bool)."""
    if utterances.ndim != 2 or utterances.shape[0] == 0 or utterances.shape[1] != neutral.shape[0]:
        raise ValueError(f"utterances {tuple(utterances.shape)} must be (n >= 1, {neutral.shape[0]})")
    emotional = utterances[:, ~neutral.to(utterances.device)].sum(-1)  # (n,)
    return torch.softmax(float(emphasis) * emotional, 0)


def clip_from_utterances(utterances: torch.Tensor, neutral: torch.Tensor, emphasis: float) -> torch.Tensor:
    """A clip's label distribution (V,) from its utterances' (n, V): their weighted mean, each utterance weighed
    by ``exp(emphasis * e)`` where ``e`` is its emotional mass, the probability it gives the labels that are not
    ``neutral`` ((V,) bool). ``emphasis = 0`` is the plain mean, in which calm utterances outvote one emotional
    line; the larger it is, the more the most emotional utterance alone names the clip."""
    return pooling_weights(utterances, neutral, emphasis) @ utterances


def utterance_shares(utterances: torch.Tensor, neutral: torch.Tensor, emphasis: float, label: int) -> torch.Tensor:
    """(n,) each utterance's share of the clip's probability of ``label`` (an index) under
    :func:`clip_from_utterances`: its weight times its own probability of that label, over their sum. The shares
    add up to 1 (all equal where no utterance gives the label any probability)."""
    parts = pooling_weights(utterances, neutral, emphasis) * utterances[:, label]
    total = parts.sum()
    return parts / total if total > 0 else torch.full_like(parts, 1.0 / len(parts))


class LabelTrie:
    """The token sequences of the labels (each written as the answer writes it, after a space)."""

    def __init__(self, tokenizer, labels: list[str]):
        self.children: list[dict[int, int]] = [{}]  # node -> {token: child node}
        self.members: list[list[int]] = [[]]  # node -> the labels (indices) whose sequence passes through it
        self.complete: list[int | None] = [None]  # node -> the label that ends here
        for i, label in enumerate(labels):
            ids = tokenizer(" " + label.strip(), add_special_tokens=False).input_ids
            node = 0
            self.members[0].append(i)
            for t in ids:
                if t not in self.children[node]:
                    self.children[node][t] = len(self.children)
                    self.children.append({})
                    self.members.append([])
                    self.complete.append(None)
                node = self.children[node][t]
                self.members[node].append(i)
            if self.complete[node] is None:  # a label written twice keeps its first index
                self.complete[node] = i

    def walk(self, tokens: list[int]) -> int | None:
        """The node the tokens lead to from the root, None when they leave every label."""
        node = 0
        for t in tokens:
            node = self.children[node].get(t)
            if node is None:
                return None
        return node


class AcousticPrior:
    """A ``transformers`` logits processor for one batch of :meth:`AcoustEmo.generate
    <acoustemo.model.AcoustEmo.generate>`: ``clip`` (B, V) and ``utterances`` (one (n_b, V) tensor, or None where
    the sample's windows are not its utterances, per sample) are the classifier's label probabilities."""

    def __init__(self, tokenizer, trie: LabelTrie, clip: torch.Tensor, utterances: list[torch.Tensor | None],
                 weight: float):
        if weight < 0:
            raise ValueError(f"acoustic prior weight {weight} must be >= 0")
        self.tokenizer, self.trie, self.weight = tokenizer, trie, float(weight)
        self.clip, self.utterances = clip.float(), utterances
        b = clip.shape[0]
        self.active: list[tuple[int, torch.Tensor] | None] = [None] * b  # (start position, prior) of a label begun
        self.done: list[set] = [set() for _ in range(b)]  # the lists whose first label was chosen

    def _list_starting(self, row: int, generated: list[int]):
        """The prior of the list whose first label comes next in ``row`` (None: no list starts here)."""
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        if not text.strip():
            key, prior = "clip", self.clip[row]
        else:
            m = _LINE_START.search(text)
            if m is None:
                return None
            k, own = int(m.group(1)), self.utterances[row]
            if own is None or not 1 <= k <= own.shape[0]:
                return None
            key, prior = k, own[k - 1]
        if key in self.done[row]:
            return None
        self.done[row].add(key)
        return prior

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cur = input_ids.shape[1]
        for row in range(scores.shape[0]):
            generated = input_ids[row].tolist()
            if self.active[row] is None:
                prior = self._list_starting(row, generated)
                if prior is not None:
                    self.active[row] = (cur, prior.to(scores.device))
            if self.active[row] is None:
                continue
            start, prior = self.active[row]
            trie = self.trie
            node = trie.walk(generated[start:])
            if node is None or not trie.children[node] or (
                    trie.complete[node] is not None
                    and prior[trie.complete[node]] >= prior[trie.members[node]].max()):
                self.active[row] = None  # a whole label is written (or the LLM left the labels): free again
                continue
            children = trie.children[node]
            tokens = torch.tensor(list(children), device=scores.device)
            best = torch.stack([prior[trie.members[c]].max() for c in children.values()])
            share = (best / best.max().clamp_min(1e-30)).clamp_min(1e-30).log()
            allowed = torch.log_softmax(scores[row].float(), -1)[tokens] + self.weight * share
            scores[row] = torch.full_like(scores[row], float("-inf"))
            scores[row, tokens] = allowed.to(scores.dtype)
        return scores
