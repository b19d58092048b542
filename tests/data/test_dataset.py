import json

import pytest
import torch

from acoustemo.cache.store import FeatureCache
from acoustemo.config import load_config
from acoustemo.data.collate import IGNORE_INDEX, Collator
from acoustemo.data.dataset import FeatureDataset, resolve_key
from acoustemo.data.manifest import read_manifest
from acoustemo.errors import ConfigError, InputError
from acoustemo.model.llm import tiny_tokenizer
from acoustemo.data.dataset import dataset_for

from conftest import StandInEncoder, make_corpus, tiny_train_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("ds"), sizes=(("train", 6), ("validation", 2), ("test", 2)))


def test_examples_carry_the_cached_features_and_the_manifest(corpus):
    ds = dataset_for(tiny_train_config(corpus, corpus["cache"].parent / "out"), corpus["train"], require_labels=True)
    cache = FeatureCache(corpus["cache"])
    for i, sample in enumerate(read_manifest(corpus["train"])):
        ex = ds[i]
        entry = cache.get("audio", corpus["audio_key"], cache.media_hash(sample.media_path))
        assert ex.id == sample.id and ex.labels == sample.labels and ex.utterances == sample.utterances
        assert torch.equal(ex.audio, entry.features) and ex.frame_rate == 50.0 and ex.visual.shape == (4, 8)


def test_collated_prompts_state_the_utterances_and_mask_all_but_the_answer(corpus):
    cfg = tiny_train_config(corpus, corpus["cache"].parent / "out")
    ds = dataset_for(cfg, corpus["train"], require_labels=True)
    tok = tiny_tokenizer()
    examples = [ds[i] for i in range(3)]
    batch = Collator(cfg.model, tok)(examples)
    for b, ex in enumerate(examples):
        answer = batch.labels[b] != IGNORE_INDEX
        assert tok.decode(batch.labels[b][answer]) == " " + ", ".join(ex.labels) + tok.eos_token
        prompt = tok.decode(batch.input_ids[b][~answer & ~batch.slot_mask[b] & batch.attention_mask[b].bool()])
        for u in ex.utterances:
            assert f'({u.start:.2f}-{u.end:.2f} s) "{u.text}" Audio:' in prompt
        assert prompt.rstrip().endswith("Answer:")
        k = cfg.model.acoustic.num_queries
        assert int(batch.slot_mask[b].sum()) == cfg.model.visual.num_queries + k + k * len(ex.utterances)
    # windows follow Eq. (1) on the cached frame rate
    first = examples[0].utterances[0]
    assert batch.window_begin[0] == int(first.start * 50) and batch.window_end[0] == int(-(-first.end * 50 // 1))


def test_encoder_keys_resolve_by_name_or_alone(corpus, tmp_path):
    cache = FeatureCache(corpus["cache"])
    assert resolve_key(cache, "audio", None) == corpus["audio_key"]
    assert resolve_key(cache, "audio", "randaudio") == corpus["audio_key"]
    with pytest.raises(InputError, match="no audio key 'whisper'"):
        resolve_key(cache, "audio", "whisper")
    cache.register("audio", StandInEncoder("randaudio", 32, 50.0))  # a second key of the same name
    with pytest.raises(InputError, match="several audio keys"):
        resolve_key(cache, "audio", "randaudio")
    assert resolve_key(cache, "audio", corpus["audio_key"]) == corpus["audio_key"]


def test_missing_features_stop_before_training_naming_the_sample(corpus, tmp_path):
    lines = corpus["train"].read_text().splitlines()
    extra = json.loads(lines[0])
    extra["id"], extra["media"] = "unextracted", "media/unextracted.bin"
    (corpus["train"].parent / "media" / "unextracted.bin").write_bytes(b"new media, never encoded")
    manifest = corpus["train"].parent / "with-missing.jsonl"
    manifest.write_text("\n".join(lines + [json.dumps(extra)]) + "\n")
    with pytest.raises(InputError, match="sample 'unextracted', field 'media': no audio features"):
        FeatureDataset.from_manifest(manifest, corpus["cache"], audio_key=corpus["audio_key"], visual_key=None,
                                     use_visual=False)


def test_feature_sizes_must_match_the_model(corpus):
    cfg = load_config("tiny", [f"train.cache_dir={corpus['cache']}", "model.audio_dim=32",
                               f"train.audio_key={corpus['audio_key']}"])
    with pytest.raises(ConfigError, match="model.audio_dim=32"):
        dataset_for(cfg, corpus["train"], require_labels=True)


def test_audio_only_media_get_one_no_face_frame(tmp_path):
    corpus = make_corpus(tmp_path, sizes=(("train", 1),))
    cache = FeatureCache(corpus["cache"])
    sample = read_manifest(corpus["train"])[0]
    cache.put("visual", corpus["visual_key"], cache.media_hash(sample.media_path), torch.zeros(0, 8), 2.0)
    ds = FeatureDataset.from_manifest(corpus["train"], corpus["cache"], audio_key=None, visual_key=None,
                                      use_visual=True)
    assert torch.equal(ds[0].visual, torch.zeros(1, 8))


def test_merged_manifests_prefix_ids_and_keep_media_paths_relative(tmp_path):
    from acoustemo.data.manifest import Sample, merge_manifests, read_manifest, write_manifest

    for corpus in ("a", "b"):
        (tmp_path / corpus / "audio").mkdir(parents=True)
        (tmp_path / corpus / "audio" / "x.wav").write_bytes(corpus.encode())
        write_manifest(tmp_path / corpus / "train.jsonl", [Sample("x", "audio/x.wav", labels=["calm"])])
    merged = merge_manifests(tmp_path / "train.jsonl", {c: tmp_path / c / "train.jsonl" for c in ("a", "b")})
    assert [s.id for s in merged] == ["a/x", "b/x"]  # same id in two corpora: prefixed, no clash
    back = read_manifest(tmp_path / "train.jsonl", check_media=True)
    assert [s.media for s in back] == ["a/audio/x.wav", "b/audio/x.wav"]
    assert back[1].media_path.read_bytes() == b"b"
    with pytest.raises(InputError, match="not inside"):
        merge_manifests(tmp_path / "a" / "audio" / "m.jsonl", {"b": tmp_path / "b" / "train.jsonl"})


def test_merging_keeps_speakers_and_with_keep_ids_the_ids(tmp_path):
    from acoustemo.cli import main
    from acoustemo.data.manifest import Sample, merge_manifests, read_manifest, write_manifest

    for corpus, ids in (("a", ["x", "y"]), ("b", ["z"])):
        (tmp_path / corpus / "audio").mkdir(parents=True)
        for i in ids:
            (tmp_path / corpus / "audio" / f"{i}.wav").write_bytes(i.encode())
        write_manifest(tmp_path / corpus / "train.jsonl",
                       [Sample(i, f"audio/{i}.wav", labels=["calm"], speaker=f"{corpus}_01") for i in ids])
    merged = merge_manifests(tmp_path / "m.jsonl", {"a": tmp_path / "a" / "train.jsonl"})
    assert [(s.id, s.speaker) for s in merged] == [("a/x", "a_01"), ("a/y", "a_01")]
    assert main(["merge", "--keep-ids", "--out", str(tmp_path / "all.jsonl"), str(tmp_path / "a" / "train.jsonl"),
                 str(tmp_path / "b" / "train.jsonl")]) == 0
    back = read_manifest(tmp_path / "all.jsonl", check_media=True)
    assert [(s.id, s.media, s.speaker) for s in back] == [("x", "a/audio/x.wav", "a_01"), ("y", "a/audio/y.wav", "a_01"),
                                                          ("z", "b/audio/z.wav", "b_01")]
    with pytest.raises(InputError, match=r"sample 'x', field 'id': also in"):
        merge_manifests(tmp_path / "dup.jsonl", {"1": tmp_path / "a" / "train.jsonl",
                                                 "2": tmp_path / "a" / "train.jsonl"}, keep_ids=True)
    (tmp_path / "bad.jsonl").write_text('{"id": "q", "media": "a/audio/x.wav", "speaker": ""}\n')
    with pytest.raises(InputError, match=r"sample 'q', field 'speaker': not a non-empty string"):
        read_manifest(tmp_path / "bad.jsonl")


def test_utterance_labels_round_trip_and_bad_ones_name_the_field(tmp_path):
    from acoustemo.data.manifest import Sample, Utterance, read_manifest, write_manifest
    from acoustemo.errors import InputError

    samples = [Sample("d1", "a.flac", [Utterance(0.1, 1.0, "Hello.", ("calm",)),
                                       Utterance(1.2, 2.0, "Go away.", ("angry", "annoyed"))], ["angry", "annoyed"]),
               Sample("d2", "b.flac", [Utterance(0.0, 1.0, "No labels here.")], ["calm"])]
    write_manifest(tmp_path / "m.jsonl", samples)
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert rows[0]["utterances"][1]["labels"] == ["angry", "annoyed"]
    assert "labels" not in rows[1]["utterances"][0]  # unknown stays absent, not null
    back = read_manifest(tmp_path / "m.jsonl")
    assert [u.labels for s in back for u in s.utterances] == [("calm",), ("angry", "annoyed"), None]
    for bad in ('"calm"', "[]", '[""]', "[1]"):
        (tmp_path / "bad.jsonl").write_text('{"id": "x", "media": "a.flac", "utterances": '
                                            f'[{{"start": 0, "end": 1, "labels": {bad}}}]}}\n')
        with pytest.raises(InputError, match=r"bad.jsonl:1: sample 'x', field 'utterances\[0\].labels': not a "
                                             r"non-empty list"):
            read_manifest(tmp_path / "bad.jsonl")
