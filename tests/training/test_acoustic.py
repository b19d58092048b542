"""Stage 1: the acoustic Q-Formers against the label vocabulary, and the LLM stage starting from them."""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from acoustemo.model import AcoustEmo
from acoustemo.training import train
from acoustemo.io import QFORMER_WEIGHTS
from acoustemo.training.acoustic import (AcousticClassifier, collate_acoustic, fit_acoustic,
                                         label_vocabulary, soft_cross_entropy)

from conftest import make_example, tiny_config
from conftest import make_corpus, tiny_train_config

pytestmark = pytest.mark.usefixtures("one_thread")


def stage_one(cfg, *, out=None, epochs=None, seed=None, progress=False, **settings):
    """:func:`fit_acoustic` with ``settings`` of ``train.acoustic`` changed (batch_size=8, probe_init=True, ...)."""
    acoustic = dataclasses.replace(cfg.train.acoustic, **settings)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, acoustic=acoustic))
    return fit_acoustic(cfg, out, epochs=epochs, seed=seed, progress=progress)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("acoustic"), sizes=(("train", 24), ("validation", 8), ("test", 4)))


def test_pooling_lets_one_window_decide_and_ignores_other_samples():
    model = AcousticClassifier(tiny_config(use_visual=False), ["happy", "sad", "calm"]).eval()
    a, b = make_example("a", seed=1), make_example("b", seed=2)
    vocab = {"happy": 0, "sad": 1, "calm": 2}
    together = model(collate_acoustic([a, b], model.config, vocab))
    alone = model(collate_acoustic([a], model.config, vocab))
    torch.testing.assert_close(together[:1], alone, rtol=1e-5, atol=1e-5)  # samples never mix in the pooling
    batch = collate_acoustic([a, b], model.config, vocab)
    assert batch.targets.tolist() == [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]  # make_example labels: happy, calm
    assert batch.window_sample.tolist() == [0, 0, 1, 1]


def test_soft_cross_entropy_spreads_the_target_over_a_samples_labels():
    logits = torch.tensor([[2.0, 2.0, -10.0]])
    loss = soft_cross_entropy(logits, torch.tensor([[1.0, 1.0, 0.0]]))
    assert float(loss) == pytest.approx(-torch.log_softmax(logits, 1)[0, :2].mean().item())


def test_stage_one_learns_the_labels_and_saves_weights_under_acoustemos_names(corpus, tmp_path):
    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false")
    result = stage_one(cfg, epochs=12, batch_size=8, lr=3e-3, out=tmp_path / "s1", progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["val_top1"] > 0.5  # four classes with a strong offset in their windows
    weights = load_file(str(tmp_path / "s1" / QFORMER_WEIGHTS))
    assert weights and all(k.startswith(("qformers.global.", "qformers.utterance.")) for k in weights)
    warm = AcoustEmo.from_config(tiny_config(use_visual=False, qformer_weights=str(tmp_path / "s1" / QFORMER_WEIGHTS)))
    own = dict(warm.named_parameters())
    for k, v in weights.items():
        torch.testing.assert_close(own[k].detach(), v)
    assert label_vocabulary([]) == []


def test_train_runs_stage_one_first_and_the_llm_stage_starts_from_it(corpus, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_train_config(corpus, out, "model.use_visual=false", "train.acoustic.epochs=2", "train.max_steps=2")
    result = train(cfg, progress=False)
    assert (out / "acoustic" / QFORMER_WEIGHTS).is_file() and result.final is not None
    saved = (result.final / "config.yaml").read_text()
    assert f"qformer_weights: {out / 'acoustic' / QFORMER_WEIGHTS}" in saved
    # a second run into the same folder reuses stage 1 (and refuses other stage-1 settings)
    from acoustemo.errors import ConfigError
    from acoustemo.training.loop import acoustic_stage

    assert acoustic_stage(cfg, progress=False).model.qformer_weights == str(out / "acoustic" / QFORMER_WEIGHTS)
    changed = tiny_train_config(corpus, out, "model.use_visual=false", "train.acoustic.epochs=3", "train.max_steps=2")
    with pytest.raises(ConfigError, match="stage 1 was trained with other settings"):
        acoustic_stage(changed, progress=False)


def test_a_frozen_probe_keeps_its_projection_and_the_head_reloads(corpus, tmp_path):
    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true")
    a = stage_one(cfg, epochs=2, batch_size=8, lr=3e-3, probe_init=True, freeze_probe=True, seed=0,
                     out=tmp_path / "s1", progress=False)
    b = stage_one(cfg, epochs=0, batch_size=8, lr=3e-3, probe_init=True, seed=0, progress=False)  # the probe alone
    for kind, q in a.model.qformers.items():
        other = b.model.qformers[kind]
        torch.testing.assert_close(q.stats_proj[0].weight, other.stats_proj[0].weight)
        torch.testing.assert_close(q.input_mean, other.input_mean)
        assert not torch.equal(q.query_tokens, other.query_tokens)  # the rest trained
    from acoustemo.training.acoustic import load_acoustic, predict_acoustic

    reloaded = load_acoustic(tmp_path / "s1")
    examples = [make_example("x", audio_dim=16, seed=3)]
    torch.testing.assert_close(predict_acoustic(reloaded, examples), predict_acoustic(a.model, examples))


def test_qformers_can_learn_at_a_scaled_rate_in_the_llm_stage():
    from acoustemo.training.optim import weight_decay_groups

    model = AcoustEmo.from_config(tiny_config(use_visual=False))
    groups, names = weight_decay_groups(model, 0.05, lr=1e-3, lr_scales={"qformers.": 0.0})
    params = dict(model.named_parameters())
    assert len(names) == len(set(names)) == sum(len(g["params"]) for g in groups)
    assert set(names) == {n for n, p in params.items() if p.requires_grad}
    order = [p for g in groups for p in g["params"]]
    assert all(params[n] is p for n, p in zip(names, order))
    for g in groups:
        owners = {n.startswith("qformers.") for n, p in params.items() if any(p is q for q in g["params"])}
        assert owners == ({True} if "lr" in g else {False}) and g.get("lr", 0.0) == 0.0
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0, 0.05, 0.0]


def _own_labels(ex, *own):
    from acoustemo.data.manifest import Utterance

    ex.utterances = [Utterance(u.start, u.end, u.text, labels) for u, labels in zip(ex.utterances, own)]
    return ex


def test_each_window_has_its_own_targets_and_logits():
    vocab = {"happy": 0, "sad": 1, "calm": 2}
    a = _own_labels(make_example("a", seed=1), ("calm",), ("happy",))
    b = make_example("b", seed=2)  # utterances without their own labels
    batch = collate_acoustic([a, b], tiny_config(use_visual=False), vocab)
    assert batch.window_targets.tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]]
    # a window's logits are the heads on its slot alone: with one window and no global slot, the sample's own
    cfg = tiny_config(use_visual=False, global_qformer=False)
    cfg.acoustic.stats_token = True
    model = AcousticClassifier(cfg, list(vocab)).eval()
    single = make_example("s", utterances=((0.2, 3.0, "one"),), seed=3)
    logits, own = model.logits(collate_acoustic([single], cfg, vocab))
    torch.testing.assert_close(own, logits)


def test_utterance_labels_train_the_windows_and_fit_the_probe_per_utterance_and_clip(corpus, tmp_path, monkeypatch):
    import dataclasses

    from sklearn.linear_model import LogisticRegression

    from acoustemo.data.manifest import read_manifest, write_manifest

    # the corpus again, with each utterance labelled by its sample's first label
    labelled = {}
    for split in ("train", "validation"):
        samples = read_manifest(corpus[split])
        for s in samples:
            s.utterances = [dataclasses.replace(u, labels=(s.labels[0],)) for u in s.utterances]
        labelled[split] = tmp_path / corpus[split].name
        labelled[split].parent.mkdir(exist_ok=True)
        write_manifest(labelled[split], samples)
    (tmp_path / "media").symlink_to(corpus["train"].parent / "media")  # the copies' media paths stay valid
    cfg = tiny_train_config({**corpus, "train": labelled["train"], "validation": labelled["validation"]},
                            tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true")
    rows = []
    fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit",
                        lambda self, x, y, **kw: rows.append(len(y)) or fit(self, x, y, **kw))
    windows = sum(len(s.utterances) for s in read_manifest(labelled["train"]))
    stage_one(cfg, epochs=1, batch_size=8, probe_init=True, utterance_weight=1.0, progress=False)
    stage_one(cfg, epochs=1, batch_size=8, probe_init=True, utterance_weight=0.0, progress=False)
    stage_one(cfg, epochs=0, batch_size=8, probe_init=True, utterance_weight=1.0, probe_clips=True, progress=False)
    assert rows == [windows, 24, windows + 24]  # one probe row per utterance, per sample, or both
    with pytest.raises(Exception, match="train.acoustic: utterance_weight=-1.0 must be >= 0"):
        tiny_train_config(corpus, tmp_path / "x", "train.acoustic.utterance_weight=-1")


def test_the_probes_regularisation_comes_from_the_config(corpus, tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true")
    strengths = []
    fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda self, x, y, **kw: strengths.append(self.C) or fit(self, x, y, **kw))
    stage_one(cfg, epochs=0, batch_size=8, probe_init=True)
    stage_one(cfg, epochs=0, batch_size=8, probe_init=True, probe_c=0.03)
    assert strengths == [0.1, 0.03]
    with pytest.raises(Exception, match="train.acoustic: probe_c=0.0 must be > 0"):
        tiny_train_config(corpus, tmp_path / "x", "train.acoustic.probe_c=0")


def test_probe_rows_weigh_each_corpus_by_its_id_prefix():
    from acoustemo.errors import ConfigError
    from acoustemo.training.acoustic import probe_rows
    from acoustemo.training.probe import fit_linear_probe

    real = [make_example(f"real/{i}", labels=("happy",) if i % 2 else ("sad",), seed=i) for i in range(6)]
    synth = [make_example(f"synth/{i}", labels=("calm",), seed=10 + i) for i in range(4)]
    vocab = {"happy": 0, "sad": 1, "calm": 2}
    feats, y, w = probe_rows(real + synth, vocab)
    assert len(feats) == 10 and w == [1.0] * 10 and feats[0].shape == (32,)  # mean and std of 16 dims
    feats, y, w = probe_rows(real + synth, vocab, weights={"synth": 0.25})
    assert w == [1.0] * 6 + [0.25] * 4 and y[6:] == [2] * 4
    feats, y, w = probe_rows(real + synth, vocab, weights={"synth": 0})  # left out, and so is its class
    assert len(feats) == 6 and 2 not in y
    _, _, classes, _ = fit_linear_probe(feats, y, sample_weight=w)
    assert classes == [0, 1]
    with pytest.raises(ConfigError, match=r"no training sample's id starts with synt/ \(prefixes: real, synth\)"):
        probe_rows(real + synth, vocab, weights={"synt": 0.1})
    with pytest.raises(ConfigError, match="leaves the probe no training rows"):
        probe_rows(real, vocab, weights={"real": 0})


def test_balanced_probe_rows_give_every_class_the_same_weight_and_keep_the_mean():
    from acoustemo.config import AcousticConfig
    from acoustemo.errors import ConfigError
    from acoustemo.training.acoustic import probe_rows

    # 6 calm rows, 3 happy, 1 sad; synth rows at a quarter before balancing
    examples = ([make_example(f"real/{i}", labels=("calm",), seed=i) for i in range(4)]
                + [make_example(f"real/h{i}", labels=("happy",), seed=10 + i) for i in range(3)]
                + [make_example("real/s", labels=("sad",), seed=20)]
                + [make_example(f"synth/{i}", labels=("calm",), seed=30 + i) for i in range(2)])
    vocab = {"happy": 0, "sad": 1, "calm": 2}
    for weights in ({}, {"synth": 0.25}):
        _, y, w = probe_rows(examples, vocab, weights=weights, balance=True)
        _, _, plain = probe_rows(examples, vocab, weights=weights)
        per_class = {c: sum(wi for yi, wi in zip(y, w) if yi == c) for c in set(y)}
        assert pytest.approx(list(per_class.values())) == [sum(plain) / 3] * 3
        assert sum(w) == pytest.approx(sum(plain))
        calm = [(wi, pi) for yi, wi, pi in zip(y, w, plain) if yi == 2]  # within a class the ratios are kept
        assert all(wi / pi == pytest.approx(calm[0][0] / calm[0][1]) for wi, pi in calm)
    with pytest.raises(ConfigError, match="probe_balance needs probe_init"):
        AcousticConfig(probe_balance=True)


def test_label_init_puts_each_statistics_token_nearest_its_own_label_word(corpus, tmp_path):
    from acoustemo.data.dataset import dataset_for
    from acoustemo.training.acoustic import init_projections_from_labels

    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true")
    stage_one(cfg, epochs=0, batch_size=8, probe_init=True, out=tmp_path / "s1", progress=False)
    model = AcoustEmo.from_config(dataclasses.replace(cfg.model, qformer_weights=str(tmp_path / "s1" / QFORMER_WEIGHTS)))
    train_ds = dataset_for(cfg, cfg.train.train_manifest, require_labels=True)
    alphas = init_projections_from_labels(model, [train_ds[i] for i in range(len(train_ds))])
    assert set(alphas) == {"global", "utterance"} and all(a > 0 for a in alphas.values())

    val_ds = dataset_for(cfg, cfg.train.validation_manifest, require_labels=True)
    labels = sorted({s.labels[0] for s in train_ds.samples})
    table = model.llm.get_input_embeddings().weight.detach()
    words = torch.stack([table[model.tokenizer(" " + w, add_special_tokens=False).input_ids].mean(0) for w in labels])
    with torch.no_grad():
        for kind in alphas:
            hits = 0
            for i in range(len(val_ds)):
                ex = val_ds[i]
                token = model.projections[kind](model.qformers[kind].stats_tokens(ex.audio[None]))[0]
                cos = torch.nn.functional.normalize(words, dim=1) @ torch.nn.functional.normalize(token, dim=0)
                hits += labels[int(cos.argmax())] == ex.labels[0]
            assert hits >= len(val_ds) - 1, (kind, hits)  # four well-separated classes, eight held-out samples


def test_label_init_needs_trained_statistics_tokens(corpus, tmp_path):
    from acoustemo.errors import ConfigError
    from acoustemo.training.acoustic import init_projections_from_labels

    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "train.projection_init=labels", "train.max_steps=1")
    with pytest.raises(ConfigError, match="projection_init=labels needs trained statistics tokens"):
        train(cfg, progress=False)
    whole = tmp_path / "trainable.safetensors"  # a trained model's tensors: its projections are kept, not replaced
    from safetensors.torch import save_file

    bias = AcoustEmo.from_config(cfg.model).projections["global"].bias
    save_file({"projections.global.bias": torch.zeros_like(bias.detach())}, str(whole))
    with pytest.raises(ConfigError, match="already holds trained projections"):
        train(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, qformer_weights=str(whole))), progress=False)
    with pytest.raises(ConfigError, match="needs statistics tokens"):
        init_projections_from_labels(AcoustEmo.from_config(tiny_config(use_visual=False)), [make_example("a")])


def test_speaker_relative_stage_one_keeps_the_raw_population_and_trains_on_speaker_z_scores(tmp_path):
    from acoustemo.data.dataset import dataset_for, prepared_for
    from acoustemo.data.speakers import population_statistics
    from acoustemo.training.acoustic import predict_acoustic

    corpus = make_corpus(tmp_path / "c", sizes=(("train", 18), ("validation", 6), ("test", 3)), speakers=3)
    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true", "model.speaker_normalization=speaker",
                            "model.speaker_prior_seconds=0")
    result = stage_one(cfg, epochs=2, batch_size=6, lr=3e-3, probe_init=True, freeze_probe=True,
                          out=tmp_path / "s1", progress=False)
    raw = dataset_for(cfg, corpus["train"], require_labels=True)
    population = population_statistics([raw[i] for i in range(len(raw))])
    for q in result.model.qformers.values():  # the population a speaker's baseline is mapped onto: raw frames'
        torch.testing.assert_close(q.input_mean.detach().double(), population.mean, atol=1e-4, rtol=0)
    # prepared as the model reads them: within each speaker, the frames are at the population's mean
    test = prepared_for(dataset_for(cfg, corpus["train"], require_labels=True), result.model)
    for who in ("spk0", "spk1", "spk2"):
        frames = torch.cat([test[i].audio for i in range(len(test)) if test.samples[i].speaker == who]).double()
        torch.testing.assert_close(frames.mean(0), population.mean, atol=1e-4, rtol=0)
    assert torch.isfinite(predict_acoustic(result.model, [test[0]])).all()


def test_speaker_relative_training_names_a_sample_without_speaker(corpus, tmp_path):
    from acoustemo.errors import InputError

    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false",
                            "model.acoustic.input_standardization=true", "model.speaker_normalization=speaker",
                            "train.acoustic.epochs=1", "train.max_steps=1")
    with pytest.raises(InputError, match=r"train.jsonl: sample 'train000', field 'speaker': missing"):
        stage_one(cfg, epochs=1, progress=False)
    with pytest.raises(InputError, match=r"field 'speaker': missing"):
        train(cfg, progress=False)
    # per recording needs no speaker, and the LLM stage runs on the prepared frames
    ok = tiny_train_config(corpus, tmp_path / "rec", "model.use_visual=false",
                           "model.acoustic.input_standardization=true", "model.speaker_normalization=recording",
                           "train.acoustic.epochs=1", "train.max_steps=1")
    assert train(ok, progress=False).final is not None


def test_baseline_dropout_shows_some_samples_raw_the_same_way_in_every_run(tmp_path):
    from acoustemo.data.dataset import dataset_for
    from acoustemo.training.loop import Trainer

    corpus = make_corpus(tmp_path / "c", sizes=(("train", 12), ("validation", 3), ("test", 3)), speakers=3)
    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false",
                            "model.acoustic.input_standardization=true", "model.speaker_normalization=speaker",
                            "train.speaker_baseline_dropout=0.5", "train.batch_size=12", "train.max_steps=1")
    raw = dataset_for(cfg, corpus["train"], require_labels=True)
    trainer = Trainer(cfg, progress=False)
    trainer.setup_data()
    trainer.setup_model()
    (batch,) = trainer.micro_batches(0)
    order = [trainer.train_ds.samples.index(next(s for s in trainer.train_ds.samples if s.id == i)) for i in batch.ids]
    kinds = set()
    for row, i in enumerate(order):
        frames = batch.audio[row, :raw[i].audio.shape[0]]
        is_raw = torch.equal(frames, raw[i].audio)
        assert is_raw or torch.allclose(frames, trainer.train_ds[i].audio)
        kinds.add(is_raw)
    assert kinds == {True, False}  # half of them, drawn: both forms in one batch of 12
    (again,) = trainer.micro_batches(0)
    assert torch.equal(again.audio, batch.audio)  # the same draw for the same step
    stage_one(cfg, epochs=1, batch_size=6, progress=False)  # stage 1 runs with it too


def test_a_run_with_frozen_stage_one_qformers_keeps_the_head_for_the_acoustic_prior(corpus, tmp_path):
    from acoustemo.errors import InputError
    from acoustemo.io import HEAD_WEIGHTS, LABELS_FILE
    from acoustemo.inference.loading import checkpoint_config, load_model
    from acoustemo.training.acoustic import load_acoustic

    frozen = train(tiny_train_config(corpus, tmp_path / "frozen", "model.use_visual=false", "train.acoustic.epochs=1",
                                     "train.qformer_lr_scale=0", "train.max_steps=1"), progress=False)
    assert (frozen.final / HEAD_WEIGHTS).is_file() and (frozen.final / LABELS_FILE).is_file()
    model = load_model(frozen.final, checkpoint_config(frozen.final, overrides=["model.acoustic_prior=2"]))
    stage_one = load_acoustic(tmp_path / "frozen" / "acoustic")
    assert model.acoustic_head.labels == stage_one.labels
    assert model.acoustic_head.probe_labels is None  # no probe_init: no probe rows
    torch.testing.assert_close(model.acoustic_head.head.weight, stage_one.head.weight)
    # Q-Formers trained on in the LLM stage: stage 1's head no longer reads them, so it is not kept
    moved = train(tiny_train_config(corpus, tmp_path / "moved", "model.use_visual=false", "train.acoustic.epochs=1",
                                    "train.max_steps=1"), progress=False)
    assert not (moved.final / HEAD_WEIGHTS).exists()
    assert load_model(moved.final).acoustic_head is None
    with pytest.raises(InputError, match="model.acoustic_prior needs the stage-1 head"):
        load_model(moved.final, checkpoint_config(moved.final, overrides=["model.acoustic_prior=2"]))


def test_a_probe_readout_makes_the_untrained_classifier_answer_as_the_probe(corpus, tmp_path):
    from acoustemo.data.dataset import dataset_for
    from acoustemo.training.acoustic import labelled_windows, predict_acoustic_windows
    from acoustemo.training.probe import fit_predict, window_stats

    from acoustemo.data.manifest import read_manifest, write_manifest

    own = tmp_path / "own.jsonl"  # every utterance labelled: the probe is fitted per utterance window
    write_manifest(own, [dataclasses.replace(s, media=str(s.media_path), root=None, utterances=[
        dataclasses.replace(u, labels=tuple(s.labels)) for u in s.utterances]) for s in read_manifest(corpus["train"])])
    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true", f"train.train_manifest={own}")
    result = stage_one(cfg, epochs=0, probe_init=True, utterance_weight=1.0, probe_readout=True)
    model, vocab = result.model, {w: i for i, w in enumerate(result.model.labels)}
    train_ds = dataset_for(cfg, own, require_labels=True)
    examples = [train_ds[i] for i in range(len(train_ds))]
    q = model.qformers["utterance"]
    rows, y = [], []
    for ex in examples:  # the probe's own rows: each utterance window of the standardised frames
        for label, b, e in labelled_windows(ex, vocab):
            rows.append(window_stats(q.standardize(ex.audio).detach()[b:e]))
            y.append(vocab[label])
    probe = list(fit_predict(rows, y, rows))
    heads = [int(i) for w in predict_acoustic_windows(model, examples) for i in w.argmax(1)]
    assert heads == probe
    # the probe's own scores, from its rows in the statistics projection and its label words, saved and reloaded
    from acoustemo.training.acoustic import collate_acoustic, load_acoustic, save_acoustic

    save_acoustic(model, tmp_path / "s1", cfg, [])
    reloaded = load_acoustic(tmp_path / "s1")
    assert reloaded.probe_labels == model.probe_labels and set(model.probe_labels) <= set(model.labels)
    scores = torch.cat([reloaded.probe_logits(collate_acoustic(examples[i:i + 8], reloaded.config))
                        for i in range(0, len(examples), 8)])
    assert [int(i) for i in scores.argmax(1)] == probe
    # without the readout the untrained heads answer something else
    plain = stage_one(cfg, epochs=0, probe_init=True, utterance_weight=1.0).model
    assert [int(i) for w in predict_acoustic_windows(plain, examples) for i in w.argmax(1)] != probe


def test_attention_pooled_statistics_let_one_window_carry_the_sample():
    labels = ["happy", "sad", "calm"]
    base = tiny_config()
    cfg = tiny_config(use_visual=False, stats_pooling="attention",
                      acoustic=dataclasses.replace(base.acoustic, stats_token=True))
    ex = make_example("a", seed=3)
    batch = collate_acoustic([ex], cfg, {w: i for i, w in enumerate(labels)})
    torch.manual_seed(0)
    model = AcousticClassifier(cfg, labels).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()  # the statistics head alone decides
        vectors = model.norm(model.slot_tokens(batch)[0].mean(1))
        model.pool_query.copy_(vectors[-1] * 1e3)  # all the attention on the last window
        logits, own = model.logits(batch)
    torch.testing.assert_close(logits[0], own[-1], rtol=1e-4, atol=1e-4)
    mean = AcousticClassifier(dataclasses.replace(cfg, stats_pooling="mean"), labels).eval()
    mean.load_state_dict({k: v for k, v in model.state_dict().items() if k != "stats_log_scale"})
    with torch.no_grad():
        logits, own = mean.logits(batch)
    assert not torch.allclose(logits[0], own[-1], atol=1e-3)  # averaged over the global slot and both windows


def test_pooling_only_keeps_every_windows_probe_answer_and_learns_the_pooling(corpus, tmp_path):
    from acoustemo.errors import ConfigError
    from acoustemo.training.acoustic import predict_acoustic_windows

    cfg = tiny_train_config(corpus, tmp_path / "run", "model.use_visual=false", "model.acoustic.stats_token=true",
                            "model.acoustic.input_standardization=true", "model.stats_pooling=attention")
    settings = dict(probe_init=True, utterance_weight=1.0, probe_readout=True, batch_size=8, dropout=0.0)
    start = stage_one(cfg, epochs=0, **settings).model
    trained = stage_one(cfg, epochs=3, lr=3e-3, pooling_only=True, **settings).model
    examples = [make_example(f"x{i}", seed=10 + i) for i in range(4)]
    for before, after in zip(predict_acoustic_windows(start, examples), predict_acoustic_windows(trained, examples)):
        # each window ranks the labels as the read-out probe does (the learnt scale only sharpens its scores)
        assert torch.equal(before.argsort(1), after.argsort(1))
    assert not torch.equal(start.pool_query, trained.pool_query)
    assert start.stats_log_scale.item() > 0  # the read-out's scores, flattened by the layer norm, are sharpened
    mean = tiny_train_config(corpus, tmp_path / "mean", "model.use_visual=false", "model.acoustic.stats_token=true",
                             "model.acoustic.input_standardization=true")
    with pytest.raises(ConfigError, match="pooling_only needs model.stats_pooling=attention"):
        stage_one(mean, epochs=1, pooling_only=True, **settings)
    with pytest.raises(ConfigError, match="pooling_only needs probe_readout"):
        stage_one(cfg, epochs=1, pooling_only=True, probe_init=True)


def test_the_llm_run_keeps_the_probes_label_words_beside_the_head_where_stage_one_wrote_them(tmp_path):
    from acoustemo.config import load_config
    from acoustemo.io import HEAD_WEIGHTS, LABELS_FILE, PROBE_LABELS_FILE, QFORMER_WEIGHTS
    from acoustemo.training.loop import keep_acoustic_head

    stage_one, final = tmp_path / "acoustic", tmp_path / "final"
    stage_one.mkdir()
    final.mkdir()
    for name, text in ((QFORMER_WEIGHTS, "q"), (HEAD_WEIGHTS, "h"), (LABELS_FILE, '["sad"]')):
        (stage_one / name).write_text(text)
    cfg = load_config("tiny", [f"model.qformer_weights={stage_one / QFORMER_WEIGHTS}", "train.qformer_lr_scale=0"])
    assert keep_acoustic_head(final, cfg)
    assert sorted(p.name for p in final.iterdir()) == sorted([HEAD_WEIGHTS, LABELS_FILE])  # no probe: none kept
    (stage_one / PROBE_LABELS_FILE).write_text('["sad"]')
    assert keep_acoustic_head(final, cfg) and (final / PROBE_LABELS_FILE).read_text() == '["sad"]'
