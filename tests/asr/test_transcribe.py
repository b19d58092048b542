import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from acoustemo.asr import NoSpeechWarning, Transcriber
from acoustemo.data.manifest import read_manifest
from acoustemo.media import load_audio

FIX = Path(__file__).parents[1] / "fixtures"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber()  # the bundled tiny.en


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def _speech_span(wav: np.ndarray, sr: int = 16000) -> tuple[float, float]:
    """First and last 20 ms frame within 35 dB of the loudest frame."""
    frames = wav[: len(wav) // 320 * 320].reshape(-1, 320)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    voiced = np.flatnonzero(db > db.max() - 35)
    return voiced[0] * 0.02, (voiced[-1] + 1) * 0.02


def test_ravdess_sentences_word_for_word(transcriber):
    rows = list(csv.DictReader(open(FIX / "ravdess/metadata.csv")))
    assert len(rows) >= 20 and len({r["actor"] for r in rows}) >= 6 and len({r["emotion"] for r in rows}) >= 4
    correct, inside = 0, 0
    for r in rows:
        path = FIX / "ravdess" / r["file"]
        t = transcriber.transcribe(path)
        text = " ".join(u.text for u in t.utterances)
        correct += _words(text) == _words(r["statement"])
        s0, s1 = _speech_span(load_audio(path))
        # Whisper tiny's word times are coarse (its first word often starts ~0.3 s early): 0.5 s slack,
        # and the utterances must cover most of the speech
        covered = sum(max(0.0, min(u.end, s1) - max(u.start, s0)) for u in t.utterances)
        if t.utterances and all(s0 - 0.5 <= u.start < u.end <= s1 + 0.5 for u in t.utterances) \
                and covered >= 0.6 * (s1 - s0):
            inside += 1
        for u, ws in zip(t.utterances, t.words):  # word times inside their utterance, in order
            assert ws and u.start <= ws[0].start and ws[-1].end <= u.end + 1e-6
            assert all(a.start <= b.start for a, b in zip(ws, ws[1:]))
    assert correct / len(rows) >= 0.9, f"{correct}/{len(rows)} transcribed word for word"
    assert inside / len(rows) >= 0.9, f"{inside}/{len(rows)} with times inside the speech"


def test_silence_gives_no_utterances_and_a_warning(transcriber):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = transcriber.transcribe(np.zeros(16000 * 4, np.float32), name="silence")
        noise = np.random.default_rng(0).normal(0, 1e-4, 16000 * 2).astype(np.float32)
        t2 = transcriber.transcribe(noise, name="hiss")
    assert t.utterances == [] and t2.utterances == []
    assert sum(issubclass(w.category, NoSpeechWarning) for w in caught) == 2


def test_cli_single_file_json_and_text(capsys):
    from acoustemo.cli import main

    clip = FIX / "ravdess/audio/Actor_02/03-01-01-01-02-01-02.flac"
    assert main(["transcribe", str(clip), "--json", "--beam-size", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["utterances"] and {"start", "end", "text", "words"} <= set(out["utterances"][0])
    assert _words(out["utterances"][0]["text"]) == _words("Dogs are sitting by the door")
    assert main(["transcribe", str(clip), "--beam-size", "1"]) == 0
    assert re.match(r"\[\d+\.\d\d - \d+\.\d\d\] \w", capsys.readouterr().out)


def test_cli_manifest_mode_fills_utterances_atomically(tmp_path, capsys):
    from acoustemo.cli import main

    clips = tmp_path / "clips"
    clips.mkdir()
    src = FIX / "ravdess/audio/Actor_05/03-01-01-01-01-01-05.flac"
    (clips / "a.flac").write_bytes(src.read_bytes())
    (clips / "quiet.wav").write_bytes(b"")  # replaced below by a real silent file
    import av

    with av.open(str(clips / "quiet.wav"), "w") as c:
        s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 32000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    keep = [{"start": 0.0, "end": 1.0, "text": "given"}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in [
        {"id": "a", "media": "clips/a.flac"}, {"id": "q", "media": "clips/quiet.wav"},
        {"id": "k", "media": "clips/a.flac", "utterances": keep}]) + "\n")
    out = tmp_path / "sub" / "out.jsonl"
    assert main(["transcribe", "--manifest", str(manifest), "--output", str(out), "--beam-size", "1"]) == 0
    assert "no speech found" in capsys.readouterr().err
    got = {s.id: s for s in read_manifest(out, check_media=True)}  # media paths still resolve
    assert _words(got["a"].utterances[0].text) == _words("Kids are talking by the door")
    assert got["q"].utterances == [] and got["k"].utterances[0].text == "given"
    assert not [p for p in out.parent.iterdir() if p.name != "out.jsonl"]  # no temporary files left


def test_cli_errors_are_one_line(tmp_path, capsys):
    from acoustemo.cli import main

    assert main(["transcribe"]) == 2
    assert main(["transcribe", str(tmp_path / "nope.wav")]) == 2
    assert main(["transcribe", str(FIX / "emodb/audio/03a01Nc.flac"), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("acoustemo transcribe: error:") for line in err)


def test_vad_split_gives_each_span_of_speech_with_its_words():
    from acoustemo.asr.transcribe import speech_spans

    actor = FIX / "ravdess" / "audio" / "Actor_01"
    clips = [load_audio(actor / "03-01-01-01-01-01-01.flac"), load_audio(actor / "03-01-02-01-02-01-01.flac")]
    wav = np.concatenate([clips[0], np.zeros(16000, np.float32), clips[1]])  # a second of silence between
    spans = speech_spans(wav)
    assert len(spans) == 2 and spans[0][1] < len(clips[0]) / 16000 < spans[1][0]
    t = Transcriber(split="vad", beam_size=1).transcribe(wav, name="two clips")
    assert [(u.start, u.end) for u in t.utterances] == spans  # the detector's edges, not Whisper's word times
    assert [_words(u.text) for u in t.utterances] == [["kids", "are", "talking", "by", "the", "door"],
                                                    ["dogs", "are", "sitting", "by", "the", "door"]]
    assert [" ".join(w.word for w in ws) for ws in t.words] == [u.text for u in t.utterances]
    with pytest.raises(ValueError, match="split must be one of words, segments, vad"):
        Transcriber(split="pauses")
