"""Check our re-implementations against their reference code: same random weights, same input, same output.

    python scripts/check_reference.py imagebind --reference /path/to/ImageBind [--audio a.wav b.flac ...]
    python scripts/check_reference.py qformer --reference /path/to/LAVIS

``imagebind``: the official ImageBind repository (github.com/facebookresearch/ImageBind). Its audio branch is
built with its own random initialisation, its audio tensors are saved under their own key names as
safetensors and loaded with :func:`acoustemo.encoders.imagebind.load_imagebind_audio` (so the key mapping is
checked too), and both networks embed the same normalised filterbanks of every 2 s clip of real audio
(default: the reference repository's three ``.assets/*.wav`` and our RAVDESS example dialogue). The
filterbank is checked separately: our :func:`kaldi_fbank` against the reference's ``waveform2melspec``, read
out of its ``data.py`` and run as is (it needs ``torchaudio``; skipped with a note when that is missing).

``qformer``: Salesforce LAVIS (github.com/salesforce/LAVIS), whose ``Qformer.py`` BLIP-2 and Video-LLaMA
share. A randomly initialised LAVIS Q-Former (BERT with cross-attention every other layer, 32 queries) and
its ``ln_vision`` are saved as a BLIP-2 / Video-LLaMA checkpoint would hold them, converted with
:func:`acoustemo.model.qformer.convert_lavis_qformer` and loaded into our :class:`QFormer`; both read the
same frames.

Nothing of the reference code is copied here or shipped: the script imports it from ``--reference``.
Imports that the audio or Q-Former paths never call (the text tokenizer's ``iopath`` / ``ftfy``, timm's
``DropPath`` which is the identity in eval mode) are replaced by stand-ins when they are not installed;
the script says which. Prints a table and exits 1 when a maximum absolute difference exceeds ``--atol``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FBANK_ATOL = 1e-3  # normalised log-mel units (1 unit = 9.1 nats of energy)
IMAGEBIND_AUDIO_PREFIXES = ("modality_preprocessors.audio.", "modality_trunks.audio.", "modality_heads.audio.")


def _stand_ins(modules: dict[str, dict]) -> list[str]:
    """Put minimal modules into ``sys.modules`` for those that cannot be imported; returns their names."""
    replaced = []
    for name, attrs in modules.items():
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - missing, or broken by a binary mismatch (timm -> torchvision)
            for part in range(1, name.count(".") + 2):
                sub = ".".join(name.split(".")[:part])
                sys.modules.setdefault(sub, types.ModuleType(sub))
            for k, v in attrs.items():
                setattr(sys.modules[name], k, v)
            replaced.append(name)
    return replaced


def _identity_module(*args, **kwargs):
    import torch

    return torch.nn.Identity()


def _imagebind_stand_ins() -> list[str]:
    import torch

    def g_pathmgr_open(*args, **kwargs):
        raise RuntimeError("the text tokenizer is not used by this check")

    return _stand_ins({
        "timm.layers": {"DropPath": _identity_module, "trunc_normal_": torch.nn.init.trunc_normal_},
        "iopath.common.file_io": {"g_pathmgr": types.SimpleNamespace(open=g_pathmgr_open)},
        "ftfy": {"fix_text": lambda s: s},
        "regex": {},
    })


def reference_function(source: Path, name: str, namespace: dict):
    """Compile one top-level function of a reference file without importing the file (its other imports)."""
    tree = ast.parse(source.read_text(), filename=str(source))
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if node is None:
        raise SystemExit(f"{source}: no function {name!r}")
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(source), "exec"), namespace)  # noqa: S102
    return namespace[name]


def _audio_files(reference: Path, given: list[str] | None) -> list[Path]:
    if given:
        return [Path(p) for p in given]
    return sorted((reference / ".assets").glob("*.wav")) + [ROOT / "examples" / "ravdess_actor20_dialogue.flac"]


def _row(name: str, a, b, atol: float) -> dict:
    diff = (a.double() - b.double()).abs()
    return {"check": name, "n": a.shape[0], "max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
            "scale": float(b.double().abs().max()), "atol": atol}


def check_imagebind(reference: Path, audio: list[str] | None, seed: int, atol: float) -> list[dict]:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from acoustemo.encoders.imagebind import (CLIP_SECONDS, FBANK_MEAN, FBANK_STD, MEL_BINS, TARGET_FRAMES,
                                              ImageBindAudioEncoder, load_imagebind_audio)
    from acoustemo.media.decode import load_audio

    sys.path.insert(0, str(reference))
    replaced = _imagebind_stand_ins()
    if replaced:
        print(f"stand-ins (not called on the audio path): {', '.join(replaced)}")
    package = types.ModuleType("imagebind")  # its __init__ imports data.py (video, vision and text loaders)
    package.__path__ = [str(reference / "imagebind")]
    sys.modules["imagebind"] = package
    from imagebind.models import imagebind_model

    torch.manual_seed(seed)
    # the audio branch at imagebind_huge's settings; the other modalities shrunk (they are not compared)
    small = dict(vision_embed_dim=32, vision_num_blocks=1, vision_num_heads=2, text_embed_dim=32, text_num_blocks=1,
                 text_num_heads=2, depth_embed_dim=32, depth_num_blocks=1, depth_num_heads=2, thermal_embed_dim=32,
                 thermal_num_blocks=1, thermal_num_heads=2, imu_embed_dim=32, imu_num_blocks=1, imu_num_heads=2)
    ref = imagebind_model.ImageBindModel(out_embed_dim=1024, audio_drop_path=0.1, **small).eval()
    audio_sd = {k: v.contiguous() for k, v in ref.state_dict().items() if k.startswith(IMAGEBIND_AUDIO_PREFIXES)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "imagebind_audio.safetensors"
        save_file(audio_sd, str(path))
        ours = load_imagebind_audio(path)
    unused = sorted(set(audio_sd) - {IMAGEBIND_AUDIO_PREFIXES[["preprocessor", "trunk", "head"].index(k.split(".")[0])]
                                     + k.split(".", 1)[1] for k in ours.state_dict()})
    if unused:
        raise SystemExit(f"reference audio tensors our model does not read: {unused[:5]}")
    print(f"{len(audio_sd)} audio tensors ({sum(v.numel() for v in audio_sd.values()) / 1e6:.1f} M values) "
          f"loaded through our key mapping")

    try:
        import torchaudio  # noqa: F401
        fbank_ref = reference_function(reference / "imagebind" / "data.py", "waveform2melspec", {
            "torch": torch, "torchaudio": torchaudio, "logging": __import__("logging"),
            "DEFAULT_AUDIO_FRAME_SHIFT_MS": 10})
    except ImportError:
        fbank_ref = None
        print("torchaudio not installed: the filterbank is not compared (the networks are)")

    encoder = ImageBindAudioEncoder(model=ours, hop=CLIP_SECONDS)  # non-overlapping 2 s clips
    ours_mel, ref_mel = [], []
    for f in _audio_files(reference, audio):
        wav = load_audio(f)
        mel = encoder.clip_fbanks(wav)  # (L, 1, 128, 204), normalised
        ours_mel.append(mel)
        if fbank_ref is not None:
            clip = int(CLIP_SECONDS * 16000)
            padded = np.zeros(len(mel) * clip, dtype=np.float32)
            padded[:len(wav)] = wav
            ref_mel.append(torch.stack([(fbank_ref(torch.from_numpy(padded[i * clip:(i + 1) * clip]).clone()[None],
                                                   16000, MEL_BINS, TARGET_FRAMES) - FBANK_MEAN) / FBANK_STD
                                        for i in range(len(mel))]))
        print(f"{f.name}: {len(wav) / 16000:.2f} s, {len(mel)} clips")
    mel = torch.cat(ours_mel)
    rows = []
    if ref_mel:
        # torchaudio works in float32, we in float64: log-energies near -15 (silence) differ by ~1e-4
        rows.append(_row("filterbank (normalised)", mel.flatten(1), torch.cat(ref_mel).flatten(1), FBANK_ATOL))
    with torch.no_grad():
        ref_out = ref({"audio": mel})["audio"]
        our_out = ours(mel)
    rows.append(_row("audio embedding (x20 scale)", our_out, ref_out, atol))
    if ref_mel:
        with torch.no_grad():
            rows.append(_row("end to end: our fbank+net vs theirs", our_out, ref({"audio": torch.cat(ref_mel)})["audio"],
                             atol))
    return rows


def _lavis_module(reference: Path):
    """LAVIS's ``Qformer.py``, imported on its own (not the ``lavis`` package) with transformers 4's helpers."""
    import importlib.util

    import torch
    import transformers.modeling_utils as mu
    from transformers import pytorch_utils

    def unused(*args, **kwargs):
        raise RuntimeError("head pruning is not used by this check")

    for name in ("apply_chunking_to_forward", "find_pruneable_heads_and_indices", "prune_linear_layer"):
        if not hasattr(mu, name):  # transformers 5 moved or removed them
            setattr(mu, name, getattr(pytorch_utils, name, unused))
    path = reference / "lavis" / "models" / "blip2_models" / "Qformer.py"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (--reference is the LAVIS repository's folder)")
    spec = importlib.util.spec_from_file_location("lavis_qformer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def get_head_mask(self, head_mask, num_layers):  # transformers 4: no head mask -> one None per layer
        if head_mask is not None:
            raise RuntimeError("head masks are not used by this check")
        return [None] * num_layers

    def invert_attention_mask(self, mask):  # transformers 4: 1 keeps, 0 masks with the dtype's lowest value
        mask = mask[:, None, None, :].to(self.dtype)
        return (1.0 - mask) * torch.finfo(self.dtype).min

    for name, fn in (("get_head_mask", get_head_mask), ("invert_attention_mask", invert_attention_mask)):
        if not hasattr(module.BertModel, name):
            setattr(module.BertModel, name, fn)
    # transformers 5's init_weights needs post_init(), which the reference never calls; transformers 4's applied
    # _init_weights to every module (and tied no weights here)
    module.BertPreTrainedModel.init_weights = lambda self: self.apply(self._init_weights)
    return module


def check_qformer(reference: Path, seed: int, atol: float) -> list[dict]:
    import torch
    from transformers import BertConfig

    from acoustemo.config import QFormerConfig
    from acoustemo.model.qformer import LAVIS_LAYOUTS, QFormer, convert_lavis_qformer

    lavis = _lavis_module(reference)
    rows = []
    # BLIP-2: 32 queries, 12 layers, cross-attention every other layer, EVA ViT-g frames (1408-d) through ln_vision.
    # Video-LLaMA's audio Q-Former: 8 queries, 2 layers, cross-attention in both, ImageBind frames (1024-d) plus a
    # learned position per frame, no LayerNorm on the frames.
    for layout, queries, layers, every, width, frames in (("blip2", 32, 12, 2, 1408, 257),
                                                          ("video-llama-audio", 8, 2, 1, 1024, 8)):
        torch.manual_seed(seed)
        bert_cfg = BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_hidden_layers=layers)
        bert_cfg.encoder_width, bert_cfg.add_cross_attention = width, True
        bert_cfg.cross_attention_freq, bert_cfg.query_length = every, queries
        ref = lavis.BertLMHeadModel(bert_cfg).eval()
        tokens = torch.randn(1, queries, bert_cfg.hidden_size) * 0.02
        norm = torch.nn.LayerNorm(width)
        position = torch.nn.Embedding(frames, width)
        with torch.no_grad():  # move every tensor off its initial value (LayerNorms start at 1 and 0)
            for module in (ref, norm, position):
                for p in module.parameters():
                    p.add_(torch.randn_like(p) * 0.02)
        bert, q_key, norm_prefix, pos_prefix = LAVIS_LAYOUTS[layout]
        ckpt = {bert + k: v for k, v in ref.bert.state_dict().items()}
        ckpt[bert.replace(".bert.", ".cls.") + "predictions.bias"] = ref.cls.predictions.bias
        ckpt[q_key] = tokens
        if norm_prefix:
            ckpt.update({norm_prefix + k: v for k, v in norm.state_dict().items()})
        if pos_prefix:
            ckpt.update({pos_prefix + k: v for k, v in position.state_dict().items()})
        ours = QFormer(QFormerConfig(num_queries=queries, hidden_size=768, num_layers=layers, num_heads=12,
                                     intermediate_size=3072, cross_attention_frequency=every, dropout=0.0,
                                     frame_positions="learned" if pos_prefix else "none", max_frames=frames,
                                     frame_norm=bool(norm_prefix)), input_dim=width).eval()
        ours.load_state_dict(convert_lavis_qformer(ckpt, layout), strict=True)
        x = torch.randn(6, frames, width)
        mask = torch.ones(6, frames, dtype=torch.bool)
        mask[3:, frames // 2:] = False  # three sequences padded to twice their length
        with torch.no_grad():
            enc = norm(x) if norm_prefix else x + position.weight[None]
            for name, m in (("", mask[:3]), (", padded", mask[3:])):
                rows_of = slice(0, 3) if not name else slice(3, 6)
                theirs = ref.bert(query_embeds=tokens.expand(3, -1, -1), encoder_hidden_states=enc[rows_of],
                                  encoder_attention_mask=m.long(), return_dict=True).last_hidden_state
                rows.append(_row(f"{layout} Q-Former{name}", ours(x[rows_of], m).flatten(1), theirs.flatten(1), atol))
        print(f"{layout}: {len(ckpt)} checkpoint tensors -> {len(ours.state_dict())} of ours (strict load)")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", choices=["imagebind", "qformer"])
    p.add_argument("--reference", required=True, help="the reference repository's folder")
    p.add_argument("--audio", nargs="+", help="audio files for the ImageBind check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atol", type=float, default=1e-5, help="largest absolute difference of network outputs")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    reference = Path(a.reference)
    if not reference.is_dir():
        print(f"{reference}: not a folder", file=sys.stderr)
        return 2
    rows = check_imagebind(reference, a.audio, a.seed, a.atol) if a.which == "imagebind" else check_qformer(reference, a.seed, a.atol)
    print("\n| check | rows | max abs diff | mean abs diff | max abs value | tolerance |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['check']} | {r['n']} | {r['max_abs']:.2e} | {r['mean_abs']:.2e} | {r['scale']:.3g} | {r['atol']:.0e} |")
    bad = [r for r in rows if r["max_abs"] > r["atol"]]
    for r in bad:
        print(f"{r['check']}: max abs diff {r['max_abs']:.2e} > {r['atol']:.0e}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
