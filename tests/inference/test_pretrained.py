"""The model that ships inside the package: what it holds, and `predict` / `demo` with it."""

import json

import pytest
from safetensors.torch import load_file

from acoustemo.cli import main
from acoustemo.config import load_config
from acoustemo.model.prompts import parse_emotions
from acoustemo.inference.pretrained import pretrained_path

from conftest import FIXTURES

pytestmark = pytest.mark.slow
CLIP = FIXTURES / "ravdess" / "audio" / "Actor_20" / "03-01-04-02-02-02-20.flac"  # a held-out speaker


@pytest.fixture(scope="module")
def shipped():
    from acoustemo import load_pretrained

    return load_pretrained(device="cpu")


def test_the_shipped_weights_are_exactly_the_small_presets_trainable_tensors(shipped):
    folder = pretrained_path()
    cfg = load_config(folder / "config.yaml")
    assert cfg.model.llm == load_config("small").model.llm  # the small preset's LLM
    assert cfg.model.qformer_weights is None  # nothing outside the folder is needed
    tensors = load_file(str(folder / "trainable.safetensors"))
    assert set(tensors) == {n for n, p in shipped.named_parameters() if p.requires_grad}
    assert (folder / "trainable.safetensors").stat().st_size <= 25 * 1024 * 1024
    assert (folder / "MODEL_CARD.md").is_file()


def test_predict_without_a_checkpoint_uses_the_shipped_model(capsys):
    assert main(["predict", str(CLIP), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["emotions"] and result["emotions"] == parse_emotions(result["answer"])
    assert len(result["utterances"]) == 1 and "door" in result["utterances"][0]["text"].lower()


def test_demo_labels_the_given_media_with_the_shipped_model(capsys):
    assert main(["demo", "--media", str(CLIP)]) == 0
    out = capsys.readouterr().out
    first = out.strip().splitlines()[0]
    assert first.startswith(str(CLIP)) and parse_emotions(first.split(": ", 1)[1])
    assert "door" in out.lower()  # the timeline line with the transcribed sentence


def test_the_shipped_model_names_a_dialogue_from_its_utterances_and_explains_it_by_their_shares(tmp_path, capsys):
    from pathlib import Path

    cfg = load_config(pretrained_path() / "config.yaml")
    assert cfg.model.clip_prior_source == "utterances" and cfg.model.acoustic_prior is not None
    dialogue = Path(__file__).parents[2] / "examples" / "ravdess_actor20_dialogue.flac"
    assert main(["predict", str(dialogue), "--json", "--explain", "--figures", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["evidence_method"] == "prior"
    shares = [u["evidence"] for u in result["utterances"]]
    assert len(shares) >= 2 and min(shares) >= 0 and sum(shares) == pytest.approx(1.0, abs=1e-3)
