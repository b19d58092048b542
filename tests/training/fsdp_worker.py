"""Run by ``torchrun`` in the FSDP test: shard a model with frozen and trainable parts over two CPU processes
(FSDP2 on gloo), train, save a checkpoint through ``gather_state``, restore it into a fresh sharded copy with
``scatter_state``, and check that both continue identically.

    torchrun --nproc_per_node 2 fsdp_worker.py OUT_DIR
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.distributed.fsdp import fully_shard

from acoustemo.io import save_tensors
from acoustemo.training import checkpoint as ckpt
from acoustemo.training.optim import weight_decay_groups


def build(seed: int):
    torch.manual_seed(0)  # the frozen part is the same in every copy
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU()),
                                torch.nn.Linear(16, 3))
    model[0].requires_grad_(False)
    torch.manual_seed(seed)  # the trainable part differs until a checkpoint is restored
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.3)
    fully_shard(model[1])
    fully_shard(model)  # the parameters become DTensor shards: the optimizer is built on them
    groups, names = weight_decay_groups(model, 0.1)
    index = {n: i for i, n in enumerate(names)}
    name_of = {id(p): n for n, p in model.named_parameters()}
    group_params = [[index[name_of[id(p)]] for p in g["params"]] for g in groups]
    return model, torch.optim.AdamW(groups, lr=0.05), names, group_params


def step(model, optimizer, x):
    optimizer.zero_grad()
    model(x).pow(2).mean().backward()
    optimizer.step()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(rank))  # each process its own data
    model, opt, names, group_params = build(seed=1)
    for _ in range(2):
        step(model, opt, x)
    trainable, optim_state = ckpt.gather_state("fsdp", model=model, wrapped=model, optimizer=opt, names=names,
                                               group_params=group_params)
    folder = out / "checkpoint"
    if rank == 0:
        folder.mkdir(parents=True)
        save_tensors(folder / "trainable.safetensors", trainable)
        ckpt.save_optimizer(optim_state, names, folder)
    dist.barrier()
    fresh, fresh_opt, _, _ = build(seed=2)
    ckpt.scatter_state("fsdp", folder, model=fresh, wrapped=fresh, optimizer=fresh_opt, names=names)
    again, again_state = ckpt.gather_state("fsdp", model=fresh, wrapped=fresh, optimizer=fresh_opt, names=names)
    step(model, opt, x)
    step(fresh, fresh_opt, x)
    after = ckpt.gather_state("fsdp", model=model, wrapped=model, optimizer=opt, names=names)[0]
    fresh_after = ckpt.gather_state("fsdp", model=fresh, wrapped=fresh, optimizer=fresh_opt, names=names)[0]
    if rank == 0:
        tensors = {f"saved.{k}": v for k, v in trainable.items()}
        tensors |= {f"restored.{k}": v for k, v in again.items()}
        tensors |= {f"continued.{k}": v for k, v in after.items()}
        tensors |= {f"restored_continued.{k}": v for k, v in fresh_after.items()}
        tensors |= {f"saved_opt.{i}.{k}": v for i, s in optim_state["state"].items() for k, v in s.items()}
        tensors |= {f"restored_opt.{i}.{k}": v for i, s in again_state["state"].items() for k, v in s.items()}
        local = {n: p.to_local() for n, p in model.named_parameters() if p.requires_grad}  # DTensor shards
        tensors |= {f"shard.{k}": v.contiguous() for k, v in local.items()}
        save_file({k: v.detach().contiguous().float() for k, v in tensors.items()}, str(out / "result.safetensors"),
                  metadata={"world_size": str(dist.get_world_size()), "names": ",".join(names)})
    dist.destroy_process_group()
