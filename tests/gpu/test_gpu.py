"""Tests that need a CUDA GPU (``pytest -m gpu``); skipped elsewhere. The tiny and small presets in bf16: a training
step, checkpoint / resume equivalence, generation, the batched utterance Q-Former against the per-utterance loop,
and bitsandbytes loading when it is installed."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
from safetensors.torch import load_file

from acoustemo.training import train

from conftest import AUDIO_DIM, VISUAL_DIM, make_corpus, tiny_train_config

# ACOUSTEMO_GPU_TEST_DEVICE=cpu dry-runs the tests' logic on a CPU (slowly, bf16 emulated); they are meant for CUDA
DEVICE = os.environ.get("ACOUSTEMO_GPU_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")]

PRESET_OVERRIDES = {
    # the random corpus's feature sizes; bf16 autocast as on any recent GPU
    "tiny": ("train.precision=bf16",),
    "small": ("train.precision=bf16", f"model.audio_dim={AUDIO_DIM}", f"model.visual_dim={VISUAL_DIM}",
              "model.max_length=1024"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _config(preset, corpus, out, *extra):
    cfg = tiny_train_config(corpus, out, *PRESET_OVERRIDES[preset], *extra)
    if preset == "tiny":
        return cfg
    from acoustemo.config import load_config

    return load_config("small", [f"train.{k}={v}" for k, v in (
        ("train_manifest", corpus["train"]), ("validation_manifest", corpus["validation"]),
        ("test_manifest", corpus["test"]), ("cache_dir", corpus["cache"]), ("output_dir", out))]
        + list(PRESET_OVERRIDES[preset]) + list(extra))


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_bf16_training_resumes_to_the_weights_of_an_uninterrupted_run(preset, corpus, tmp_path):
    extra = ("train.max_steps=4", "train.save_every=2", "train.acoustic.epochs=0")
    whole = train(_config(preset, corpus, tmp_path / "whole", *extra), device=DEVICE, progress=False)
    assert next(whole.model.parameters()).device.type == torch.device(DEVICE).type and whole.loss == whole.loss  # finite
    cfg = _config(preset, corpus, tmp_path / "parts", *extra)
    train(cfg, stop_after=2, device=DEVICE, progress=False)
    resumed = train(cfg, resume="latest", device=DEVICE, progress=False)
    a = load_file(str(whole.final / "trainable.safetensors"))
    b = load_file(str(resumed.final / "trainable.safetensors"))
    assert a.keys() == b.keys()
    for k in a:  # cuBLAS may pick other kernels after a restart: equal to bf16 autocast rounding, not bit for bit
        torch.testing.assert_close(a[k], b[k], rtol=1e-2, atol=1e-3, msg=k)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_trained_model_generates_on_the_gpu(preset, corpus, tmp_path):
    from acoustemo.data.collate import Collator
    from acoustemo.data.dataset import dataset_for
    from acoustemo.inference.loading import load_model

    run = train(_config(preset, corpus, tmp_path, "train.max_steps=2", "train.acoustic.epochs=0"), device=DEVICE,
                progress=False)
    model = load_model(run.final, device=DEVICE)
    if preset == "small":
        assert model.llm_dtype == torch.bfloat16  # model.llm_dtype auto: bf16 on a GPU that has it
    cfg = _config(preset, corpus, tmp_path)
    ds = dataset_for(cfg, corpus["test"], require_labels=True)
    batch = Collator(model.config, model.tokenizer, train=False)([ds[0], ds[1]])
    preds = model.generate(batch, max_new_tokens=8)
    assert len(preds) == 2 and all(isinstance(p.text, str) for p in preds)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_batched_utterance_qformer_equals_the_per_utterance_loop(dtype):
    from acoustemo.config import QFormerConfig
    from acoustemo.model.qformer import QFormer
    from acoustemo.model.windows import gather_windows, pad_sequences, utterance_windows

    torch.manual_seed(0)
    q = QFormer(QFormerConfig(num_queries=8, hidden_size=64, num_heads=4, intermediate_size=128, dropout=0.0),
                input_dim=32).to(DEVICE).eval()  # the Q-Formers keep fp32 weights and run under autocast
    clips = [torch.randn(n, 32, device=DEVICE) for n in (300, 180)]
    features, _ = pad_sequences(clips)
    windows = [utterance_windows([0.1, 1.0, 2.5, 4.0], [0.9, 2.4, 3.9, 5.9], 50.0, 300),
               utterance_windows([0.0, 1.2], [1.1, 3.5], 50.0, 180)]
    sample = torch.tensor([0, 0, 0, 0, 1, 1], device=DEVICE)
    begin = torch.tensor(windows[0][0] + windows[1][0], device=DEVICE)
    end = torch.tensor(windows[0][1] + windows[1][1], device=DEVICE)
    autocast = torch.autocast(torch.device(DEVICE).type, dtype=dtype, enabled=dtype != torch.float32)
    with torch.no_grad(), autocast:
        frames, mask = gather_windows(features, sample, begin, end)
        batched = q(frames, mask)
        loop = torch.cat([q(features[s:s + 1, b:e]) for s, b, e in zip(sample.tolist(), begin.tolist(), end.tolist())])
    tol = {torch.float32: 1e-5, torch.bfloat16: 3e-2}[dtype]
    torch.testing.assert_close(batched.float(), loop.float(), rtol=tol, atol=tol)


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
@pytest.mark.parametrize("quantize", ["8bit", "4bit"])
def test_quantized_llm_gives_nearly_the_logits_of_the_bf16_one(quantize, tmp_path):
    from transformers import AutoModelForCausalLM, LlamaConfig

    from acoustemo.config import load_config
    from acoustemo.model.llm import load_llm, tiny_tokenizer

    torch.manual_seed(0)
    arch = LlamaConfig(vocab_size=260, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                       bos_token_id=1, eos_token_id=2, pad_token_id=0)
    AutoModelForCausalLM.from_config(arch).save_pretrained(tmp_path / "llm")
    tiny_tokenizer().save_pretrained(tmp_path / "llm")
    cfg = load_config("tiny", [f"model.llm={tmp_path / 'llm'}"]).model
    ref, _ = load_llm(cfg, dtype=torch.bfloat16, device=DEVICE)
    quant, _ = load_llm(cfg, dtype=torch.bfloat16, device=DEVICE, quantize=quantize)
    assert quant.is_loaded_in_8bit if quantize == "8bit" else quant.is_loaded_in_4bit
    ids = torch.randint(3, 260, (2, 24), device=DEVICE)
    with torch.no_grad():
        a, b = ref(input_ids=ids).logits.float(), quant(input_ids=ids).logits.float()
    cos = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).min()
    assert cos > 0.9, float(cos)
