"""Decoding with the acoustic prior: the first label of each list follows the classifier as far as its weight says."""

import dataclasses

import pytest
import torch

from acoustemo.data.collate import Collator
from acoustemo.model import AcoustEmo
from acoustemo.model.classifier import AcousticClassifier
from acoustemo.model.llm import tiny_tokenizer
from acoustemo.model.prior import AcousticPrior, LabelTrie

from conftest import make_example, tiny_config

LABELS = ["sad", "sadness", "happy", "calm"]


def greedy(processor, tok, prompt_scores, prefix: str = "", steps: int = 12) -> str:
    """Greedy decoding of ``steps`` tokens after ``prefix`` where the 'LLM' gives every step ``prompt_scores``."""
    ids = tok(prefix, add_special_tokens=False).input_ids if prefix else []
    for _ in range(steps):
        scores = processor(torch.tensor([ids], dtype=torch.long), prompt_scores.clone()[None])
        ids.append(int(scores[0].argmax()))
    return tok.decode(ids)


def llm_scores(tok, text: str, strength: float = 5.0) -> torch.Tensor:
    """Scores favouring the bytes of ``text`` (a stand-in LLM that 'wants' to write it)."""
    scores = torch.zeros(len(tok))
    for i in tok(text, add_special_tokens=False).input_ids:
        scores[i] += strength
    return scores


def test_the_trie_follows_the_label_token_sequences():
    tok = tiny_tokenizer()
    trie = LabelTrie(tok, LABELS)
    node = trie.walk(tok(" sad", add_special_tokens=False).input_ids)
    assert trie.complete[node] == 0 and sorted(trie.members[node]) == [0, 1]  # "sad" ends here, "sadness" goes on
    assert trie.walk(tok(" sax", add_special_tokens=False).input_ids) is None
    assert sorted(trie.members[0]) == [0, 1, 2, 3]


def test_a_strong_prior_writes_the_classifiers_label_and_then_lets_the_llm_go_on():
    tok = tiny_tokenizer()
    trie = LabelTrie(tok, LABELS)
    clip = torch.tensor([[0.05, 0.05, 0.1, 0.8]])  # the classifier says calm
    wants = llm_scores(tok, " happy")  # the LLM alone would write "happy"
    assert greedy(AcousticPrior(tok, trie, clip, [None], weight=50.0), tok, wants, steps=5) == " calm"
    # the best label wins, not the branch with the most labels under it; a label through a shorter one too
    split = torch.tensor([[0.3, 0.25, 0.35, 0.1]])  # "s..." holds more mass, "happy" is the best label
    assert greedy(AcousticPrior(tok, trie, split, [None], weight=50.0), tok, wants, steps=6) == " happy"
    longer = torch.tensor([[0.2, 0.6, 0.1, 0.1]])
    assert greedy(AcousticPrior(tok, trie, longer, [None], weight=50.0), tok, wants, steps=8) == " sadness"
    # weight 0: only constrained to a label word, the LLM chooses which
    assert greedy(AcousticPrior(tok, trie, clip, [None], weight=0.0), tok, wants, steps=6) == " happy"
    # after the label the scores are the LLM's own again (free text, here more of its favourite bytes)
    text = greedy(AcousticPrior(tok, trie, clip, [None], weight=50.0), tok, wants, steps=8)
    assert text.startswith(" calm") and text[5:] and set(text[5:]) <= set(" happy")


def test_each_utterance_line_takes_its_own_prior_and_an_unknown_one_is_left_alone():
    tok = tiny_tokenizer()
    trie = LabelTrie(tok, LABELS)
    clip = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    own = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # utterance 1 sad, utterance 2 calm
    wants = llm_scores(tok, " happy")
    prior = AcousticPrior(tok, trie, clip, [own], weight=50.0)
    assert greedy(prior, tok, wants, prefix=" happy\n2:", steps=5) == " happy\n2: calm"
    # a line number beyond the sample's utterances, or a sample whose windows are not its utterances: no prior
    def llm_alone(ids, scores):
        return scores

    for own_priors, line in (([own], 3), ([None], 1)):
        prefix = f" happy\n{line}:"
        assert (greedy(AcousticPrior(tok, trie, clip, own_priors, weight=50.0), tok, wants, prefix=prefix, steps=6)
                == greedy(llm_alone, tok, wants, prefix=prefix, steps=6))
    with pytest.raises(ValueError, match=">= 0"):
        AcousticPrior(tok, trie, clip, [None], weight=-1.0)


def model_with_head(prior: float | None):
    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config(use_visual=False, acoustic_prior=prior)).eval()
    head = AcousticClassifier(model.config, LABELS)
    model.attach_acoustic_head(LABELS, {k: v for k, v in head.state_dict().items() if not k.startswith("qformers.")})
    return model


def test_the_head_reads_the_models_own_qformers_and_is_no_parameter_of_it():
    """Stage 1's classifier and AcoustEmo see the same tokens for the same samples."""
    model = model_with_head(None)
    assert not any(k.startswith("acoustic_head") for k in model.state_dict())
    assert model.acoustic_head.qformers is model.qformers
    # the collator's batch and stage 1's batch give the classifier the same windows, hence the same logits
    from acoustemo.training.acoustic import collate_acoustic

    examples = [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1)]
    llm_batch = Collator(model.config, model.tokenizer, train=False)(examples)
    stage_one = collate_acoustic(examples, model.config)
    for a, b in zip(model.acoustic_head.logits(llm_batch), model.acoustic_head.logits(stage_one)):
        torch.testing.assert_close(a, b)
    # stage 1's tokens are AcoustEmo's: its slots (global first, then every window) hold the model's Q-Former
    # tokens of the same batch (plus the classifier's kind embedding)
    tokens, _ = model.acoustic_head.slot_tokens(stage_one)
    own = torch.cat([model.qformers[k](*model.qformer_inputs(k, llm_batch)) + model.acoustic_head.kind_embedding[i]
                     for i, k in enumerate(("global", "utterance"))])
    torch.testing.assert_close(tokens, own)


def test_generate_with_a_strong_prior_starts_with_the_classifiers_top_label():
    examples = [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1)]
    free = model_with_head(None)
    model = model_with_head(1e4)
    batch = Collator(model.config, model.tokenizer, train=False)(examples)
    clip, _ = model.acoustic_head.logits(batch)
    top = [LABELS[int(i)] for i in clip.argmax(1)]
    preds = model.generate(batch, max_new_tokens=8, min_new_tokens=8)
    assert [p.text.startswith(label) for p, label in zip(preds, top)] == [True, True]
    assert [p.text for p in free.generate(batch, max_new_tokens=8, min_new_tokens=8)] != [p.text for p in preds]
    bare = AcoustEmo.from_config(dataclasses.replace(model.config)).eval()
    from acoustemo.errors import ConfigError

    with pytest.raises(ConfigError, match="head.safetensors"):
        bare.generate(batch, max_new_tokens=4)


def test_the_probe_source_gives_each_utterance_the_probes_scores_and_a_one_utterance_clip_too():
    from acoustemo.errors import ConfigError

    torch.manual_seed(0)
    base = tiny_config()
    cfg = tiny_config(use_visual=False, acoustic_prior=1.0, acoustic_prior_source="probe",
                      acoustic=dataclasses.replace(base.acoustic, stats_token=True))
    model = AcoustEmo.from_config(cfg).eval()
    head = {k: v for k, v in AcousticClassifier(cfg, LABELS).state_dict().items() if not k.startswith("qformers.")}
    examples = [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1)]
    batch = Collator(model.config, model.tokenizer, train=False)(examples)
    model.attach_acoustic_head(LABELS, head)
    with pytest.raises(ConfigError, match="probe-labels.json"):
        model.acoustic_prior(batch)
    with pytest.raises(ValueError, match="not a head label"):
        model.attach_acoustic_head(LABELS, head, probe_labels=["sad", "bored"])
    model.attach_acoustic_head(LABELS, head, probe_labels=["happy", "sad"])
    prior = model.acoustic_prior(batch)
    rows = model.qformers["utterance"].probe_scores(*model.qformer_inputs("utterance", batch))[:, :2]
    expected = torch.zeros(rows.shape[0], len(LABELS))
    expected[:, [LABELS.index("happy"), LABELS.index("sad")]] = rows.softmax(-1)
    torch.testing.assert_close(prior.utterances[0], expected[:2])  # sample a: its two utterances
    torch.testing.assert_close(prior.utterances[1], expected[2:])
    torch.testing.assert_close(prior.clip[1], expected[2])  # b has one utterance: its clip is that utterance
    clip, _ = model.acoustic_head.logits(batch)
    torch.testing.assert_close(prior.clip[0], clip.softmax(-1)[0])  # a has two: the head's pooling decides


def test_a_clip_named_from_its_utterances_takes_the_emotional_one_as_far_as_the_emphasis_says():
    from acoustemo.model.prior import clip_from_utterances, neutral_mask

    neutral = neutral_mask(LABELS)
    assert neutral.tolist() == [False, False, False, True]  # only "calm" names no emotion
    calm = torch.tensor([0.1, 0.0, 0.0, 0.9])
    sad = torch.tensor([0.6, 0.0, 0.0, 0.4])
    utterances = torch.stack([calm, calm, sad])
    torch.testing.assert_close(clip_from_utterances(utterances, neutral, 0.0), utterances.mean(0))
    assert clip_from_utterances(utterances, neutral, 0.0).argmax() == LABELS.index("calm")  # outvoted
    strong = clip_from_utterances(utterances, neutral, 50.0)
    torch.testing.assert_close(strong, sad, atol=1e-6, rtol=0)  # the emotional line alone
    # the weights: exp(emphasis * emotional mass), normalised
    w = torch.softmax(torch.tensor([0.1, 0.1, 0.6]) * 5.0, 0)
    torch.testing.assert_close(clip_from_utterances(utterances, neutral, 5.0), w @ utterances)
    with pytest.raises(ValueError, match=r"must be \(n >= 1, 4\)"):
        clip_from_utterances(utterances[:0], neutral, 5.0)


def test_the_utterances_clip_prior_pools_the_probes_utterances_and_leaves_one_utterance_clips_alone():
    from acoustemo.model.prior import clip_from_utterances, neutral_mask

    torch.manual_seed(0)
    base = tiny_config()
    cfg = tiny_config(use_visual=False, acoustic_prior=1.0, acoustic_prior_source="probe",
                      clip_prior_source="utterances", clip_prior_emphasis=4.0,
                      acoustic=dataclasses.replace(base.acoustic, stats_token=True))
    model = AcoustEmo.from_config(cfg).eval()
    head = {k: v for k, v in AcousticClassifier(cfg, LABELS).state_dict().items() if not k.startswith("qformers.")}
    examples = [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1)]
    batch = Collator(model.config, model.tokenizer, train=False)(examples)
    model.attach_acoustic_head(LABELS, head, probe_labels=["happy", "sad", "calm"])
    prior = model.acoustic_prior(batch)
    torch.testing.assert_close(prior.clip[0], clip_from_utterances(prior.utterances[0], neutral_mask(LABELS), 4.0))
    torch.testing.assert_close(prior.clip[1], prior.utterances[1][0])


def test_clip_prior_overrides_and_the_emphasis_is_checked():
    from acoustemo.config import clip_prior_overrides
    from acoustemo.errors import ConfigError

    assert clip_prior_overrides(None) == []
    assert clip_prior_overrides("head") == ["model.clip_prior_source=head"]
    assert clip_prior_overrides("utterances:5") == ["model.clip_prior_source=utterances",
                                                    "model.clip_prior_emphasis=5"]
    for bad in ("pooled", "head:5"):
        with pytest.raises(ConfigError, match="expected head or utterances"):
            clip_prior_overrides(bad)
    with pytest.raises(ConfigError, match="clip_prior_emphasis=-1.0 must be a finite number >= 0"):
        tiny_config(clip_prior_emphasis=-1.0)
