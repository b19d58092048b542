"""Greedy decoding of an answer in which some stretches are given instead of written.

The stream answers each utterance as it ends, with the utterances before it as context. Asked per utterance, the
model writes the clip's list, then one line per utterance; the lines of the earlier utterances were written when
each of them was the newest, so writing them again is wasted time (most of an answer's cost on a CPU: one forward
pass per token). :func:`greedy_decode` follows a plan of :class:`Write` and :class:`Read` steps over one KV cache:
the model writes the clip's list, reads the earlier lines in one forward pass, and writes the newest line.

transformers' ``generate`` cannot take given tokens in the middle of an answer; this is its greedy search (the
same forward pass, logits processors and argmax) with that one addition. With a plan of one :class:`Write` it
gives what ``generate(do_sample=False)`` gives (tests/test_decode.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Write:
    """The model writes up to ``budget`` tokens; it stops after an end-of-sequence token and, with ``line``, after
    a token that holds a line break (kept in the answer). An end-of-sequence token ends the whole answer, or with
    ``ends_answer=False`` only this stretch (the token is dropped; the plan goes on)."""

    budget: int
    line: bool = True
    ends_answer: bool = True


@dataclass(frozen=True)
class Read:
    """The model reads these token ids as the next stretch of its answer; with ``own_line``, on a line of their own
    (a line break is read first where the answer so far does not end with one)."""

    ids: tuple[int, ...]
    own_line: bool = False


@torch.no_grad()
def greedy_decode(llm, inputs_embeds: torch.Tensor, plan: list[Write | Read], *, tokenizer, eos_token_id: int,
                  logits_processors=()) -> tuple[list[int], bool]:
    """(the answer's token ids, read ones included; whether the model ended it) for one prompt ``inputs_embeds``
    (1, T, D), following ``plan``. An end-of-sequence token ends the answer (the rest of the plan is dropped; the
    token itself is not returned) unless its :class:`Write` says otherwise. ``logits_processors`` are called as ``generate`` calls them: with the answer's
    ids so far (1, n) and the next token's scores (1, V)."""
    if inputs_embeds.shape[0] != 1:
        raise ValueError(f"greedy_decode takes one prompt, got a batch of {inputs_embeds.shape[0]}")
    out = llm(inputs_embeds=inputs_embeds, use_cache=True, logits_to_keep=1)
    cache, logits = out.cache, out.logits[:, -1].float()
    answer: list[int] = []
    unread: list[int] = []  # tokens of the answer the model has not read yet: read together when it next writes

    for item in plan:
        if isinstance(item, Read):
            ids = list(item.ids)
            if item.own_line and answer and not tokenizer.decode(answer[-1:]).endswith("\n"):
                ids = tokenizer("\n", add_special_tokens=False).input_ids + ids
            answer += ids
            unread += ids
            continue
        for _ in range(item.budget):
            if unread:
                o = llm(input_ids=torch.tensor([unread], device=inputs_embeds.device), cache=cache, use_cache=True,
                        logits_to_keep=1)
                cache, logits, unread = o.cache, o.logits[:, -1].float(), []
            scores = logits
            for processor in logits_processors:
                scores = processor(torch.tensor([answer], dtype=torch.long, device=scores.device), scores)
            token = int(scores.argmax(-1))
            if token == eos_token_id:
                if item.ends_answer:
                    return answer, True
                break
            answer.append(token)
            unread.append(token)
            if item.line and "\n" in tokenizer.decode([token]):
                break
    return answer, False
