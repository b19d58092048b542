"""``acoustemo snr``: noisy copies of a manifest's media, features through each model's encoder, a table and a
plot; on two real RAVDESS clips with a tiny LLM and a tiny stage-1 head."""

import csv
import json
import math

import numpy as np
import pytest

from acoustemo.cli import main
from acoustemo.config import load_config
from acoustemo.data.manifest import Sample, Utterance, read_manifest, write_manifest
from acoustemo.media import load_audio
from acoustemo.experiments.noise import Gain, parse_gains, parse_levels
from acoustemo.training.acoustic import AcousticClassifier, save_acoustic

from conftest import FIXTURES
from conftest import tiny_checkpoint

CLIPS = [FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac",
         FIXTURES / "ravdess" / "audio" / "Actor_02" / "03-01-04-02-02-02-02.flac"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("snr")
    samples = [Sample("neutral clip", str(CLIPS[0]), [Utterance(0.5, 2.8, "Kids are talking by the door")],
                      ["neutral", "calm"]),
               Sample("sad clip", str(CLIPS[1]), [Utterance(0.6, 3.0, "Dogs are sitting by the door")], ["sad"])]
    write_manifest(root / "test.jsonl", samples)
    llm = tiny_checkpoint(root / "llm")
    cfg = load_config("tiny", ["model.audio_dim=384", "model.use_visual=false", "train.audio_key=whisper"])
    head = root / "head"
    save_acoustic(AcousticClassifier(cfg.model, ["sad", "neutral", "happy"]), head, cfg, [])
    return root, llm, head


def test_sweep_writes_noisy_media_the_table_and_the_plot(setup, capsys):
    root, llm, head = setup
    out = root / "out"
    args = ["snr", "--manifest", str(root / "test.jsonl"), "--out", str(out), "--model", f"tiny llm={llm}",
            "--model", f"head={head}", "--model", f"head={head}", "--snr", "clean,10,0", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Scores against background noise" in printed and "0 dB" in printed
    # the noise is at the asked SNR: noisy minus clean, measured inside the utterance
    for level in (10, 0):
        noisy = read_manifest(out / "media" / f"snr-{level}" / "manifest.jsonl")
        assert [s.id for s in noisy] == ["neutral clip", "sad clip"] and noisy[1].labels == ["sad"]
        clean, dirty = load_audio(CLIPS[0]), load_audio(noisy[0].media_path)
        a, b = int(0.5 * 16000), int(2.8 * 16000)
        measured = 10 * np.log10(np.mean(clean[a:b] ** 2) / np.mean((dirty - clean)[a:b] ** 2))
        assert measured == pytest.approx(level, abs=0.6)
    table = json.loads((out / "table.json").read_text())
    assert table["levels"] == ["clean", "10 dB", "0 dB"]
    assert [r["name"] for r in table["rows"]] == ["tiny llm", "head"]
    assert [len(r["models"]) for r in table["rows"]] == [1, 2]
    done = json.loads((out / "scores.json").read_text())
    assert {(d["kind"], d["snr"]) for d in done.values()} == {(k, s) for k in ("llm", "head") for s in (None, 10, 0)}
    for r in table["rows"]:
        for cell in r["levels"].values():
            assert 0.0 <= cell["top-1"]["mean"] <= 100.0
    # the same head twice: the same scores, so no spread
    assert all(cell["top-1"]["std"] == 0.0 for cell in table["rows"][1]["levels"].values())
    # one model: its spread is unknown (NaN), and the printed table shows no ± for it
    assert all(math.isnan(cell["top-1"]["std"]) for cell in table["rows"][0]["levels"].values())
    lines = [line for line in printed.splitlines() if line.startswith(("tiny llm", "head"))]
    assert lines and all(("±" in line) == line.startswith("head") for line in lines)
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [(r["model"], r["metric"]) for r in rows] == [("tiny llm", "top-1"), ("tiny llm", "M-avg"),
                                                           ("head", "top-1"), ("head", "M-avg")]
    assert (out / "table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second start scores nothing again and gives the same table
    stamp = (out / "scores.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "scores.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "table.json").read_text()) == table


def test_other_weights_behind_the_same_folder_are_scored_again(setup, tmp_path):
    import torch

    root, _, head = setup
    cfg = load_config(head / "config.yaml")
    folder, out = tmp_path / "head", tmp_path / "out"
    labels = ["sad", "neutral", "happy"]
    torch.manual_seed(0)
    save_acoustic(AcousticClassifier(cfg.model, labels), folder, cfg, [])
    args = ["snr", "--manifest", str(root / "test.jsonl"), "--out", str(out), "--model", f"head={folder}",
            "--snr", "clean", "--quiet"]
    assert main(args) == 0
    first = json.loads((out / "scores.json").read_text())
    assert len(first) == 1
    torch.manual_seed(1)  # trained again into the same folder
    save_acoustic(AcousticClassifier(cfg.model, labels), folder, cfg, [])
    assert main(args) == 0
    second = json.loads((out / "scores.json").read_text())
    assert len(second) == 2 and set(first) < set(second)
    assert len({d["weights_sha256"] for d in second.values()}) == 2
    assert json.loads((out / "table.json").read_text())["rows"][0]["models"] == [str(folder)]


def test_levels_and_models_are_checked(setup, capsys):
    root, llm, _ = setup
    assert parse_levels("clean, 20,5") == [None, 20.0, 5.0]
    for text, message in (("loud", "'loud' is neither a number of dB nor 'clean'"), ("5,5", "a level is repeated"),
                          ("nan", "'nan' is not finite")):
        assert main(["snr", "--manifest", str(root / "test.jsonl"), "--out", str(root / "x"), "--model",
                     f"a={llm}", "--snr", text]) == 2
        assert message in capsys.readouterr().err
    assert main(["snr", "--manifest", str(root / "test.jsonl"), "--out", str(root / "x"), "--model", str(llm)]) == 2
    assert "expected NAME=FOLDER" in capsys.readouterr().err
    assert main(["snr", "--manifest", str(root / "test.jsonl"), "--out", str(root / "x"), "--model",
                 f"a={root}"]) == 2
    assert "holds neither a trained model" in capsys.readouterr().err


def test_gain_levels_play_the_clean_audio_quieter(setup):
    root, _, head = setup
    out = root / "gain"
    assert main(["snr", "--manifest", str(root / "test.jsonl"), "--out", str(out), "--model", f"head={head}",
                 "--snr", "clean", "--gain", "-20", "--quiet"]) == 0
    quiet = read_manifest(out / "media" / "gain-20" / "manifest.jsonl")
    np.testing.assert_allclose(load_audio(quiet[0].media_path), load_audio(CLIPS[0]) * 0.1, atol=1e-4)
    table = json.loads((out / "table.json").read_text())
    assert table["levels"] == ["clean", "gain -20 dB"]
    done = json.loads((out / "scores.json").read_text())
    assert sorted((d["snr"], d["gain"]) for d in done.values()) == [(None, -20.0), (None, 0.0)]
    assert parse_gains("-30, -10") == [-30.0, -10.0] and parse_gains("") == []
    assert Gain(-20) != -20.0 and len({Gain(-20), -20.0}) == 2  # never the SNR level of the same number
    for text, message in (("x", "not a number of dB"), ("0", "non-zero"), ("-3,-3", "repeated")):
        with pytest.raises(Exception, match=message):
            parse_gains(text)
