"""``acoustemo augment``: noisy, quiet, band-limited and reverberant copies of training audio
(:mod:`acoustemo.corpora.augment`).

    acoustemo augment --manifest data/release/train.jsonl --out data/release/augmented --copies 1
    acoustemo extract --manifest data/release/augmented/train.jsonl --cache data/release/cache --visual none
"""

from __future__ import annotations

import argparse

from ..corpora.augment import AugmentConfig, augment_manifest


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = AugmentConfig()
    p.add_argument("--manifest", required=True, help="the training samples (media, utterances, labels, speaker)")
    p.add_argument("--out", required=True, help="folder for audio/*.wav, train.jsonl and augment.jsonl")
    p.add_argument("--copies", type=int, default=d.copies, help=f"augmented versions per sample (default {d.copies})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--snr", default=f"{d.snr_min:g},{d.snr_max:g}", metavar="MIN,MAX",
                   help=f"range of the added noise's SNR in dB (default {d.snr_min:g},{d.snr_max:g})")
    p.add_argument("--gain", default=f"{d.gain_min:g},{d.gain_max:g}", metavar="MIN,MAX",
                   help=f"range of the level change in dB (default {d.gain_min:g},{d.gain_max:g})")
    p.add_argument("--noise-fraction", type=float, default=d.noise_fraction)
    p.add_argument("--babble-fraction", type=float, default=d.babble_fraction,
                   help="share of the noisy versions with babble of other speakers instead of pink noise")
    p.add_argument("--telephone-fraction", type=float, default=d.telephone_fraction)
    p.add_argument("--reverb-fraction", type=float, default=d.reverb_fraction)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_range(text: str, name: str) -> tuple[float, float]:
    from ..errors import ConfigError

    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--{name} {text!r}: expected MIN,MAX in dB") from None
    return low, high


def run(args) -> int:
    snr, gain = parse_range(args.snr, "snr"), parse_range(args.gain, "gain")
    config = AugmentConfig(copies=args.copies, seed=args.seed, noise_fraction=args.noise_fraction,
                           babble_fraction=args.babble_fraction, snr_min=snr[0], snr_max=snr[1], gain_min=gain[0],
                           gain_max=gain[1], telephone_fraction=args.telephone_fraction,
                           reverb_fraction=args.reverb_fraction)
    rows = augment_manifest(args.manifest, args.out, config, progress=not args.quiet)
    print(f"{len(rows)} augmented samples -> {args.out}/train.jsonl")
    return 0
