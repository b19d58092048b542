"""Evidence by occlusion and frame attention (acoustemo.inference.explain), and ``predict --explain``."""

import dataclasses
import json

import pytest
import torch

from acoustemo.cli import main
from acoustemo.inference.explain import answer_logprobs, baseline_frame, explain, plot_explanation

from conftest import FIXTURES, make_example

CLIP = FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"
LABELS = ["happy", "calm"]


@pytest.fixture
def example():
    return make_example("d", utterances=((0.2, 1.3, "hello there"), (1.6, 2.5, "fine"), (2.8, 3.7, "bye now")))


def test_evidence_is_the_drop_in_the_answers_likelihood_when_one_utterance_is_neutralised(tiny_model, example):
    e = explain(tiny_model, example, LABELS)
    assert len(e.evidence) == len(e.attention) == len(e.windows) == 3
    base = baseline_frame(tiny_model, example.audio)
    for i, (b, end) in enumerate(e.windows):
        audio = example.audio.clone()
        audio[b:end] = base
        (alone,) = answer_logprobs(tiny_model, [dataclasses.replace(example, audio=audio)], LABELS)
        assert e.evidence[i] == pytest.approx(e.answer_logprob - float(alone), abs=1e-4)
    (whole,) = answer_logprobs(tiny_model, [example], LABELS)
    assert e.answer_logprob == pytest.approx(float(whole), abs=1e-5) and e.answer_logprob < 0


def test_gradient_evidence_is_the_first_order_change_of_the_same_occlusion(tiny_model, example):
    e = explain(tiny_model, example, LABELS, method="gradient")
    occluded = explain(tiny_model, example, LABELS)
    assert e.answer_logprob == pytest.approx(occluded.answer_logprob, abs=1e-4)
    assert e.windows == occluded.windows and e.attention == occluded.attention
    base = baseline_frame(tiny_model, example.audio)
    step = 1e-2  # a small step of the occlusion: (log p(x) - log p(x moved a step toward the baseline)) / step
    for i, (b, end) in enumerate(e.windows):
        audio = example.audio.clone()
        audio[b:end] += step * (base - audio[b:end])
        (moved,) = answer_logprobs(tiny_model, [dataclasses.replace(example, audio=audio)], LABELS)
        assert e.evidence[i] == pytest.approx((e.answer_logprob - float(moved)) / step, rel=0.05, abs=2e-3)
    with pytest.raises(ValueError, match="evidence method"):
        explain(tiny_model, example, LABELS, method="shap")


def test_an_answer_per_utterance_is_scored_on_its_clip_line_in_its_own_question_form(example):
    from conftest import tiny_config
    from acoustemo.inference.explain import _before_first_newline
    from acoustemo.model import AcoustEmo

    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config(utterance_answers=True, prompt_style="compact")).eval()
    own = [["calm"], ["angry"], ["calm"]]
    e = explain(model, example, LABELS, own)
    labelled = dataclasses.replace(example, utterances=[dataclasses.replace(u, labels=tuple(o))
                                                        for u, o in zip(example.utterances, own)])
    (clip_line,) = answer_logprobs(model, [labelled], LABELS, first_line=True)
    (whole,) = answer_logprobs(model, [labelled], LABELS)  # the clip list and the three utterance lines
    assert e.answer_logprob == pytest.approx(float(clip_line), abs=1e-5) and float(whole) < float(clip_line)
    # the clip line: the answer's tokens up to its first line break (the byte-level tokenizer: one per byte)
    ids = torch.tensor([model.tokenizer.encode(" sad, low\n1: calm", add_special_tokens=False)])
    kept = _before_first_newline(model.tokenizer, ids, torch.ones_like(ids, dtype=torch.bool))
    assert kept.sum() == len(" sad, low") and kept[0, : len(" sad, low")].all()
    with pytest.raises(ValueError, match="2 utterance label lists for 3 utterances"):
        explain(model, example, LABELS, own[:2])


def test_an_utterance_that_already_sounds_neutral_has_no_evidence(example):
    from acoustemo.model import AcoustEmo

    from conftest import tiny_config

    cfg = tiny_config()
    torch.manual_seed(0)  # the baseline is the training mean frame that input standardisation holds
    tiny_model = AcoustEmo.from_config(dataclasses.replace(
        cfg, acoustic=dataclasses.replace(cfg.acoustic, input_standardization=True))).eval()
    with torch.no_grad():
        tiny_model.qformers["utterance"].input_mean.normal_()
    e = explain(tiny_model, example, LABELS)
    b, end = e.windows[1]
    silent = example.audio.clone()
    silent[b:end] = baseline_frame(tiny_model, example.audio)
    quiet = explain(tiny_model, dataclasses.replace(example, audio=silent), LABELS)
    assert quiet.evidence[1] == pytest.approx(0.0, abs=1e-5)  # neutralising it changes nothing
    assert abs(quiet.evidence[0]) > 1e-4 and abs(quiet.evidence[2]) > 1e-4


def test_frame_attention_covers_each_utterances_frames(tiny_model, example):
    e = explain(tiny_model, example, LABELS)
    for (b, end), weights in zip(e.windows, e.attention):
        assert len(weights) == end - b and sum(weights) == pytest.approx(1.0, abs=1e-4)
        assert min(weights) >= 0.0
    q = tiny_model.qformers["utterance"]
    impl = q.qformer.config._attn_implementation
    b, end = e.windows[2]
    alone = q.frame_attention(example.audio[None, b:end].float())  # one window alone, no padding
    torch.testing.assert_close(alone[0], torch.tensor(e.attention[2]), rtol=1e-4, atol=1e-5)
    assert q.qformer.config._attn_implementation == impl  # the fast attention is back for everything else


def test_explain_refuses_an_empty_answer(tiny_model, example):
    with pytest.raises(ValueError, match="empty answer"):
        explain(tiny_model, example, [])


def test_the_figure_is_written(tiny_model, tmp_path):
    from acoustemo.data.manifest import Utterance

    utterances = [Utterance(0.5, 1.5, "kids are talking"), Utterance(1.8, 3.0, "by the door")]
    ex = make_example("c", seconds=3.3, utterances=[(u.start, u.end, u.text) for u in utterances])
    e = explain(tiny_model, ex, LABELS)
    out = plot_explanation(CLIP, utterances, LABELS, e, tmp_path / "fig" / "clip.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_predict_explain_gives_evidence_and_attention_per_utterance(tmp_path, capsys):
    from conftest import tiny_checkpoint

    checkpoint = tiny_checkpoint(tmp_path / "ckpt")
    figures = tmp_path / "figs"
    assert main(["predict", str(CLIP), "--checkpoint", str(checkpoint), "--json", "--explain", "--figures",
                 str(figures), "--max-new-tokens", "4"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["emotions"]  # the seeded tiny model names something, so there is an answer to explain
    (u,) = result["utterances"]
    assert isinstance(u["evidence"], float) and result["attention_rate"] == 50.0
    assert abs(len(u["attention"]) - (u["end"] - u["start"]) * 50.0) <= 2  # one weight per frame of the utterance
    assert result["figure"] == str(figures / f"{CLIP.name}.png") and (figures / f"{CLIP.name}.png").is_file()


def test_prior_evidence_is_each_utterances_share_in_the_prior_that_named_the_clip(example):
    from conftest import tiny_config
    from acoustemo.data.collate import Collator
    from acoustemo.errors import ConfigError
    from acoustemo.model import AcoustEmo
    from acoustemo.model.classifier import AcousticClassifier
    from acoustemo.model.prior import pooling_weights

    torch.manual_seed(0)
    base = tiny_config()
    words = ["sad", "happy", "calm"]
    cfg = tiny_config(use_visual=False, acoustic_prior=1000.0, acoustic_prior_source="probe",
                      clip_prior_source="utterances", clip_prior_emphasis=10.0,
                      acoustic=dataclasses.replace(base.acoustic, stats_token=True))
    model = AcoustEmo.from_config(cfg).eval()
    head = {k: v for k, v in AcousticClassifier(cfg, words).state_dict().items() if not k.startswith("qformers.")}
    with pytest.raises(ConfigError, match="clip_prior_source=utterances"):
        explain(model, example, ["sad"], method="prior")  # no head yet
    model.attach_acoustic_head(words, head, probe_labels=words)
    e = explain(model, example, ["Sad", "gloomy"], method="prior")
    own = model.acoustic_prior(Collator(cfg, model.tokenizer, train=False)([example])).utterances[0]
    parts = pooling_weights(own, torch.tensor([False, False, True]), 10.0) * own[:, 0]
    assert e.evidence == pytest.approx((parts / parts.sum()).tolist(), abs=1e-6)
    assert sum(e.evidence) == pytest.approx(1.0) and len(e.attention) == 3
    (whole,) = answer_logprobs(model, [example], ["Sad", "gloomy"])
    assert e.answer_logprob == pytest.approx(float(whole), abs=1e-5)
    one = make_example("o", utterances=((0.2, 1.3, "hello there"),))
    assert explain(model, one, ["happy"], method="prior").evidence == [1.0]
    with pytest.raises(ValueError, match="not a word of the acoustic classifier"):
        explain(model, example, ["furious"], method="prior")
