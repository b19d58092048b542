"""Hostile and malformed input through the commands: one line and exit 2, never a traceback or a lie.

One test per class of failure, several cases each. Every case asserts the exit status, a single stderr line
that names the file (and the sample or field where there is one), no traceback, and no partial output.
Every future bad-input report becomes a case here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from acoustemo.cache.store import FeatureCache
from acoustemo.cli import main
from acoustemo.config import load_config
from acoustemo.errors import ConfigError, InputError
from acoustemo.io import atomic_open, model_folder_kwargs, remove_stale_temporaries

from conftest import FIXTURES, tiny_checkpoint

CLIP = FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *names: str, status: int = 2, progress: bool = False) -> str:
    """Exit status, exactly one non-empty stderr line, an 'error:' line naming each of ``names``. With
    ``progress`` the command's progress and summary lines may come before it (exactly one 'error:' line)."""
    assert code == status, err
    lines = [ln for ln in err.splitlines() if ln.strip() and (not progress or "error:" in ln)]
    assert len(lines) == 1, lines
    assert "Traceback" not in err and "error:" in lines[0]
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert len(lines[0]) <= 600
    return lines[0]


# ------------------------------------------------------------------------------- success that is not
@pytest.mark.parametrize("text, field", [
    ("preset: tiny\ntrain:\n  lr: .inf\n", "train.lr"),
    ("preset: tiny\ntrain:\n  lr: .nan\n", "train.lr"),
    ("preset: tiny\ntrain:\n  warmup_ratio: -.inf\n", "train.warmup_ratio"),
    ("preset: tiny\ntrain:\n  lr: 1.0e-4\n  lr: 1.0\n", "line 4"),  # a repeated key is not "the last one wins"
])
def test_configs_that_would_train_nonsense_are_refused(tmp_path, capsys, text, field):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    code, out, err = run_cli(capsys, "info", "--config", path)
    assert_one_line_error(code, err, field)
    assert out == ""


def test_a_checkpoint_of_nan_weights_is_refused_before_it_answers(tmp_path, capsys):
    name = "projections.utterance.weight"
    folder = tiny_checkpoint(tmp_path / "nan", poison=name)
    code, out, err = run_cli(capsys, "predict", CLIP, "--checkpoint", folder, "--json")
    line = assert_one_line_error(code, err, "trainable.safetensors", name)
    assert "NaN" in line and out == ""  # refused before any file is read: no answer at all


def test_a_run_that_diverges_stops_with_an_error_and_writes_no_nan_checkpoint(tmp_path):
    from conftest import make_corpus, tiny_train_config

    from acoustemo.errors import TrainingError
    from acoustemo.training import train

    corpus = make_corpus(tmp_path / "data", sizes=(("train", 8), ("validation", 2), ("test", 2)))
    cfg = tiny_train_config(corpus, tmp_path / "run", "train.lr=1.0e+30", "train.max_grad_norm=1.0e+30",
                            "train.warmup_ratio=0.0", "train.epochs=6", "train.save_every=1")
    with pytest.raises(TrainingError, match="diverged at step"):
        train(cfg, progress=False)
    for weights in (tmp_path / "run").rglob("*.safetensors"):
        for t in __import__("safetensors.torch", fromlist=["load_file"]).load_file(str(weights)).values():
            assert bool(torch.isfinite(t).all()), weights  # whatever was written is finite
    assert not (tmp_path / "run" / "final").exists()


def test_audio_cut_short_is_reported_with_both_durations(tmp_path, media_synth):
    import warnings

    from acoustemo.media import MediaWarning, load_audio

    full = media_synth.write_audio(tmp_path / "full.mp3", seconds=6.0, rate=16000, channels=1)
    half = tmp_path / "half.mp3"
    half.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.warns(MediaWarning, match=r"half\.mp3: decoded [23]\.\d+ s of audio, the file declares 6\.\d\d s"):
        load_audio(half)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MediaWarning)
        load_audio(full)  # a whole file decodes without a word


# ------------------------------------------------------------------------------- tracebacks instead of a line
@pytest.mark.parametrize("content", [b"", b"\x00" * 7, os.urandom(300), b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_unreadable_checkpoints_are_one_line(tmp_path, capsys, content):
    folder = tiny_checkpoint(tmp_path / "ckpt")
    whole = (folder / "trainable.safetensors").read_bytes()
    (folder / "trainable.safetensors").write_bytes(content or whole[: len(whole) // 2])  # b"": cut in half
    code, out, err = run_cli(capsys, "predict", CLIP, "--checkpoint", folder)
    assert_one_line_error(code, err, "trainable.safetensors")


def test_a_truncated_optimizer_state_on_resume_is_one_line(tmp_path):
    from acoustemo.training.checkpoint import load_optimizer

    (tmp_path / "optimizer.json").write_text('{"param_names": ["w"], "state": {}, "param_groups": []}')
    (tmp_path / "optimizer.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(InputError, match="optimizer.safetensors: not a readable safetensors file"):
        load_optimizer(opt, ["w"], tmp_path)


@pytest.mark.parametrize("where, payload", [
    ("manifest", b'{"id": "a", "media": "a.wav"}\n{"id": "b\xff\xfe", "media": "b.wav"}\n'),
    ("manifest", b'{"id": "a", "media": "a.wav", "labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"),
    ("gold", b"name,openset\nclip1,\"['happy']\"\nclip2,\"['s\xe9d']\"\n"),
    ("config", b"preset: tiny\ntrain:\n  output_dir: caf\xe9\n"),
])
def test_bytes_that_are_not_text_or_json_nested_too_deep_are_one_line(tmp_path, capsys, where, payload):
    path = tmp_path / {"manifest": "m.jsonl", "gold": "gold.csv", "config": "c.yaml"}[where]
    path.write_bytes(payload)
    if where == "manifest":
        code, _, err = run_cli(capsys, "extract", "--manifest", path, "--cache", tmp_path / "cache")
    elif where == "gold":
        code, _, err = run_cli(capsys, "score", "--gold", path, "--pred", path, "--metric", "wheel")
    else:
        code, _, err = run_cli(capsys, "info", "--config", path)
    line = assert_one_line_error(code, err, path.name)
    assert "line 2" in line or ":2:" in line or "line 3" in line or "nested too deeply" in line
    assert not (tmp_path / "cache" / "hashes").exists()


@pytest.mark.parametrize("argv, name", [
    (["info", "--config", "tiny", "model.acoustic.num_queries=!!python/object:os.system x"], "num_queries"),
    (["info", "--config", "tiny", "model.acoustic.num_queries=[1,"], "num_queries"),
    (["info", "--config", "tiny", "train.lr=.inf"], "train.lr"),
    (["info", "--config", "tiny", "model.llm=\x00"], "NUL"),
    (["info", "--config", "tiny", "model.acoustic=3"], "model.acoustic"),
    (["info", "--config", "tiny", "nosuch.key=3"], "nosuch"),
])
def test_malformed_overrides_are_one_line(capsys, argv, name):
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, name)


@pytest.mark.parametrize("text, name", [
    ("preset: [small, tiny]\n", "preset"),
    ("preset: tiny\nmodel: [1, 2]\n", "model"),
    ("- a\n- b\n", "mapping"),
    ("preset: tiny\n" + "a: &a [" + ",".join(["x"] * 9) + "]\n"
     + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefg", "bcdefgh")), "expands"),
])
def test_config_files_of_the_wrong_shape_are_one_short_line(tmp_path, capsys, text, name):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    code, _, err = run_cli(capsys, "info", "--config", path)
    assert_one_line_error(code, err, "c.yaml", name)


def test_an_output_path_that_is_a_folder_is_one_line(tmp_path, capsys):
    manifest = tmp_path / "data" / "m.jsonl"
    manifest.parent.mkdir()
    (tmp_path / "data" / "a.flac").write_bytes(CLIP.read_bytes())
    manifest.write_text('{"id": "a", "media": "a.flac"}\n')
    target = tmp_path / "data" / "merged"
    target.mkdir()
    code, _, err = run_cli(capsys, "merge", "--out", target, f"x={manifest}")
    assert_one_line_error(code, err, "merged", "folder")
    assert list(target.iterdir()) == []


def test_an_unloadable_user_model_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "hubert"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "hubert"')  # cut short
    (folder / "model.safetensors").write_bytes(b"junk")
    manifest = tmp_path / "m.jsonl"
    (tmp_path / "a.flac").write_bytes(CLIP.read_bytes())
    manifest.write_text('{"id": "a", "media": "a.flac"}\n')
    code, _, err = run_cli(capsys, "extract", "--manifest", manifest, "--cache", tmp_path / "cache", "--audio", "hf",
                           "--audio-model", folder, "--visual", "none")
    assert_one_line_error(code, err, "hubert", progress=True)


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import acoustemo.recipes.info as info

    def boom(args):
        raise RuntimeError("something nobody foresaw\nsecond line " + "x" * 5000)

    monkeypatch.setattr(info, "run", boom)
    code, _, err = run_cli(capsys, "info")
    line = assert_one_line_error(code, err, "RuntimeError: something nobody foresaw second line")
    assert "--debug" in line
    code, _, err = run_cli(capsys, "info", "--debug")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("acoustemo info: error:")


def test_usage_errors_and_library_warnings_are_one_line(monkeypatch, capsys):
    code, _, err = run_cli(capsys, "score", "--gold", "x.csv")
    assert_one_line_error(code, err, "--pred")
    import warnings

    import acoustemo.recipes.info as info

    def warn_twice(args):
        for _ in range(2):
            warnings.warn("a library's\nmulti-line warning", UserWarning)
        return 0

    monkeypatch.setattr(info, "run", warn_twice)
    code, _, err = run_cli(capsys, "info")
    assert code == 0 and err == "acoustemo info: warning: a library's multi-line warning\n"


# ------------------------------------------------------------------------------- traces of refused files, paths
def test_a_refused_media_file_leaves_nothing_in_the_cache(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("not media at all\n")
    manifest = data / "m.jsonl"
    manifest.write_text(json.dumps({"id": "t", "media": str(data / "notes.txt")}) + "\n")
    code, out, err = run_cli(capsys, "extract", "--manifest", manifest, "--cache", tmp_path / "cache", "--visual",
                             "none")
    assert_one_line_error(code, err, "notes.txt", "'t'", progress=True)  # its progress bar, then one error line
    assert out == "" and "key:" not in err  # nothing was extracted: no summary
    cache = tmp_path / "cache"
    assert not (cache / "hashes").exists() or not any((cache / "hashes").iterdir())
    assert not list(cache.rglob("*.safetensors"))


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "c\\d"])
def test_mer_import_refuses_sample_names_that_are_not_plain_file_names(tmp_path, capsys, name):
    media = tmp_path / "media"
    media.mkdir()
    labels = tmp_path / "labels.csv"
    labels.write_text(f'name,openset\n"{name}","[\'happy\']"\n')
    out = tmp_path / "out" / "m.jsonl"
    code, _, err = run_cli(capsys, "import-mer", "--labels", labels, "--media", media, "--output", out)
    assert_one_line_error(code, err, "labels.csv", "row 2", "'name'", "plain file name")
    assert not out.exists()


def test_media_paths_may_follow_a_symlinked_folder_but_not_climb_out(tmp_path):
    from acoustemo.data.manifest import merge_manifests, read_manifest

    elsewhere = tmp_path / "other_disk" / "corpus"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.flac").write_bytes(CLIP.read_bytes())
    (elsewhere / "m.jsonl").write_text('{"id": "a", "media": "a.flac"}\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "corpus").symlink_to(elsewhere, target_is_directory=True)
    (project / "m.jsonl").write_text('{"id": "a", "media": "corpus/a.flac"}\n')
    (sample,) = read_manifest(project / "m.jsonl", check_media=True)
    assert sample.media_path.read_bytes() == CLIP.read_bytes()
    merged = merge_manifests(project / "all.jsonl", {"c": project / "corpus" / "m.jsonl"})
    assert merged[0].media == "corpus/a.flac"
    (project / "bad.jsonl").write_text('{"id": "b", "media": "corpus/../../other_disk/corpus/a.flac"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: sample 'b', field 'media': .* climbs out"):
        read_manifest(project / "bad.jsonl")
    (project / "abs.jsonl").write_text(json.dumps({"id": "c", "media": str(elsewhere / "a.flac")}) + "\n")
    assert read_manifest(project / "abs.jsonl", check_media=True)[0].media_path == elsewhere / "a.flac"


# ------------------------------------------------------------------------------- batches keep going
def test_extract_goes_on_past_bad_files_and_names_each(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.flac").write_bytes(CLIP.read_bytes())
    (data / "corrupt.flac").write_bytes(os.urandom(2000))
    rows = [{"id": "bad1", "media": "corrupt.flac"}, {"id": "gone", "media": "missing.wav"},
            {"id": "good", "media": "good.flac"}]
    (data / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["extract", "--manifest", str(data / "m.jsonl"), "--cache", str(tmp_path / "cache"),
                 "--visual", "none"])
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 2 and "'bad1'" in errors[0] + errors[1] and "'gone'" in errors[0] + errors[1]
    assert len(list((tmp_path / "cache" / "audio").rglob("*.safetensors"))) == 1  # the good file's features
    assert len(list((tmp_path / "cache" / "hashes").iterdir())) == 1  # and only its hash memo
    assert main(["extract", "--manifest", str(data / "m.jsonl"), "--cache", str(tmp_path / "c2"), "--visual", "none",
                 "--fail-fast"]) == 2
    assert len([ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]) == 1  # stopped at the first
    assert not (tmp_path / "c2" / "audio").exists() or not list((tmp_path / "c2" / "audio").rglob("*.safetensors"))


def test_transcribe_goes_on_past_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(os.urandom(1000))
    code = main(["transcribe", str(bad), str(CLIP), "--json"])
    out, err = capsys.readouterr()
    lines = [json.loads(ln) for ln in out.splitlines()]
    assert code == 2 and "Traceback" not in err
    assert lines[0]["media"] == str(bad) and "bad.wav" in lines[0]["error"]
    assert "door" in " ".join(u["text"] for u in lines[1]["utterances"]).lower()
    assert len([ln for ln in err.splitlines() if "error:" in ln]) == 1


# ------------------------------------------------------------------------------- interrupted work
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    from acoustemo.io import _HOST as host

    (tmp_path / "ab").mkdir()
    dead = tmp_path / "ab" / f".x.safetensors.{host}-{_dead_pid()}.k2j3h4.tmp"
    dead.write_bytes(b"partial")
    other_host = tmp_path / f".y.json.otherhost-{_dead_pid()}.abc.tmp"
    other_host.write_bytes(b"someone else's")
    user_file = tmp_path / "notes.tmp"
    user_file.write_text("mine")
    with atomic_open(tmp_path / "live.json") as f:  # a live writer: this process
        f.write("{}")
        (live,) = [p for p in tmp_path.iterdir() if p.name.startswith(".live.json.")]
        assert remove_stale_temporaries(tmp_path) == 1
        assert live.exists()
    assert not dead.exists() and other_host.exists() and user_file.exists()
    assert (tmp_path / "live.json").read_text() == "{}"


def test_extract_and_train_clean_what_a_killed_run_left(tmp_path):
    from acoustemo.io import _HOST as host
    from acoustemo.training.checkpoint import remove_partial

    cache = tmp_path / "cache"
    stale = cache / "audio" / "k" / "ab" / f".ab12.safetensors.{host}-{_dead_pid()}.zz.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.flac").write_bytes(CLIP.read_bytes())
    (data / "m.jsonl").write_text('{"id": "a", "media": "a.flac"}\n')
    assert main(["extract", "--manifest", str(data / "m.jsonl"), "--cache", str(cache), "--visual", "none"]) == 0
    assert not stale.exists()
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / ".tmp-step-000007").mkdir(parents=True)
    (ckpts / ".tmp-step-000007" / "trainable.safetensors").write_bytes(b"half")
    (ckpts / "step-000005").mkdir()
    assert remove_partial(ckpts) == 1
    assert [p.name for p in ckpts.iterdir()] == ["step-000005"]


# ------------------------------------------------------------------------------- user-supplied model folders
def test_model_folders_load_safetensors_and_refuse_pickles_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("ACOUSTEMO_ALLOW_PICKLE", raising=False)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(InputError, match=r"model: a HuBERT model has only pickled weights.*ACOUSTEMO_ALLOW_PICKLE=1"):
        model_folder_kwargs(folder, what="a HuBERT model")
    assert model_folder_kwargs(folder, what="x", allow_pickle=True) == {"use_safetensors": False}
    monkeypatch.setenv("ACOUSTEMO_ALLOW_PICKLE", "1")
    assert model_folder_kwargs(folder, what="x") == {"use_safetensors": False}
    (folder / "model.safetensors").write_bytes(b"")
    assert model_folder_kwargs(folder, what="x", allow_pickle=False) == {"use_safetensors": True}
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(InputError, match="has no weights"):
        model_folder_kwargs(folder, what="x")


def test_extract_refuses_a_pickle_only_audio_model_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ACOUSTEMO_ALLOW_PICKLE", raising=False)
    folder = tmp_path / "wav2vec2"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "wav2vec2"}')
    (folder / "pytorch_model.bin").write_bytes(b"not even a pickle")
    (tmp_path / "a.flac").write_bytes(CLIP.read_bytes())
    (tmp_path / "m.jsonl").write_text('{"id": "a", "media": "a.flac"}\n')
    code, _, err = run_cli(capsys, "extract", "--manifest", tmp_path / "m.jsonl", "--cache", tmp_path / "cache",
                           "--audio", "hf", "--audio-model", folder, "--visual", "none")
    assert_one_line_error(code, err, "wav2vec2", "pickled weights", progress=True)


def test_cache_hash_memo_is_written_once_the_file_has_an_entry(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    media = tmp_path / "a.bin"
    media.write_bytes(b"abc")
    h = cache.media_hash(media)
    assert not (tmp_path / "cache" / "hashes").exists()
    cache.put("audio", "k-000000000000", h, torch.zeros(2, 3), 50.0)
    (memo,) = (tmp_path / "cache" / "hashes").iterdir()
    assert json.loads(memo.read_text())["sha256"] == h
    assert FeatureCache(tmp_path / "cache").media_hash(media) == h


def test_config_errors_quote_at_most_a_short_excerpt():
    with pytest.raises(ConfigError) as e:
        load_config("tiny", ["model.llm=" + "[" + ",".join(["1"] * 10_000) + "]"])
    assert len(str(e.value)) < 200


def test_an_acoustic_prior_the_model_cannot_give_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "predict", "--acoustic-prior", "-1", CLIP)
    assert_one_line_error(code, err, "model.acoustic_prior", ">= 0")
    ckpt = tiny_checkpoint(tmp_path / "ckpt")  # trained without a stage-1 head beside its weights
    code, _, err = run_cli(capsys, "predict", "--checkpoint", ckpt, "--acoustic-prior", "2", CLIP)
    assert_one_line_error(code, err, str(ckpt), "head.safetensors")
    code, _, err = run_cli(capsys, "predict", "--acoustic-prior", "2:window", CLIP)
    assert_one_line_error(code, err, "model.acoustic_prior_source", "probe")
