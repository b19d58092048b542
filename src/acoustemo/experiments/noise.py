"""Scores of trained models as background noise grows or the level changes (``acoustemo snr``, whose docstring
says what is measured): the noisy media, their features, each (model, level) score, the table."""


from __future__ import annotations

import csv
import dataclasses
import io
import math
import sys
from pathlib import Path

from ..device import resolve_device
from ..errors import ConfigError, InputError
from ..io import FINAL_WEIGHTS, HEAD_WEIGHTS
from ..results import mean_std, pyplot, save_figure, spread

METRICS = ("top-1", "M-avg")


def parse_levels(text: str) -> list[float | None]:
    """``"clean,20,5"`` -> ``[None, 20.0, 5.0]``."""
    levels = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if item.lower() == "clean":
            levels.append(None)
            continue
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"--snr: {item!r} is neither a number of dB nor 'clean'") from None
        if not math.isfinite(value):
            raise ConfigError(f"--snr: {item!r} is not finite")
        levels.append(value)
    if not levels:
        raise ConfigError("--snr is empty")
    if len(set(levels)) != len(levels):
        raise ConfigError(f"--snr {text!r}: a level is repeated")
    return levels


def parse_gains(text: str) -> list[float]:
    """``"-30,-20"`` -> ``[-30.0, -20.0]`` (empty: no gain levels)."""
    gains = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"--gain: {item!r} is not a number of dB") from None
        if not math.isfinite(value) or value == 0:
            raise ConfigError(f"--gain: {item!r} must be a finite, non-zero number of dB (0 dB is 'clean')")
        gains.append(value)
    if len(set(gains)) != len(gains):
        raise ConfigError(f"--gain {text!r}: a level is repeated")
    return gains


class Gain(float):
    """A level change in dB (``--gain``), told apart from an SNR level in the lists of levels."""

    def __repr__(self) -> str:
        return f"Gain({float(self):g})"

    def __eq__(self, other) -> bool:  # never equal to the SNR level of the same number
        return isinstance(other, Gain) and float(self) == float(other)

    def __ne__(self, other) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(("gain", float(self)))


def parse_models(specs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ConfigError(f"--model {spec!r}: expected NAME=FOLDER")
        folder = Path(folder.strip())
        if not (folder / FINAL_WEIGHTS).is_file() and not (folder / HEAD_WEIGHTS).is_file():
            raise InputError(f"--model {spec!r}: {folder} holds neither a trained model (trainable.safetensors) "
                             f"nor a stage-1 head (head.safetensors)")
        out.append((name.strip(), folder))
    return out


def level_name(snr: float | None) -> str:
    if isinstance(snr, Gain):
        return f"gain {snr:g} dB"
    return "clean" if snr is None else f"{snr:g} dB"


def level_folder(snr: float) -> str:
    return f"gain{snr:g}" if isinstance(snr, Gain) else f"snr-{snr:g}"


def weights_digest(folder: Path) -> str:
    """SHA-256 over the bytes of the folder's weights (every ``*.safetensors``: a trained model's trainable
    tensors, or a stage-1 folder's head and Q-Formers), so that other weights behind the same folder are told
    apart."""
    import hashlib

    from ..cache.store import content_hash

    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")):
        h.update(f"{f.name}:{content_hash(f)}\n".encode())
    return h.hexdigest()


def run_key(folder: Path, snr: float | None, digest: str) -> str:
    """Where ``scores.json`` keeps a model's scores at one level: its folder, the first 16 hex of
    :func:`weights_digest` (a model trained again into the same folder is scored again) and the level."""
    return f"{folder.resolve()}|{digest[:16]}|{level_name(snr)}"


def noisy_manifest(samples, manifest: Path, snr: float, out: Path, seed: int, progress: bool) -> Path:
    """The samples with pink noise at ``snr`` dB (a :class:`Gain`: played that many dB louder), as WAV files and a
    manifest under ``out`` (kept if done)."""
    import numpy as np
    import soundfile as sf
    from tqdm import tqdm

    from ..corpora.manipulations import add_noise, speech_mask
    from ..data.manifest import write_manifest
    from ..io import atomic_open
    from ..media import SAMPLE_RATE, load_audio

    target = out / "manifest.jsonl"
    if target.is_file():
        return target
    rows = []
    for index, s in enumerate(tqdm(samples, desc=level_name(snr), unit="file", disable=not progress,
                                   file=sys.stderr, dynamic_ncols=True)):
        # not the sample id (ids need not be file names); WAV, as FFmpeg's FLAC decoder refuses some frames
        # libsndfile's encoder writes for noise-heavy audio ("invalid residual")
        name = f"audio/{index:05d}.wav"
        path = out / name
        if not path.is_file():
            try:
                wav = load_audio(s.media_path)
            except InputError as e:
                raise InputError(f"{manifest}: sample {s.id!r}, field 'media': {e}") from None
            speech = speech_mask(len(wav), s.utterances, SAMPLE_RATE)  # no utterance times: all of it
            if isinstance(snr, Gain):
                noisy = np.clip(wav * np.float32(10 ** (snr / 20)), -1, 1)
            else:
                noisy = np.clip(add_noise(wav, snr, speech, np.random.default_rng([seed, index, round(snr * 100)])),
                                -1, 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "wb") as f:
                sf.write(f, noisy, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        rows.append(dataclasses.replace(s, media=name, root=None))
    write_manifest(target, rows)
    return target


def load_scorer(folder: Path, device):
    """(kind, model, config) of a trained folder ("llm") or a stage-1 folder ("head")."""
    if (folder / FINAL_WEIGHTS).is_file():
        from ..inference.loading import checkpoint_config, load_model

        cfg = checkpoint_config(folder)
        return "llm", load_model(folder, cfg, device=device), cfg
    from ..config import load_config
    from ..training.acoustic import load_acoustic

    return "head", load_acoustic(folder), load_config(folder / "config.yaml")


def predictions(kind: str, model, dataset, *, batch_size: int, progress: bool) -> dict[str, list[str]]:
    if kind == "llm":
        from ..inference.evaluation import Generation, generate_all

        return {p.id: p.emotions for p in generate_all(model, dataset, batch_size=batch_size,
                                                        generation=Generation(), progress=progress)}
    from ..training.acoustic import predict_acoustic

    probs = predict_acoustic(model, [dataset[i] for i in range(len(dataset))])
    return {s.id: [model.labels[int(j)]] for s, j in zip(dataset.samples, probs.argmax(1))}


def scores(gold: dict[str, list[str]], pred: dict[str, list[str]]) -> dict[str, float]:
    from ..metrics import score_wheel

    top1 = sum(bool(pred.get(i)) and pred[i][0] in labels for i, labels in gold.items()) / len(gold)
    return {"top-1": 100.0 * top1, "M-avg": score_wheel(gold, pred)["M-avg"]}


def sweep(manifest: str | Path, models: list[tuple[str, Path]], levels: list[float | None], *, out: str | Path,
          seed: int = 0, batch_size: int = 8, device: str | None = None, progress: bool = True) -> dict:
    """Score every model at every level (see the module docstring); returns the table."""
    from ..cache.extract import extract
    from ..cache.store import FeatureCache, encoder_key, encoder_name
    from ..data.dataset import FeatureDataset, prepared_for
    from ..data.manifest import read_manifest
    from ..encoders import build_audio_encoder
    from ..io import atomic_write_json, atomic_write_text, read_json
    from ..inference.predictor import check_encoder_key

    manifest, out = Path(manifest), Path(out)
    samples = read_manifest(manifest)
    if not samples:
        raise InputError(f"{manifest}: no samples")
    unlabelled = [s.id for s in samples if not s.labels]
    if unlabelled:
        raise InputError(f"{manifest}: sample {unlabelled[0]!r}, field 'labels': missing or empty (scores need them)")
    gold = {s.id: list(s.labels) for s in samples}
    device = resolve_device(device or "auto")
    manifests = {snr: manifest if snr is None else
                 noisy_manifest(samples, manifest, snr, out / "media" / level_folder(snr), seed, progress)
                 for snr in levels}
    cache = FeatureCache(out / "cache")
    done_file = out / "scores.json"
    done = read_json(done_file) if done_file.is_file() else {}
    encoders: dict[str, object] = {}
    levels_done: dict[tuple[str, float | None], list] = {}  # (audio key, level): samples, features extracted once
    digests = {folder: weights_digest(folder) for folder in dict.fromkeys(f for _, f in models)}
    for name, folder in models:
        runs_left = [snr for snr in levels if run_key(folder, snr, digests[folder]) not in done]
        if not runs_left:
            continue
        kind, model, cfg = load_scorer(folder, device)
        if cfg.model.use_visual:
            raise ConfigError(f"--model {name}={folder}: a model with a visual branch; the sweep adds noise to the "
                              f"sound only, so it takes audio-only models")
        key = cfg.train.audio_key or "whisper"
        if key not in encoders:
            encoders[key] = build_audio_encoder(encoder_name(key), device=device)
        check_encoder_key(encoders[key], key, "audio", who=f"--model {name}={folder}")
        for snr in runs_left:
            if (key, snr) not in levels_done:
                levels_done[key, snr] = read_manifest(manifests[snr])
                extract(levels_done[key, snr], cache, encoders[key], progress=progress)
            dataset = prepared_for(FeatureDataset(levels_done[key, snr], cache, audio_key=encoder_key(encoders[key]),
                                                  require_labels=True, source=manifests[snr]), model)
            pred = predictions(kind, model, dataset, batch_size=batch_size, progress=progress)
            row = done[run_key(folder, snr, digests[folder])] = {
                "name": name, "model": str(folder), "weights_sha256": digests[folder], "kind": kind,
                "snr": None if isinstance(snr, Gain) else snr, "gain": float(snr) if isinstance(snr, Gain) else 0.0,
                **scores(gold, pred)}
            atomic_write_json(done_file, done)
            if progress:
                print(f"snr: {name} ({folder}) at {level_name(snr)}: "
                      + ", ".join(f"{m} {row[m]:.1f}" for m in METRICS), file=sys.stderr, flush=True)
    table = build_table(done, models, levels, manifest, digests)
    atomic_write_json(out / "table.json", table)
    atomic_write_text(out / "table.csv", table_csv(table))
    plot(table, out / "table.png")
    return table


def build_table(done: dict, models: list[tuple[str, Path]], levels: list[float | None], manifest: Path,
                digests: dict[Path, str]) -> dict:
    names = list(dict.fromkeys(name for name, _ in models))
    rows = []
    for name in names:
        folders = [folder for n, folder in models if n == name]
        row = {"name": name, "models": [str(f) for f in folders], "levels": {}}
        for snr in levels:
            row["levels"][level_name(snr)] = {m: spread([done[run_key(f, snr, digests[f])][m] for f in folders])
                                              for m in METRICS}
        rows.append(row)
    return {"manifest": str(manifest), "levels": [level_name(s) for s in levels], "metrics": list(METRICS),
            "rows": rows}


def table_csv(table: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "metric"] + [f"{lv} {k}" for lv in table["levels"] for k in ("mean", "std")] + ["runs"])
    for r in table["rows"]:
        for m in table["metrics"]:
            w.writerow([r["name"], m] + [f"{r['levels'][lv][m][k]:.4f}" for lv in table["levels"]
                                         for k in ("mean", "std")] + [len(r["models"])])
    return buf.getvalue()


def format_table(table: dict) -> str:
    width = max(len(r["name"]) for r in table["rows"]) + 2
    lines = [f"Scores against background noise (pink, SNR in dB) on {table['manifest']}"]
    for m in table["metrics"]:
        lines.append(f"{m:<{width}}" + "".join(f"{lv:>16}" for lv in table["levels"]))
        for r in table["rows"]:
            cells = "".join(mean_std(r["levels"][lv][m], 16, digits=1) for lv in table["levels"])
            lines.append(f"{r['name']:<{width}}{cells}")
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    """One panel per metric: score against SNR (clean first, then from high to low), one line per model name; the
    gain levels, where measured, as a dashed line of their own to the right (a quieter recording is not a noisier
    one)."""
    plt = pyplot()
    levels = table["levels"]
    # clean, then SNR from high to low, then gain from small to large cuts
    order = sorted(range(len(levels)), key=lambda i: (math.inf, 0.0) if levels[i] == "clean" else (
        -math.inf, float(levels[i].split()[1])) if levels[i].startswith("gain") else (float(levels[i].split()[0]), 0.0),
        reverse=True)
    noise = [i for i in order if not levels[i].startswith("gain")]
    gain = [i for i in order if levels[i].startswith("gain")]
    parts = [(noise, list(range(len(noise))), "-")]
    if gain:
        parts.append((gain, list(range(len(noise) + 1, len(noise) + 1 + len(gain))), "--"))
    fig, axes = plt.subplots(1, len(table["metrics"]), figsize=(4.6 * len(table["metrics"]), 3.6), dpi=120)
    for ax, m in zip(axes if len(table["metrics"]) > 1 else [axes], table["metrics"]):
        for n, r in enumerate(table["rows"]):
            for k, (part, xs, style) in enumerate(parts):
                ax.errorbar(xs, [r["levels"][levels[i]][m]["mean"] for i in part],
                            yerr=[0.0 if len(r["models"]) < 2 else r["levels"][levels[i]][m]["std"] for i in part],
                            marker="o", capsize=3, linestyle=style, color=f"C{n}",
                            label=f"{r['name']} (n={len(r['models'])})" if k == 0 else None)
        ticks = [(x, levels[i]) for part, xs, _ in parts for i, x in zip(part, xs)]
        ax.set_xticks([x for x, _ in ticks], [label for _, label in ticks], rotation=35, ha="right", fontsize=8)
        ax.set_xlabel("SNR (pink noise), then gain (dashed)" if gain else "SNR")
        ax.set_ylabel(f"{m} (%)")
        ax.grid(alpha=0.3)
    axes_list = axes if len(table["metrics"]) > 1 else [axes]
    axes_list[-1].legend(fontsize=7)
    fig.suptitle("Scores against pink background noise")
    fig.tight_layout()
    save_figure(fig, path)
