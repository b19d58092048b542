"""Import MER / EMER style data into a manifest.

Input (as in the MER2023/2024 and EMER releases):

* a labels CSV ``name,openset`` -- ``openset`` an open-vocabulary list, written ``['happy', 'excited']``
  or ``happy, excited``; an optional ``description`` (or ``reason``) column becomes ``description``;
* an optional subtitles CSV ``name,<text column>`` (default column ``english``, as in
  ``subtitle_chieng.csv``);
* a media folder holding ``<name>.<ext>`` (mp4, avi, mkv, wav, ...).

Each subtitle becomes one utterance spanning the whole clip (MER clips are single-speaker and
subtitles carry no times; ``acoustemo transcribe --overwrite`` gives timed utterances instead) unless
``subtitles_as="none"``. Every problem (missing media, empty label list, duplicate or unknown names) is
collected and reported at once with the file, row and field.

    acoustemo import-mer --labels check-openset.csv --subtitles subtitle_chieng.csv --media video/ --output mer.jsonl
"""

from __future__ import annotations

import csv
import os
from io import StringIO
from pathlib import Path

from ..errors import InputError, excerpt, where
from ..io import read_text
from .manifest import Sample, Utterance, write_manifest

MEDIA_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".wav", ".flac", ".mp3", ".m4a")


def parse_openset(text: str) -> list[str]:
    """``"['happy', 'Excited ']"`` or ``"happy, excited"`` -> ``["happy", "excited"]``: the metrics' label
    parser (:func:`acoustemo.metrics.labels.parse_labels`: quoted items may hold commas and apostrophes;
    full-width commas and brackets), without duplicates. Raises ``ValueError`` on text that is no list."""
    from ..metrics.labels import parse_labels

    return list(dict.fromkeys(parse_labels(text)))


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        reader = csv.DictReader(StringIO(read_text(path), newline=""))
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as e:
        raise InputError(f"{path}: not a readable CSV file ({e})") from None


def _find_media(media_dir: Path, name: str) -> Path | None:
    for ext in MEDIA_EXTENSIONS:
        p = media_dir / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def import_mer(labels_csv: str | os.PathLike, media_dir: str | os.PathLike, output: str | os.PathLike, *,
               subtitles_csv: str | os.PathLike | None = None, text_column: str = "english",
               subtitles_as: str = "utterance") -> list[Sample]:
    """Build and write (atomically) a manifest at ``output``; returns its samples.

    Media paths are written relative to the manifest's folder when the media lie inside it, else absolute.
    """
    if subtitles_as not in ("utterance", "none"):
        raise ValueError(f"subtitles_as must be 'utterance' or 'none', got {subtitles_as!r}")
    labels_csv, media_dir, output = Path(labels_csv), Path(media_dir), Path(output)
    if not media_dir.is_dir():
        raise InputError(f"{media_dir}: media folder not found")
    problems: list[str] = []
    cols, rows = _read_csv(labels_csv)
    for need in ("name", "openset"):
        if need not in cols:
            raise InputError(f"{where(path=labels_csv, field=need)}: column missing (have: {', '.join(cols)})")
    desc_col = next((c for c in ("description", "reason") if c in cols), None)
    subtitles: dict[str, str] = {}
    if subtitles_csv is not None:
        scols, srows = _read_csv(Path(subtitles_csv))
        if "name" not in scols or text_column not in scols:
            raise InputError(f"{where(path=subtitles_csv, field=text_column)}: needs columns 'name' and "
                             f"{text_column!r} (have: {', '.join(scols)})")
        subtitles = {r["name"].strip(): (r[text_column] or "").strip() for r in srows}
    root = output.resolve().parent
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for row_no, r in enumerate(rows, start=2):  # row 1 is the header
        name = (r.get("name") or "").strip()
        if not name:
            problems.append(f"{where(path=labels_csv, row=row_no, field='name')}: empty")
            continue
        if name in (".", "..") or any(c in name for c in "/\\\x00"):
            problems.append(f"{where(path=labels_csv, row=row_no, field='name')}: {excerpt(name)} is not a plain "
                            "file name (no folders, no '..')")
            continue
        if name in seen:
            problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='name')}: duplicate of row {seen[name]}")
            continue
        seen[name] = row_no
        try:
            labels = parse_openset(r.get("openset") or "")
        except ValueError as e:
            problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='openset')}: {e}")
            continue
        if not labels:
            problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='openset')}: no labels")
        media = _find_media(media_dir, name)
        if media is None:
            problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='media')}: no {name}.* "
                            f"({', '.join(e[1:] for e in MEDIA_EXTENSIONS)}) in {media_dir}")
            continue
        utterances = None
        if subtitles_csv is not None:
            if name not in subtitles:
                problems.append(f"{where(path=subtitles_csv, sample=name, field=text_column)}: no subtitle row")
            elif subtitles_as == "utterance" and subtitles[name]:
                from ..media import MediaError, probe

                try:
                    duration = probe(media).duration
                except MediaError as e:
                    problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='media')}: {e}")
                    continue
                if not duration:
                    problems.append(f"{where(path=labels_csv, row=row_no, sample=name, field='media')}: unknown duration")
                    continue
                utterances = [Utterance(0.0, round(duration, 3), subtitles[name])]
        m = media.resolve()
        rel = os.path.relpath(m, root) if m.is_relative_to(root) else str(m)
        desc = (r.get(desc_col) or "").strip() or None if desc_col else None
        samples.append(Sample(name, rel, utterances, labels or None, desc, root))
    if problems:
        raise InputError.from_problems(problems)
    write_manifest(output, samples)
    return samples
