"""Run by ``torchrun`` in the two-process test: train, then save this process's trainable weights.

    torchrun --nproc_per_node 2 ddp_worker.py OUT_DIR key=value ...
"""

import sys

from accelerate import PartialState
from safetensors.torch import save_file

from acoustemo.config import load_config
from acoustemo.training import train

if __name__ == "__main__":
    out, overrides = sys.argv[1], sys.argv[2:]
    result = train(load_config("tiny", overrides), progress=False)
    rank = PartialState().process_index
    tensors = {k: v.contiguous() for k, v in result.model.trainable_state_dict().items()}
    save_file(tensors, f"{out}/rank{rank}.safetensors", metadata={"world_size": str(PartialState().num_processes)})
