"""Greedy decoding with given stretches: the same as transformers' greedy search where nothing is given, and the
given lines read, not written, where they are."""

import pytest
import torch

from acoustemo.data.collate import Collator
from acoustemo.model import AcoustEmo
from acoustemo.model.decode import Read, Write, greedy_decode
from acoustemo.model.prompts import parse_answer

from conftest import make_example, tiny_config

THREE = ((0.2, 1.1, "one"), (1.3, 2.2, "two"), (2.4, 3.5, "three"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AcoustEmo.from_config(tiny_config(utterance_answers=True, use_visual=False)).eval()


def batch_of(model, example):
    return Collator(model.config, model.tokenizer, train=False)([example])


def test_one_write_is_transformers_greedy_search(model):
    batch = batch_of(model, make_example(utterances=THREE, labels=None))
    tok = model.tokenizer
    ref = model.llm.generate(inputs_embeds=model.embed(batch), attention_mask=batch.attention_mask, max_new_tokens=12,
                             min_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=None)
    ids, ended = greedy_decode(model.llm, model.embed(batch), [Write(12, line=False)], tokenizer=tok,
                               eos_token_id=-1)
    assert ids == ref[0].tolist() and not ended


def test_read_tokens_are_in_the_answer_and_condition_what_follows(model):
    batch = batch_of(model, make_example(utterances=THREE, labels=None))
    tok, embeds = model.tokenizer, model.embed(batch)
    given = tuple(tok("1: calm\n", add_special_tokens=False).input_ids)
    ids, _ = greedy_decode(model.llm, embeds, [Read(given), Write(6, line=False)], tokenizer=tok, eos_token_id=-1)
    # the same as a prompt that ends with the given tokens
    prompt = torch.cat([embeds, model.llm.get_input_embeddings()(torch.tensor([given]))], dim=1)
    ref, _ = greedy_decode(model.llm, prompt, [Write(6, line=False)], tokenizer=tok, eos_token_id=-1)
    assert ids[:len(given)] == list(given) and ids[len(given):] == ref


def test_a_write_stops_after_its_line_and_a_read_starts_on_its_own_line(model):
    tok = model.tokenizer
    newline = tok("\n", add_special_tokens=False).input_ids

    class Scripted:  # a logits processor that makes the model write "ab" then a line break, then "c"s
        def __init__(self):
            self.script = [*tok("ab", add_special_tokens=False).input_ids, *newline]

        def __call__(self, ids, scores):
            want = self.script[ids.shape[1]] if ids.shape[1] < len(self.script) else tok("c").input_ids[-1]
            out = torch.full_like(scores, float("-inf"))
            out[0, want] = 0.0
            return out

    embeds = model.embed(batch_of(model, make_example(utterances=THREE, labels=None)))
    x = tuple(tok("x", add_special_tokens=False).input_ids)
    ids, _ = greedy_decode(model.llm, embeds, [Write(10), Read(x, own_line=True), Write(2, line=False)],
                           tokenizer=tok, eos_token_id=-1, logits_processors=[Scripted()])
    assert tok.decode(ids) == "ab\nxcc"
    ids, _ = greedy_decode(model.llm, embeds, [Write(1), Read(x, own_line=True)], tokenizer=tok, eos_token_id=-1,
                           logits_processors=[Scripted()])
    assert tok.decode(ids) == "a\nx"  # the budget ran out before the line's end: the read starts a new line


def test_an_answer_per_utterance_has_one_line_per_utterance_in_order_and_reads_the_given_ones(model):
    example = make_example(utterances=THREE, labels=None)
    batch = batch_of(model, example)
    pred = model.answer_per_utterance(batch, max_new_tokens=4)
    lines = pred.text.split("\n")  # the clip's list (maybe empty: a random model), then the three lines
    assert [line.split(":")[0] for line in lines[-3:]] == ["1", "2", "3"] and len(lines) <= 4
    assert len(pred.utterance_emotions) == 3 and pred.emotions == parse_answer(pred.text, 3)[0]
    earlier = [["calm"], ["sad", "gloomy"]]
    pred = model.answer_per_utterance(batch, earlier, max_new_tokens=4)
    clip, own = parse_answer(pred.text, 3)
    assert own[:2] == earlier and pred.utterance_emotions == own and pred.emotions == clip
    assert "1: calm\n2: sad, gloomy\n3:" in pred.text
    with pytest.raises(ValueError, match="nothing left"):
        model.answer_per_utterance(batch, [["calm"]] * 3)


def test_int8_decode_quantises_the_llm_and_still_answers(model):
    import copy

    q = copy.deepcopy(model).int8_decode()
    kinds = {type(m).__module__ for m in q.llm.modules() if "Linear" in type(m).__name__}
    assert any("quantized" in k for k in kinds) and not any(k == "torch.nn.modules.linear" for k in kinds)
    batch = batch_of(q, make_example(utterances=THREE, labels=None))
    pred = q.answer_per_utterance(batch, [["calm"], ["sad"]], max_new_tokens=4)
    assert parse_answer(pred.text, 3)[1][:2] == [["calm"], ["sad"]]
    with pytest.raises(RuntimeError, match="cannot be saved"):
        q.save_trainable("unused.safetensors")


def test_an_end_of_answer_ends_the_answer_or_only_its_stretch(model):
    tok = model.tokenizer
    eos = tok.eos_token_id

    def eos_first(ids, scores):  # the model would end at once, then write "c"s
        out = torch.full_like(scores, float("-inf"))
        out[0, eos if ids.shape[1] == 0 else tok("c", add_special_tokens=False).input_ids[0]] = 0.0
        return out

    embeds = model.embed(batch_of(model, make_example(utterances=THREE, labels=None)))
    x = tuple(tok("x", add_special_tokens=False).input_ids)
    plan = [Write(3), Read(x, own_line=True), Write(2, line=False)]
    assert greedy_decode(model.llm, embeds, plan, tokenizer=tok, eos_token_id=eos,
                         logits_processors=[eos_first]) == ([], True)
    plan[0] = Write(3, ends_answer=False)
    ids, ended = greedy_decode(model.llm, embeds, plan, tokenizer=tok, eos_token_id=eos, logits_processors=[eos_first])
    assert tok.decode(ids) == "xcc" and not ended
