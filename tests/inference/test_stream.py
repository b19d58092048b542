"""Live labelling: endpointing real speech chunk by chunk, the sources, the labeler's context, ``acoustemo stream``."""

import io
import json

import numpy as np
import pytest
import torch

from acoustemo.errors import InputError
from acoustemo.cli import main
from acoustemo.inference.predictor import Predictor
from acoustemo.inference.stream import Endpointer, SpeechSegment, StreamLabeler
from acoustemo.media import SAMPLE_RATE, load_audio
from acoustemo.media.live import decoded_chunks, paced, pcm_chunks

from conftest import FIXTURES, tiny_checkpoint

ACTOR_01 = FIXTURES / "ravdess" / "audio" / "Actor_01"
CLIPS = [ACTOR_01 / "03-01-01-01-01-01-01.flac", ACTOR_01 / "03-01-02-01-02-01-01.flac"]
GAP = 1.0  # seconds of silence between the two clips


def speech_bounds(wav):
    """Where Silero, over the whole clip at once and with the endpointer's settings, hears speech: (first start,
    last end) in seconds."""
    from faster_whisper.vad import get_speech_timestamps

    spans = get_speech_timestamps(wav, Endpointer(min_silence=0.5).options)
    return spans[0]["start"] / SAMPLE_RATE, spans[-1]["end"] / SAMPLE_RATE


@pytest.fixture(scope="module")
def dialogue():
    """Two real clips of one actor with a second of silence between them, and each clip's speech in the whole."""
    clips = [load_audio(c) for c in CLIPS]
    wav = np.concatenate([clips[0], np.zeros(round(GAP * SAMPLE_RATE), np.float32), clips[1]])
    first = speech_bounds(clips[0])
    offset = (len(clips[0]) / SAMPLE_RATE) + GAP
    second = tuple(offset + t for t in speech_bounds(clips[1]))
    return wav, [first, second]


def chunked(wav, seconds=0.25):
    step = round(seconds * SAMPLE_RATE)
    return [wav[i:i + step] for i in range(0, len(wav), step)]


def test_each_utterance_comes_out_once_its_silence_has_been_heard(dialogue):
    wav, truth = dialogue
    endpointer = Endpointer(min_silence=0.5, speech_pad=0.1)
    found, heard_at = [], []
    for chunk in chunked(wav):
        endpointer.push(chunk)
        for segment in endpointer.ready():
            found.append(segment)
            heard_at.append(endpointer.seconds)
    found += endpointer.flush()
    assert len(found) == 2  # as the whole dialogue at once gives them
    for segment, (start, end), at in zip(found, truth, heard_at + [None]):
        audio_end = segment.audio_start + len(segment.audio) / SAMPLE_RATE
        assert abs(segment.audio_start - start) < 0.25 and abs(audio_end - end) < 0.25
        # the speech edges: the 0.1 s of padding taken off either side
        assert segment.start == pytest.approx(segment.audio_start + 0.1, abs=1e-3)
        assert segment.end == pytest.approx(audio_end - 0.1, abs=1e-3)
        if at is not None:  # given out after the silence that ends it, and not much later
            assert segment.end + 0.5 <= at + 1e-6 <= segment.end + 0.5 + 0.25
    # the samples given out are the stream's own
    s = found[1]
    begin = round(s.audio_start * SAMPLE_RATE)
    np.testing.assert_array_equal(s.audio, wav[begin:begin + len(s.audio)])


def test_silence_gives_nothing_and_is_not_kept():
    endpointer = Endpointer()
    for chunk in chunked(np.zeros(20 * SAMPLE_RATE, np.float32)):
        endpointer.push(chunk)
        assert endpointer.ready() == []
        assert len(endpointer._buffer) <= SAMPLE_RATE
    assert endpointer.flush() == [] and endpointer.seconds == pytest.approx(20.0)


def test_speech_longer_than_max_utterance_is_cut(dialogue):
    wav, _ = dialogue
    endpointer = Endpointer(min_silence=2.0, max_utterance=1.5)  # the gap no longer ends the first clip
    for chunk in chunked(wav):
        endpointer.push(chunk)
    segments = endpointer.ready() + endpointer.flush()
    assert len(segments) >= 3 and all(s.end - s.start <= 1.5 + 1e-6 for s in segments)


def test_a_segment_knows_when_its_last_sample_arrived():
    clock = iter(range(100))
    endpointer = Endpointer(clock=lambda: float(next(clock)))
    speech = load_audio(CLIPS[0])
    for chunk in chunked(np.concatenate([speech, np.zeros(SAMPLE_RATE, np.float32)]), seconds=0.5):
        endpointer.push(chunk)
    (segment,) = endpointer.ready()
    audio_end = segment.audio_start + len(segment.audio) / SAMPLE_RATE
    assert segment.arrived == float(int(np.ceil(audio_end / 0.5 - 1e-9)) - 1)  # the push holding its last sample


def test_decoded_chunks_are_the_file_in_pieces():
    wav = load_audio(CLIPS[0])
    chunks = list(decoded_chunks(CLIPS[0], chunk_seconds=0.25))
    assert all(len(c) == 4000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 4000
    np.testing.assert_allclose(np.concatenate(chunks), wav, atol=1e-6)
    with open(CLIPS[0], "rb") as f:  # a container on a binary stream (standard input)
        np.testing.assert_allclose(np.concatenate(list(decoded_chunks(f))), wav, atol=1e-6)


def test_pcm_chunks_read_raw_samples_at_any_rate():
    x = (np.sin(np.arange(8000) / 8000 * 2 * np.pi * 220) * 16000).astype("<i2")
    same = np.concatenate(list(pcm_chunks(io.BytesIO(x.tobytes()), 16000)))
    np.testing.assert_allclose(same, x / 32768.0, atol=1e-7)
    odd = io.BytesIO(x.tobytes()[:-1])  # a half sample at the end is dropped
    assert len(np.concatenate(list(pcm_chunks(odd, 16000)))) == len(x) - 1
    up = np.concatenate(list(pcm_chunks(io.BytesIO(x.tobytes()), 8000)))
    assert abs(len(up) - 2 * len(x)) <= 64


def test_paced_chunks_come_no_faster_than_real_time():
    now, slept = [0.0], []

    def sleep(s):
        slept.append(s)
        now[0] += s

    chunks = [np.zeros(8000, np.float32)] * 4  # 0.5 s each
    assert len(list(paced(chunks, clock=lambda: now[0], sleep=sleep))) == 4
    assert now[0] == pytest.approx(2.0) and len(slept) == 4


class Recorder:
    """A predictor's ``answer`` that remembers the examples and the earlier lines it was given."""

    def __init__(self, predictor):
        self.examples, self.earlier, self.answer = [], [], predictor.answer

    def __call__(self, example, earlier):
        self.examples.append(example)
        self.earlier.append(earlier)
        return self.answer(example, earlier)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor(tiny_checkpoint(tmp_path_factory.mktemp("stream"), "model.utterance_answers=true",
                                     "model.acoustic.input_standardization=true",
                                     "model.speaker_normalization=recording"), max_new_tokens=3, beam_size=1)


def test_the_labeler_answers_each_utterance_with_the_recent_dialogue(predictor, monkeypatch):
    from acoustemo.data.speakers import FrameStats, SpeakerBaseline

    recorder = Recorder(predictor)
    monkeypatch.setattr(predictor, "answer", recorder)
    labeler = StreamLabeler(predictor, context=2, clock=lambda: 100.0)
    segments = [SpeechSegment(3.0 * i, 3.0 * i + 2.5, load_audio(CLIPS[i % 2]), arrived=99.5) for i in range(3)]
    lines = [labeler(s) for s in segments]
    assert [line.index for line in lines] == [0, 1, 2] and all(line.lag == 0.5 for line in lines)
    assert "kids are talking by the door" in lines[0].text.lower()
    assert (lines[2].start, lines[2].end) == (6.0, 8.5)
    last = recorder.examples[-1]
    frames = [predictor.audio_encoder.encode(load_audio(CLIPS[i % 2])) for i in range(3)]
    assert [u.text for u in last.utterances] == [lines[1].text, lines[2].text]  # the last two only
    assert last.utterances[0].start == 0.0 and last.utterances[1].start == pytest.approx(len(frames[1]) / 50, abs=1e-3)
    # read against the running baseline of all three, not only the two in the window
    voice = FrameStats.of(torch.cat(frames))
    expected = SpeakerBaseline.of_model(predictor.model, 50.0).normalize(torch.cat(frames[1:]), voice)
    torch.testing.assert_close(last.audio, expected)
    # the line's labels are the newest utterance's own answer, the earlier lines given as they were streamed
    assert recorder.earlier == [[], [lines[0].labels], [lines[1].labels]]
    own = predictor.answer.answer(last, [lines[1].labels])[1]
    assert lines[2].labels == list(own[-1])
    labeler.close()


def test_a_baseline_window_forgets_the_voices_before_it(predictor, monkeypatch):
    from acoustemo.data.speakers import FrameStats, SpeakerBaseline

    recorder = Recorder(predictor)
    monkeypatch.setattr(predictor, "answer", recorder)
    wavs = [load_audio(CLIPS[i % 2]) for i in range(3)]
    frames = [predictor.audio_encoder.encode(w) for w in wavs]
    # a window just over the newest two utterances' length: the first is forgotten once the third is heard
    window = (len(frames[1]) + len(frames[2])) / 50 - 0.01
    labeler = StreamLabeler(predictor, context=3, baseline_window=window)
    for i, w in enumerate(wavs):
        labeler(SpeechSegment(3.0 * i, 3.0 * i + 2.5, w, arrived=0.0))
    voice = FrameStats.of(torch.cat(frames[1:]))
    expected = SpeakerBaseline.of_model(predictor.model, 50.0).normalize(torch.cat(frames), voice)
    torch.testing.assert_close(recorder.examples[-1].audio, expected)
    assert labeler.voice.count == len(frames[1]) + len(frames[2])
    labeler.close()
    with pytest.raises(InputError, match="baseline window must be positive seconds, got 0"):
        StreamLabeler(predictor, baseline_window=0)


def test_one_whisper_pass_hears_what_the_transcriber_hears(predictor):
    assert predictor.transcribes_with_encoder  # the checkpoint's encoder is the bundled tiny.en
    labeler = StreamLabeler(predictor)
    segment = SpeechSegment(0.0, 2.5, load_audio(CLIPS[0]), arrived=0.0)
    one_frames, one_text = labeler._hear(segment)
    labeler.one_pass = False  # a --whisper-model other than the encoder's: Whisper beside the encoder
    two_frames, two_text = labeler._hear(segment)
    torch.testing.assert_close(one_frames, two_frames)
    assert one_text.lower().strip(".") == two_text.lower().strip(".") == "kids are talking by the door"
    labeler.close()


def test_speech_without_words_is_not_a_line(predictor):
    labeler = StreamLabeler(predictor)
    noise = (np.random.default_rng(0).standard_normal(SAMPLE_RATE) * 1e-4).astype(np.float32)
    assert labeler(SpeechSegment(0.0, 1.0, noise, arrived=0.0)) is None and labeler.count == 0
    labeler.close()


def test_stream_command_writes_a_line_per_utterance_then_the_end(tmp_path, dialogue, capsys):
    import soundfile

    wav, truth = dialogue
    path = tmp_path / "dialogue.wav"
    soundfile.write(path, wav, SAMPLE_RATE)
    checkpoint = tiny_checkpoint(tmp_path / "ckpt", "model.utterance_answers=true")
    assert main(["stream", str(path), "--checkpoint", str(checkpoint), "--max-new-tokens", "2",
                 "--min-silence", "0.5"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["type"] for r in rows] == ["utterance", "utterance", "end"]
    for r, (start, end) in zip(rows, truth):  # speech edges: inside the padded bounds
        assert abs(r["start"] - 0.1 - start) < 0.25 and abs(r["end"] + 0.1 - end) < 0.25
        assert isinstance(r["labels"], list)
        from acoustemo.metrics.dimensions import valence_arousal

        assert (r["valence"], r["arousal"]) == (valence_arousal(r["labels"]) or (None, None))
    assert rows[-1]["utterances"][1]["text"] == rows[1]["text"] and rows[-1]["seconds"] == pytest.approx(len(wav) / 16000, abs=1e-3)
    assert rows[1]["text"] in err and "2 utterances" in err


def test_stream_reads_raw_pcm_from_standard_input(tmp_path, monkeypatch, capsys):
    pcm = (load_audio(CLIPS[0]) * 32767).astype("<i2").tobytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(pcm)))
    checkpoint = tiny_checkpoint(tmp_path / "ckpt")
    assert main(["stream", "-", "--pcm", "16000", "--checkpoint", str(checkpoint), "--quiet",
                 "--max-new-tokens", "2"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["type"] for r in rows] == ["utterance", "end"] and err == ""


def test_a_stream_that_breaks_mid_utterance_labels_what_it_heard_and_ends_with_one_line(
        tmp_path, dialogue, monkeypatch, capsys):
    from acoustemo.media.decode import MediaError

    wav, truth = dialogue
    cut = round((truth[1][0] + 1.0) * SAMPLE_RATE)  # a second into the second utterance

    def broken(source, **kwargs):
        yield from chunked(wav[:cut])
        raise MediaError(f"{source}: connection reset by peer")

    monkeypatch.setattr("acoustemo.media.live.decoded_chunks", broken)
    checkpoint = tiny_checkpoint(tmp_path / "ckpt", "model.utterance_answers=true")
    assert main(["stream", "rtsp://camera/live", "--checkpoint", str(checkpoint), "--max-new-tokens", "2",
                 "--min-silence", "0.5", "--quiet"]) == 2
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.strip().splitlines()]  # every line printed is still valid JSON
    assert [r["type"] for r in rows] == ["utterance", "utterance", "end"]
    assert rows[1]["end"] <= cut / SAMPLE_RATE + 0.01 and "connection reset" in rows[-1]["error"]
    assert err.strip().splitlines() == ["acoustemo stream: error: rtsp://camera/live: connection reset by peer; the "
                                        "stream ended there (what was heard before is labelled above)"]


def test_stream_reads_a_wav_from_standard_input(tmp_path, monkeypatch, capsys):
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, load_audio(CLIPS[0]), SAMPLE_RATE, format="WAV")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(buffer.getvalue())))
    checkpoint = tiny_checkpoint(tmp_path / "ckpt")
    assert main(["stream", "-", "--checkpoint", str(checkpoint), "--quiet", "--max-new-tokens", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["type"] for r in rows] == ["utterance", "end"]
    assert "kids are talking by the door" in rows[0]["text"].lower()


@pytest.mark.parametrize("argv, message", [
    (["stream"], "no source"),
    (["stream", "missing.wav"], "missing.wav: file not found"),
    (["stream", "a.wav", "--pcm", "16000"], "--pcm 16000: only for standard input"),
    (["stream", str(CLIPS[0]), "--min-silence", "-1"], "min_silence must be >= 0 seconds"),
    (["stream", str(CLIPS[0]), "--context", "0"], "--context 0: must be at least 1"),
    (["stream", str(CLIPS[0]), "--baseline-window", "0"], "--baseline-window 0.0: must be positive seconds"),
])
def test_bad_sources_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_the_microphone_without_sounddevice_says_what_to_install(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_sounddevice(name, *args, **kwargs):
        if name == "sounddevice":
            raise ImportError("No module named 'sounddevice'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sounddevice)
    assert main(["stream", "--mic"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sounddevice" in err and "PortAudio" in err


def test_a_live_session_of_the_server_takes_browser_chunks_and_is_limited(predictor, dialogue):
    import av

    from acoustemo.errors import InputError
    from acoustemo.inference.service import LIVE_HEADERS, LiveSessions, Service

    wav, truth = dialogue
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)  # what a browser records
    frame = av.AudioFrame.from_ndarray(wav[None, :].copy(), format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    pcm48 = np.concatenate([f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]])
    sessions = LiveSessions(Service(predictor), max_live=1)
    session = sessions.open()
    with pytest.raises(InputError, match="all 1 live sessions of this server are in use"):
        sessions.open()
    for i in range(0, len(pcm48), 4800):  # 0.1 s chunks, int16 at 48 kHz, as Gradio sends them
        assert session.push(48000, pcm48[i:i + 4800]) is None  # at once: the session's thread labels
    new = session.finish()
    assert len(new) == 2 and session.lines == new
    for line, (start, end) in zip(new, truth):
        assert abs(line.start - 0.1 - start) < 0.3 and abs(line.end + 0.1 - end) < 0.3
    rows = session.rows()
    assert len(rows) == 2 and all(len(r) == len(LIVE_HEADERS) for r in rows) and rows[1][2] == new[1].text
    sessions.release(session)
    sessions.release(session)  # twice is harmless
    assert sessions.open().id == 2
