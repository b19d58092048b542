"""Loading a trained model folder: weights stored in 16 bits load into the fp32 model."""

import torch
from safetensors.torch import load_file

from acoustemo.inference.loading import load_model
from acoustemo.io import FINAL_WEIGHTS, half_matrices, save_tensors

from conftest import tiny_checkpoint


def test_half_matrices_load_back_into_the_fp32_model_and_keep_the_vectors_exact(tmp_path):
    full = tiny_checkpoint(tmp_path / "full")
    half = tiny_checkpoint(tmp_path / "half")
    tensors = load_file(str(full / FINAL_WEIGHTS))
    save_tensors(half / FINAL_WEIGHTS, half_matrices(tensors))
    stored = load_file(str(half / FINAL_WEIGHTS))
    assert {t.dtype for t in stored.values() if t.ndim >= 2} == {torch.float16}
    assert {t.dtype for t in stored.values() if t.ndim < 2} == {torch.float32}
    assert (half / FINAL_WEIGHTS).stat().st_size < 0.6 * (full / FINAL_WEIGHTS).stat().st_size
    a, b = load_model(full).trainable_state_dict(), load_model(half).trainable_state_dict()
    for name, t in a.items():
        assert b[name].dtype == torch.float32
        if t.ndim < 2:
            assert torch.equal(b[name], t), name
        else:
            torch.testing.assert_close(b[name], t, rtol=1e-3, atol=1e-4)


def test_merged_loading_gives_peft_merge_without_importing_peft(tmp_path):
    import subprocess
    import sys

    from acoustemo.io import load_tensors

    folder = tiny_checkpoint(tmp_path / "run")
    state = load_tensors(folder / FINAL_WEIGHTS)
    for name in state:  # LoRA's B starts at zero: give it weight so that merging changes the LLM
        if "lora_B" in name:
            state[name] = torch.randn(state[name].shape, generator=torch.Generator().manual_seed(len(name)))
    save_tensors(folder / FINAL_WEIGHTS, state)
    merged = dict(load_model(folder).merge_lora().named_parameters())
    folded = dict(load_model(folder, merge_lora=True).named_parameters())
    assert folded.keys() == merged.keys()
    assert all(torch.equal(folded[n], merged[n]) for n in merged)
    # what a fresh `acoustemo predict` process imports to load it (peft costs cold starts about a second)
    probe = ("import sys; from acoustemo.inference.loading import load_model; "
             f"load_model({str(folder)!r}, merge_lora=True); print(sorted(m for m in sys.modules if m == 'peft'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
