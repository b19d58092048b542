"""``acoustemo merge``: several manifests into one (ids prefixed, media paths relative to the new one).

    acoustemo merge --out data/release/train.jsonl ravdess=data/release/ravdess/train.jsonl \\
        synth=data/release/synth/train.jsonl
    acoustemo merge --keep-ids --out data/release/train+augmented.jsonl data/release/train.jsonl \\
        data/release/augmented/train.jsonl

The merged manifest must sit in a folder that holds every input's media (build the corpora in sub-folders
of it), so it stays portable; see :func:`acoustemo.data.manifest.merge_manifests`.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="the merged manifest (written atomically)")
    p.add_argument("inputs", nargs="+", metavar="PREFIX=MANIFEST",
                   help="a manifest and the prefix its ids get (PREFIX/id); empty manifests are fine; with "
                        "--keep-ids, just MANIFEST")
    p.add_argument("--keep-ids", action="store_true",
                   help="keep the ids as they are (manifests merged before, and their augmented copies)")


def run(args) -> int:
    from ..data.manifest import merge_manifests

    inputs = {}
    for item in args.inputs:
        if args.keep_ids:
            inputs[str(len(inputs))] = item
            continue
        prefix, sep, path = item.partition("=")
        if not sep or not prefix or not path:
            raise InputError(f"{item!r}: expected PREFIX=MANIFEST")
        if prefix in inputs:
            raise InputError(f"{item!r}: prefix {prefix!r} given twice")
        inputs[prefix] = path
    merged = merge_manifests(args.out, inputs, keep_ids=args.keep_ids)
    print(f"{len(merged)} samples from {len(inputs)} manifests -> {args.out}", file=sys.stderr)
    return 0
