import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from acoustemo.training import train

from conftest import assert_same_weights, make_corpus, tiny_train_config

WORKER = Path(__file__).parent / "ddp_worker.py"

pytestmark = pytest.mark.usefixtures("one_thread")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_processes_match_one_process_with_the_same_global_batch(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", sizes=(("train", 12), ("validation", 3), ("test", 1)))
    common = ["train.max_steps=3", "train.lr=0.003", "train.eval_every=3"]
    ddp_out = tmp_path / "ddp"
    ddp_out.mkdir()
    overrides = [f"train.train_manifest={corpus['train']}", f"train.validation_manifest={corpus['validation']}",
                 f"train.cache_dir={corpus['cache']}", f"train.output_dir={ddp_out / 'run'}", "train.batch_size=2",
                 *common]
    # torchrun sets RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT; accelerate reads them and, on CPU, uses gloo
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(WORKER), str(ddp_out), *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true", "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [load_file(str(ddp_out / f"rank{r}.safetensors")) for r in (0, 1)]
    with safe_open(str(ddp_out / "rank1.safetensors"), "pt") as f:
        assert f.metadata()["world_size"] == "2"  # really two processes
    for k in ranks[0]:  # DDP keeps the replicas bit-identical
        assert (ranks[0][k] == ranks[1][k]).all(), k
    single = train(tiny_train_config(corpus, tmp_path / "single", "train.batch_size=4", *common), progress=False)
    assert_same_weights(load_file(str(single.final / "trainable.safetensors")), ranks[0], lr=0.003)
    # the validation loss is reduced over both processes' shards: the same as one process over all samples
    ddp_val = [line for line in (ddp_out / "run" / "log.jsonl").read_text().splitlines() if "val_loss" in line]
    assert abs(float(ddp_val[-1].split('"val_loss": ')[1].rstrip("}")) - single.val_loss) < 1e-4


FSDP_WORKER = Path(__file__).parent / "fsdp_worker.py"


def test_fsdp_checkpoint_gathers_whole_tensors_and_restores_into_shards(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(FSDP_WORKER), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with safe_open(str(tmp_path / "result.safetensors"), "pt") as f:
        meta = f.metadata()
    t = load_file(str(tmp_path / "result.safetensors"))
    names = meta["names"].split(",")
    assert meta["world_size"] == "2" and "0.weight" not in names  # frozen tensors are not saved
    saved = load_file(str(tmp_path / "checkpoint" / "trainable.safetensors"))
    assert sorted(saved) == sorted(names)
    for n in names:
        assert saved[n].shape == t[f"saved.{n}"].shape  # whole tensors in the file...
        assert t[f"shard.{n}"].shape[0] < saved[n].shape[0]  # ...gathered from shards that were not
        torch.testing.assert_close(t[f"restored.{n}"], saved[n], rtol=0, atol=0)
        # the restored copy (other initial weights, fresh optimizer) continues exactly as the original
        torch.testing.assert_close(t[f"restored_continued.{n}"], t[f"continued.{n}"])
        assert not torch.equal(t[f"continued.{n}"], saved[n])
    opt_keys = [k for k in t if k.startswith("saved_opt.")]
    assert len(opt_keys) == 3 * len(names)  # step, exp_avg, exp_avg_sq per tensor
    for k in opt_keys:
        torch.testing.assert_close(t[k.replace("saved_opt.", "restored_opt.")], t[k], rtol=0, atol=0)
