import json
from pathlib import Path
import math

import pytest
import torch
from safetensors.torch import load_file

from acoustemo.cache.store import FeatureCache
from acoustemo.config import load_config
from acoustemo.errors import ConfigError
from acoustemo.training import train
from acoustemo.training.optim import build_scheduler, epoch_batches, rank_micro_batches

from conftest import assert_same_weights, make_corpus, tiny_train_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_validation_loss_and_writes_its_files(corpus, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_train_config(corpus, out, "train.lr=0.003", "train.epochs=2", "train.eval_every=2",
                            "train.save_every=5")
    result = train(cfg, progress=False)
    assert result.step == result.total_steps == 16  # 16 samples / batch 2, two epochs
    log = _log(out)
    steps = [r for r in log if "loss" in r]
    vals = [r["val_loss"] for r in log if "val_loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 17))
    assert len(vals) == 8 and vals[-1] < vals[0] - 0.3, vals
    # transformers' warm-up from 0 over ceil(5 % of 16) = 1 step, then cosine decay from the peak
    lrs = [r["lr"] for r in steps]
    assert lrs[0] == 0.0 and lrs[1] == pytest.approx(3e-3)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] < 1e-4
    # checkpoints: safetensors + JSON/YAML only, the newest two kept (save_every=5: steps 10, 15, and the end)
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["step-000015", "step-000016"]
    files = sorted(p.name for p in (out / "checkpoints" / "step-000016").iterdir())
    assert files == ["config.yaml", "optimizer.json", "optimizer.safetensors", "rng-rank0.safetensors",
                     "scheduler.json", "state.json", "trainable.safetensors"]
    weights = load_file(str(out / "final" / "trainable.safetensors"))
    assert any(k.startswith("qformers.utterance.") for k in weights) and any("lora_" in k for k in weights)
    assert not any("base_layer" in k or "embed_tokens" in k for k in weights)  # frozen LLM weights stay out
    saved = load_config(out / "final" / "config.yaml")
    assert saved.model == cfg.model and saved.train.lr == cfg.train.lr
    # the saved config names the exact cache entries (encoder name + settings hash), not just "audio"
    assert saved.train.audio_key in FeatureCache(cfg.train.cache_dir).keys("audio")


def test_resume_gives_the_weights_of_an_uninterrupted_run(corpus, tmp_path):
    # dropout on, so that the restored RNG state matters too
    extra = ("train.epochs=2", "train.max_steps=10", "train.save_every=3", "model.acoustic.dropout=0.2",
             "model.lora.dropout=0.2")
    whole = train(tiny_train_config(corpus, tmp_path / "whole", *extra), progress=False)
    cfg = tiny_train_config(corpus, tmp_path / "parts", *extra)
    stopped = train(cfg, stop_after=7, progress=False)  # epoch 0 has 8 steps: resume mid-epoch
    assert stopped.step == 7 and stopped.final is None
    resumed = train(cfg, resume="latest", progress=False)
    assert resumed.step == 10
    a = load_file(str(whole.final / "trainable.safetensors"))
    b = load_file(str(resumed.final / "trainable.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # the resumed log continues the first one: one row per step, losses equal to the uninterrupted run's
    la = [r["loss"] for r in _log(tmp_path / "whole") if "loss" in r]
    lb = [r["loss"] for r in _log(tmp_path / "parts") if "loss" in r]
    assert lb == pytest.approx(la, abs=1e-6)


def test_resume_refuses_a_changed_recipe(corpus, tmp_path):
    train(tiny_train_config(corpus, tmp_path, "train.max_steps=2"), progress=False)
    with pytest.raises(ConfigError, match="train.lr"):
        train(tiny_train_config(corpus, tmp_path, "train.max_steps=2", "train.lr=0.01"), resume="latest",
              progress=False)


def test_gradient_accumulation_equals_one_big_batch(corpus, tmp_path):
    runs = {}
    for bs, acc in ((4, 1), (2, 2), (1, 4)):
        r = train(tiny_train_config(corpus, tmp_path / f"b{bs}", f"train.batch_size={bs}", f"train.grad_accum={acc}",
                                    "train.max_steps=3", "train.lr=0.003"), progress=False)
        runs[bs] = load_file(str(r.final / "trainable.safetensors"))
    assert_same_weights(runs[4], runs[2], lr=0.003)
    assert_same_weights(runs[4], runs[1], lr=0.003)


def test_data_order_is_a_function_of_seed_epoch_and_rank():
    a, b = epoch_batches(10, 4, seed=1, epoch=0), epoch_batches(10, 4, seed=1, epoch=1)
    assert a == epoch_batches(10, 4, seed=1, epoch=0) and a != b
    assert len(a) == 2 and len({i for batch in a for i in batch}) == 8  # remainder of 2 left out
    g = list(range(8))
    assert rank_micro_batches(g, 0, 2, 2) == [[0, 1], [2, 3]] and rank_micro_batches(g, 1, 2, 2) == [[4, 5], [6, 7]]


def lr_factors(schedule: str, total: int, warmup_ratio: float) -> list[float]:
    """The learning rate of each optimizer step, as a multiple of the peak (what the training loop reads)."""
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, schedule=schedule, total_steps=total, warmup_ratio=warmup_ratio)
    out = []
    for _ in range(total):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def test_learning_rate_schedule_is_section_4_1s_warm_up_then_cosine():
    f = lr_factors("cosine", 100, 0.05)  # 5 warm-up steps
    assert f[:6] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])  # linear from 0 to the peak
    assert f[5 + 95 // 2] == pytest.approx(0.5 * (1 + math.cos(math.pi * (95 // 2) / 95)))
    assert f[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 94 / 95)))
    assert all(a >= b for a, b in zip(f[5:], f[6:]))  # never rises after the warm-up
    assert lr_factors("linear", 100, 0.05)[-1] == pytest.approx(1 / 95)
    assert set(lr_factors("constant", 10, 0.0)) == {1.0}


def test_a_sigkilled_run_resumes_to_the_same_weights(corpus, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    extra = ["train.max_steps=12", "train.save_every=2", "train.batch_size=1"]
    whole = train(tiny_train_config(corpus, tmp_path / "whole", *extra), progress=False)
    out = tmp_path / "killed"
    args = [f"--train.train_manifest={corpus['train']}", f"--train.validation_manifest={corpus['validation']}",
            f"--train.cache_dir={corpus['cache']}", f"--train.output_dir={out}", *[f"--{e}" for e in extra]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "acoustemo.cli", "train", "--config", "tiny", "--quiet", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoints" / "step-000004").is_dir() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "final").exists()
    resumed = train(tiny_train_config(corpus, out, *extra), resume="latest", progress=False)
    a = load_file(str(whole.final / "trainable.safetensors"))
    b = load_file(str(resumed.final / "trainable.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_a_fresh_run_refuses_an_output_dir_with_checkpoints(corpus, tmp_path):
    train(tiny_train_config(corpus, tmp_path, "train.max_steps=2"), progress=False)
    with pytest.raises(ConfigError, match="earlier run; continue it with --resume"):
        train(tiny_train_config(corpus, tmp_path, "train.max_steps=2"), progress=False)


def test_resume_survives_a_log_line_cut_short_by_a_kill(corpus, tmp_path):
    cfg = tiny_train_config(corpus, tmp_path, "train.max_steps=4", "train.save_every=2")
    train(cfg, stop_after=2, progress=False)
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"step": 3, "epoch": 0, "lo')  # a write the kill interrupted
    resumed = train(cfg, resume="latest", progress=False)
    assert resumed.step == 4
    assert [r["step"] for r in _log(tmp_path) if "loss" in r] == [1, 2, 3, 4]


def test_grouping_by_length_batches_similar_samples_and_keeps_the_same_samples():
    lengths = [i % 5 + 1 for i in range(40)]
    plain = epoch_batches(40, 4, seed=3, epoch=0)
    grouped = epoch_batches(40, 4, seed=3, epoch=0, lengths=lengths, group=5)
    assert sorted(i for b in grouped for i in b) == sorted(i for b in plain for i in b)  # same samples, whole batches
    spread = lambda batches: sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)  # noqa: E731
    assert spread(grouped) < spread(plain) / 2
    assert grouped == epoch_batches(40, 4, seed=3, epoch=0, lengths=lengths, group=5)  # a function of seed and epoch


def test_deepspeed_settings_come_from_the_training_config():
    from types import SimpleNamespace

    from acoustemo.config import load_config
    from acoustemo.errors import ConfigError
    from acoustemo.training.loop import configure_deepspeed

    cfg = load_config("tiny", ["train.batch_size=3", "train.max_grad_norm=0.5"])
    ds = {"train_micro_batch_size_per_gpu": "auto", "zero_optimization": {"stage": 2}}
    acc = SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=SimpleNamespace(deepspeed_config=ds)))
    configure_deepspeed(acc, cfg)
    assert ds["train_micro_batch_size_per_gpu"] == 3 and ds["gradient_clipping"] == 0.5
    ds["gradient_clipping"] = 1.0  # a DeepSpeed file that fixes another value is refused, not overridden
    with pytest.raises(ConfigError, match="gradient_clipping=1.0"):
        configure_deepspeed(acc, cfg)


def test_shipped_accelerate_configs_leave_accumulation_to_the_training_config():
    import yaml

    folder = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
    files = sorted(folder.glob("*.yaml"))
    assert {f.name for f in files} >= {"fsdp.yaml", "deepspeed-zero2.yaml", "deepspeed-zero3.yaml"}
    for f in files:
        conf = yaml.safe_load(f.read_text())
        ds = conf.get("deepspeed_config", {})
        assert "gradient_accumulation_steps" not in ds and "gradient_clipping" not in ds, f.name
        assert conf["distributed_type"] in ("FSDP", "DEEPSPEED"), f.name
