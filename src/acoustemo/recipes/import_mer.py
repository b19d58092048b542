"""``acoustemo import-mer``: MER / EMER label and subtitle CSVs into a manifest (:mod:`acoustemo.data.mer_import`)."""

from __future__ import annotations

import argparse
import sys

from ..data.mer_import import import_mer
from ..errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, help="CSV with columns name,openset")
    p.add_argument("--media", required=True, help="folder of <name>.<ext> media files")
    p.add_argument("--subtitles", default=None, help="subtitles CSV (name,<text column>)")
    p.add_argument("--text-column", default="english", help="subtitle text column (default: english)")
    p.add_argument("--subtitles-as", default="utterance", choices=["utterance", "none"])
    p.add_argument("--output", required=True, help="manifest to write (JSONL)")


def run(a: argparse.Namespace) -> int:
    """``acoustemo import-mer``; every problem found is printed, one line each, exit status 2."""
    try:
        samples = import_mer(a.labels, a.media, a.output, subtitles_csv=a.subtitles, text_column=a.text_column,
                             subtitles_as=a.subtitles_as)
    except InputError as e:
        for msg in e.problems:
            print(f"acoustemo import-mer: error: {msg}", file=sys.stderr)
        return 2
    print(f"{len(samples)} samples -> {a.output}", file=sys.stderr)
    return 0
