import pytest

from acoustemo.config import Config, PRESETS, load_config
from acoustemo.errors import ConfigError


def test_paper_preset_is_the_recipe_of_section_4_1():
    cfg = Config.from_name("paper")
    m, t = cfg.model, cfg.train
    assert m.llm == "meta-llama/Llama-2-7b-hf" and m.audio_dim == 1024 and m.visual_dim == 1408
    assert m.acoustic.num_queries == 32 and m.acoustic.hidden_size == 768 and m.max_length == 1024
    assert (t.lr, t.betas, t.weight_decay, t.warmup_ratio, t.schedule, t.epochs) == (
        2e-5, (0.9, 0.999), 0.05, 0.05, "cosine", 3)
    assert m.global_qformer and m.utterance_qformer and m.windows == "utterance"
    assert not m.train_global_qformer and not m.train_visual_qformer


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_round_trips_through_yaml(name, tmp_path):
    cfg = Config.from_name(name)
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


def test_yaml_with_base_preset_and_command_line_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: tiny\nmodel:\n  windows: fixed\n  acoustic:\n    num_queries: 8\ntrain:\n  lr: 0.01\n")
    cfg = load_config(path, ["model.acoustic.num_queries=2", "--train.betas=[0.8, 0.9]", "model.use_visual=false"])
    assert cfg.model.llm == "tiny" and cfg.model.windows == "fixed"
    assert cfg.model.acoustic.num_queries == 2 and cfg.train.lr == 0.01 and cfg.train.betas == (0.8, 0.9)
    assert cfg.model.use_visual is False
    assert load_config("tiny", ["train.lr=1e-4"]).train.lr == 1e-4  # YAML reads 1e-4 as a string


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.acoustic.num_querys=4"], r"model.acoustic.num_querys: unknown key \(did you mean 'num_queries'\?\)"),
        (["model.windows=sliding"], "model.windows: 'sliding' is not one of 'utterance', 'fixed'"),
        (["model.acoustic.num_queries=0"], "model.acoustic: num_queries=0 must be > 0"),
        (["model.acoustic.num_heads=5"], "not divisible by num_heads=5"),
        (["model.acoustic.num_queries=2.5"], "model.acoustic.num_queries: expected an integer"),
        (["train.lr=fast"], "train.lr: expected a number, got 'fast'"),
        (["model.global_qformer=false", "model.utterance_qformer=false"], "no acoustic tokens"),
        (["train.betas=[0.9]"], "train.betas: expected 2 values"),
        (["train.warmup_ratio=1.5"], "warmup_ratio=1.5"),
        (["model.lora.dropout=1"], "lora.dropout=1.0"),
        (["nonsense"], "expected key.sub=value"),
        (["train.acoustic.probe_weights=[0.1]"], "train.acoustic.probe_weights: expected a mapping"),
        (["train.acoustic.probe_init=true", "train.acoustic.probe_weights={synth: low}"],
         r"train.acoustic.probe_weights.synth: expected a number, got 'low'"),
        (["train.acoustic.probe_init=true", "train.acoustic.probe_weights={synth: -1}"],
         r"train.acoustic: probe_weights.synth=-1.0 must be >= 0"),
        (["train.acoustic.probe_weights={synth: 0.1}"], "train.acoustic: probe_weights needs probe_init"),
    ],
)
def test_bad_values_raise_a_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", overrides)


def test_a_mapping_setting_round_trips_through_yaml(tmp_path):
    cfg = load_config("tiny", ["train.acoustic.probe_init=true", "train.acoustic.probe_weights={synth: 0.1, emodb: 2}"])
    assert cfg.train.acoustic.probe_weights == {"synth": 0.1, "emodb": 2.0}
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    assert Config.from_file(tmp_path / "c.yaml") == cfg
    assert load_config("tiny").train.acoustic.probe_weights == {}


def test_unknown_preset_and_missing_file():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        Config.from_name("huge")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("does/not/exist.yaml")


def test_settings_diff_names_nested_keys_and_keeps_to_a_named_set(tmp_path):
    from dataclasses import replace

    from acoustemo.config import STAGE_ONE_SETTINGS, TRAJECTORY_SETTINGS, settings_diff

    cfg = load_config("tiny")
    other = replace(cfg, model=replace(cfg.model, lora=replace(cfg.model.lora, rank=cfg.model.lora.rank + 1)),
                    train=replace(cfg.train, lr=cfg.train.lr * 2, eval_batch_size=cfg.train.eval_batch_size + 1,
                                  acoustic=replace(cfg.train.acoustic, probe_init=True, probe_weights={"synth": 0.1})))
    assert settings_diff(cfg, other) == ["model.lora.rank", "train.acoustic.probe_init", "train.acoustic.probe_weights",
                                         "train.eval_batch_size", "train.lr"]
    assert settings_diff(cfg, cfg) == []
    # a section stands for all its settings; what is not named does not count
    assert settings_diff(cfg, other, TRAJECTORY_SETTINGS) == ["model.lora.rank", "train.lr"]
    assert settings_diff(cfg, other, STAGE_ONE_SETTINGS) == ["model.lora.rank", "train.acoustic.probe_init",
                                                             "train.acoustic.probe_weights"]
    # a config read back from YAML (tuples become lists) is the same config
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    assert settings_diff(load_config(tmp_path / "c.yaml"), cfg) == []


def test_stage_one_settings_written_before_their_section_still_load(tmp_path):
    """Saved runs and older YAML files name stage 1's settings train.acoustic_epochs etc.; they read as the
    section's, and the same setting given both ways is an error."""
    (tmp_path / "old.yaml").write_text("preset: tiny\ntrain:\n  acoustic_epochs: 12\n  acoustic_probe_init: true\n")
    old = load_config(tmp_path / "old.yaml")
    assert old.train.acoustic.epochs == 12 and old.train.acoustic.probe_init
    assert old == load_config("tiny", ["train.acoustic.epochs=12", "train.acoustic.probe_init=true"])
    assert load_config("tiny", ["train.acoustic_lr=0.001"]).train.acoustic.lr == 0.001
    with pytest.raises(ConfigError, match="train.acoustic_epochs and train.acoustic.epochs: the same setting twice"):
        load_config("tiny", ["train.acoustic_epochs=1", "train.acoustic.epochs=2"])


def test_acoustic_prior_overrides_take_a_weight_and_a_source():
    from acoustemo.config import acoustic_prior_overrides

    assert acoustic_prior_overrides(None) == []
    assert acoustic_prior_overrides("none") == ["model.acoustic_prior=null"]
    assert acoustic_prior_overrides("2") == ["model.acoustic_prior=2"]
    cfg = load_config("tiny", acoustic_prior_overrides("1000:probe"))
    assert (cfg.model.acoustic_prior, cfg.model.acoustic_prior_source) == (1000.0, "probe")
