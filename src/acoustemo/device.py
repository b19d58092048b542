"""Where the model runs and in which precision: the one place devices and dtypes are chosen.

    resolve_device("auto")            # cuda if present, else mps, else cpu
    resolve_device("cuda:1")          # ConfigError when CUDA or that GPU is absent
    llm_dtype("auto", device)         # bf16 on GPUs that have it, fp16 on other GPUs, fp32 on CPU

Every recipe (train, evaluate, predict, ablate, extract) goes through these functions, so the LLM's
weights are loaded in one dtype everywhere, the Q-Formers and projections keep fp32 weights, and the
frozen encoders and faster-whisper run on the same accelerator.
"""

from __future__ import annotations

import torch

from .errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEVICE_HELP = "auto (a GPU when present), cpu, cuda, cuda:N or mps"


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """A usable :class:`torch.device` for ``name``; an absent accelerator is a :class:`ConfigError`."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {name!r}: not a device name ({DEVICE_HELP})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise ConfigError(f"device {name!r}: MPS is not available on this machine (use --device cpu)")
    elif device.type not in ("cpu", "cuda", "mps", "meta"):
        raise ConfigError(f"device {name!r}: unsupported device type ({DEVICE_HELP})")
    return device


def llm_dtype(name: str, device: torch.device | str, *, bf16_supported: bool | None = None) -> torch.dtype:
    """The LLM's weight dtype for ``model.llm_dtype`` = ``name`` on ``device``.

    ``auto``: bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on the CPU (whose bf16 matmuls are
    over 100x slower than fp32 ones). ``bf16`` on a GPU without bf16 is a :class:`ConfigError`.
    ``bf16_supported`` overrides the check (memory estimates for a GPU from a machine without one).
    """
    device = torch.device(device)
    on_gpu = device.type in ("cuda", "mps") or (device.type == "meta" and bf16_supported is not None)
    if bf16_supported is None:
        bf16_supported = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if name == "auto":
        if not on_gpu:
            return torch.float32
        return torch.bfloat16 if bf16_supported else torch.float16
    if name not in DTYPES:
        raise ConfigError(f"model.llm_dtype={name!r}: expected auto, fp32, bf16 or fp16")
    if name == "bf16" and device.type == "cuda" and not bf16_supported:
        raise ConfigError(f"model.llm_dtype=bf16: the GPU {device} does not support bfloat16 (use fp16 or auto)")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}.get(dtype, str(dtype).removeprefix("torch."))


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
