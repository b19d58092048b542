"""``acoustemo predict`` end to end on a real clip: decode, transcribe, Whisper features, generate."""

import json

import pytest
import torch

from acoustemo.cli import main
from acoustemo.errors import InputError
from acoustemo.inference.predictor import Predictor

from conftest import FIXTURES, tiny_checkpoint

CLIP = FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"  # "Kids are talking by the door"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_predict_transcribes_encodes_and_generates(checkpoint):
    predictor = Predictor(checkpoint, max_new_tokens=4)
    result = predictor(CLIP)
    assert len(result.utterances) == 1
    u = result.utterances[0]
    assert "kids are talking by the door" in u.text.lower().replace(".", "")
    assert 0.0 <= u.start < u.end <= 3.5
    # the answer is the model's own greedy answer to this clip's Whisper features and transcribed utterances
    from acoustemo.data.collate import Collator, Example
    from acoustemo.media import load_audio

    features = predictor.audio_encoder.encode(load_audio(CLIP))
    assert features.shape == (round(3.3 * 50), 384) or abs(features.shape[0] - len(load_audio(CLIP)) / 320) <= 1
    example = Example(CLIP.name, features, 50.0, list(result.utterances))
    batch = Collator(predictor.model.config, predictor.model.tokenizer, train=False)([example])
    (same,) = predictor.model.generate(batch, max_new_tokens=4)
    assert (result.text, result.emotions) == (same.text, same.emotions)
    assert result.to_json()["utterances"][0]["text"] == u.text


def test_a_transcriber_loaded_beside_the_model_transcribes_as_one_loaded_on_demand(checkpoint, tmp_path):
    eager = Predictor(checkpoint, max_new_tokens=3, preload_transcriber=True)
    lazy = Predictor(checkpoint, max_new_tokens=3)
    assert lazy._transcriber is None
    a, b = eager(CLIP), lazy(CLIP)
    assert (a.utterances, a.text) == (b.utterances, b.text)
    # a transcription model that cannot load says so when a file needs it, as it does when loaded on demand
    broken = Predictor(checkpoint, transcriber_model=str(tmp_path / "missing-whisper"), preload_transcriber=True)
    with pytest.raises(InputError, match="missing-whisper: cannot load the Whisper model"):
        broken(CLIP)


def test_predict_cli_prints_json(checkpoint, capsys):
    assert main(["predict", str(CLIP), "--checkpoint", str(checkpoint), "--json", "--max-new-tokens", "3"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["media"].endswith(".flac") and len(line["utterances"]) == 1 and "emotions" in line


def test_a_model_that_answers_per_utterance_gives_each_utterance_its_labels(tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "per-utterance", "model.utterance_answers=true")
    assert main(["predict", str(CLIP), "--checkpoint", str(checkpoint), "--json", "--max-new-tokens", "3"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (u,) = line["utterances"]
    assert isinstance(u["labels"], list) and all(isinstance(w, str) for w in u["labels"])
    result = Predictor(checkpoint, max_new_tokens=3)(CLIP)
    assert len(result.utterance_emotions) == 1
    assert f"[{', '.join(result.utterance_emotions[0]) or '?'}]" in result.format().splitlines()[1]


def test_features_of_another_encoder_setting_are_refused(tmp_path):
    folder = tiny_checkpoint(tmp_path / "other", audio_key="whisper-000000000000")
    with pytest.raises(InputError, match="trained on audio features 'whisper-000000000000'"):
        Predictor(folder)


def test_a_bad_file_among_several_is_reported_and_the_others_still_get_their_result(checkpoint, tmp_path, capsys):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    other = FIXTURES / "ravdess" / "audio" / "Actor_20" / "03-01-04-02-02-02-20.flac"
    assert main(["predict", str(CLIP), str(bad), str(other), "--checkpoint", str(checkpoint),
                 "--max-new-tokens", "2"]) == 2
    out, err = capsys.readouterr()
    assert out.count(".flac: ") == 2 and "corrupt.wav" not in out  # a result for each good file, in order
    assert out.index(CLIP.name) < out.index(other.name)
    assert "door" in out.lower()  # the timeline lines: the transcribed sentence
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "corrupt.wav" in errors[0]
    assert main(["predict", str(bad), str(CLIP), "--checkpoint", str(checkpoint), "--json",
                 "--max-new-tokens", "2"]) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["media"] == str(bad) and "error" in lines[0] and "emotions" in lines[1]


@pytest.mark.parametrize("command", [["predict", str(CLIP)], ["evaluate"], ["demo"], ["serve"]])
def test_quantized_loading_without_bitsandbytes_is_one_line_and_status_2(checkpoint, command, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    args = [*command, "--load-in-4bit", "--device", "cpu"] if command[0] != "demo" else [*command, "--load-in-4bit"]
    if command[0] in ("predict", "evaluate", "serve"):
        args += ["--checkpoint", str(checkpoint)]
    if command[0] == "evaluate":
        args += ["--manifest", str(FIXTURES / "ravdess" / "manifest.jsonl")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--load-in-4bit: needs the bitsandbytes package (pip install bitsandbytes) and a CUDA GPU")
    assert not any("Traceback" in line for line in err)


def test_quantization_settings_and_where_they_cannot_work(monkeypatch):
    import importlib.util

    from acoustemo.errors import ConfigError
    from acoustemo.model.llm import quantization_config

    assert quantization_config(None, llm="tiny", device="cpu", dtype=torch.float32) is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(ConfigError, match="runs on CUDA GPUs; the model is on cpu"):
        quantization_config("8bit", llm="meta-llama/Llama-2-7b-hf", device="cpu", dtype=torch.bfloat16)
    with pytest.raises(ConfigError, match="random weights"):
        quantization_config("4bit", llm="tiny", device="cuda", dtype=torch.bfloat16)
    q = quantization_config("4bit", llm="meta-llama/Llama-2-7b-hf", device="cuda:0", dtype=torch.bfloat16)
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config("8bit", llm="x", device="cuda", dtype=torch.float16).load_in_8bit
    from acoustemo.model.llm import check_quantization

    check_quantization("int8", "cpu")  # torch's dynamic int8: CPUs only
    with pytest.raises(ConfigError, match="--int8: torch's dynamic int8 kernels run on the CPU, not cuda"):
        check_quantization("int8", "cuda")


def test_predict_int8_answers_and_its_explanation_falls_back_to_occlusion(checkpoint, capsys):
    from acoustemo.errors import ConfigError
    from acoustemo.inference.predictor import Predictor

    assert main(["predict", str(CLIP), "--checkpoint", str(checkpoint), "--json", "--int8", "--explain",
                 "--figures", str(checkpoint.parent / "figures"), "--max-new-tokens", "2"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert "emotions" in out and all("evidence" in u for u in out["utterances"])
    predictor = Predictor(checkpoint, quantize="int8", max_new_tokens=2)
    assert predictor.evidence_method() == "occlusion"
    with pytest.raises(ConfigError, match="needs the LLM's float weights"):
        predictor.evidence_method("gradient")
    assert Predictor(checkpoint, max_new_tokens=2).evidence_method() == "gradient"


def speaker_checkpoint(tmp_path):
    return tiny_checkpoint(tmp_path / "speaker", "model.acoustic.input_standardization=true",
                            "model.speaker_normalization=speaker")


def test_a_speaker_relative_model_measures_each_file_against_the_baseline_given(tmp_path):
    from acoustemo.data.speakers import FrameStats, SpeakerBaseline
    from acoustemo.media import load_audio

    predictor = Predictor(speaker_checkpoint(tmp_path), max_new_tokens=2)
    frames = predictor.audio_encoder.encode(load_audio(CLIP))
    baseline = SpeakerBaseline.of_model(predictor.model, 50.0)
    assert predictor.speaker_relative(frames) is frames  # nothing known of the voice: the population's baseline
    per_file = Predictor(tiny_checkpoint(tmp_path / "rec", "model.acoustic.input_standardization=true",
                                          "model.speaker_normalization=recording"), max_new_tokens=2)
    torch.testing.assert_close(per_file.speaker_relative(frames), baseline.normalize(frames, FrameStats.of(frames)))
    other = FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-02-01-02-01-01.flac"  # the same actor
    predictor.set_speaker_baseline([other])
    voice = FrameStats.of(predictor.audio_encoder.encode(load_audio(other)))
    torch.testing.assert_close(predictor.speaker_relative(frames),
                               baseline.normalize(frames, voice.merge(FrameStats.of(frames))))
    assert predictor(CLIP).utterances  # and the whole path runs on the normalised frames


def test_bad_speaker_baselines_are_one_line_naming_the_file(tmp_path, checkpoint, capsys):
    import numpy as np
    import soundfile as sf

    folder = speaker_checkpoint(tmp_path)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF nothing")
    for bad, says in ((silent, "holds no speech"), (corrupt, "corrupt.wav")):
        assert main(["predict", str(CLIP), "--checkpoint", str(folder), "--speaker-baseline", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0] and str(bad.name) in err[0]
    assert main(["predict", str(CLIP), "--checkpoint", str(checkpoint), "--speaker-baseline", str(CLIP)]) == 2
    assert "trained without speaker baselines" in capsys.readouterr().err


def test_the_shipped_model_prints_its_answer_and_nothing_else(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    env["ACOUSTEMO_HOME"] = str(tmp_path / "home")  # as on a fresh machine: the bundled LLM is converted first
    run = subprocess.run([sys.executable, "-m", "acoustemo.cli", "predict", str(CLIP)], capture_output=True,
                         text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no third-party progress bar or banner
    assert run.stdout.startswith(f"{CLIP}: ") and "door" in run.stdout.lower()
    # a golden answer: the shipped weights' labels for this clip and its one utterance (a re-ship changes them,
    # and so does the utterance's window: the clip is acted neutral, and with the VAD's span, the default, the
    # answer is right; with --split words, Whisper's wider word times, it was "sad, unhappy, sorrowful")
    lines = run.stdout.splitlines()
    assert lines[0] == f"{CLIP}: calm, composed, peaceful" and lines[1].endswith("[calm, composed, peaceful]"), \
        run.stdout
