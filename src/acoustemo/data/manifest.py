"""Dataset manifests: JSONL, one sample a line.

A line looks like::

    {"id": "d0001", "media": "audio/d0001.wav",
     "utterances": [{"start": 0.42, "end": 2.10, "text": "I left the keys on the table."}],
     "labels": ["anxious", "nervous"], "speaker": "ravdess_03", "description": "optional free text"}

``media`` is a video or audio file; a relative path resolves against the manifest's folder and may
not escape it. ``utterances`` (seconds, in the media's time axis), ``labels`` (an open-vocabulary
list), ``speaker`` (who speaks: samples with the same value share one voice, across every manifest a
run reads; the speaker-relative acoustics of ``model.speaker_normalization`` rest on it) and
``description`` are optional. :func:`read_manifest` checks every line and reports every
problem at once, each with the line number, the sample id and the field.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import InputError, excerpt
from ..io import atomic_open, loads_json, read_text
from ..utterance import Utterance

FIELDS = ("id", "media", "utterances", "labels", "speaker", "description")


@dataclass
class Sample:
    id: str
    media: str  # as written in the manifest (relative to the manifest's folder, or absolute)
    utterances: list[Utterance] | None = None
    labels: list[str] | None = None
    description: str | None = None
    root: Path | None = field(default=None, repr=False, compare=False)  # the manifest's folder
    speaker: str | None = None  # who speaks (one voice across manifests), where it is known

    @property
    def media_path(self) -> Path:
        """The media file's absolute path."""
        p = Path(self.media)
        return p if p.is_absolute() else Path(os.path.abspath(self.root or ".")) / p

    def to_json(self) -> dict:
        d = {"id": self.id, "media": self.media}
        if self.utterances is not None:
            d["utterances"] = [u.to_json() for u in self.utterances]
        if self.labels is not None:
            d["labels"] = list(self.labels)
        if self.speaker is not None:
            d["speaker"] = self.speaker
        if self.description is not None:
            d["description"] = self.description
        return d


def _climbs_out(relative: str) -> bool:
    """Whether a relative path leaves its base folder lexically (``a/../../b``), symlinks not followed."""
    norm = os.path.normpath(relative)
    return norm == ".." or norm.startswith(".." + os.sep) or os.path.isabs(norm)


def _check_sample(obj, root: Path) -> tuple[Sample | None, list[str]]:
    """Validate one decoded JSON line; return the sample (or None) and a list of "field: problem"."""
    problems: list[str] = []
    if not isinstance(obj, dict):
        return None, ["line: not a JSON object"]
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        problems.append(f"field {excerpt(unknown[0])}: unknown field (allowed: {', '.join(FIELDS)})")
    sid = obj.get("id")
    if not isinstance(sid, str) or not sid:
        problems.append("field 'id': missing or not a non-empty string")
    media = obj.get("media")
    if not isinstance(media, str) or not media:
        problems.append("field 'media': missing or not a non-empty string")
    elif "\x00" in media:
        problems.append("field 'media': contains a NUL character")
    elif not Path(media).is_absolute() and _climbs_out(media):
        # judged on the path as written: a folder symlinked into the manifest's folder (data on another disk)
        # is followed, a relative path may not climb out with '..'
        problems.append(f"field 'media': {excerpt(media)} climbs out of the manifest's folder ('..')")
    utterances = None
    if obj.get("utterances") is not None:
        raw = obj["utterances"]
        if not isinstance(raw, list):
            problems.append("field 'utterances': not a list")
        else:
            utterances = []
            for i, u in enumerate(raw):
                if not isinstance(u, dict) or not {"start", "end"} <= set(u):
                    problems.append(f"field 'utterances[{i}]': needs 'start' and 'end'")
                    continue
                s, e, t = u["start"], u["end"], u.get("text", "")
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (s, e)):
                    problems.append(f"field 'utterances[{i}]': start/end must be numbers")
                elif not (math.isfinite(s) and math.isfinite(e)) or s < 0 or e <= s:
                    problems.append(f"field 'utterances[{i}]': needs 0 <= start < end, got {s}..{e}")
                elif not isinstance(t, str):
                    problems.append(f"field 'utterances[{i}].text': not a string")
                elif u.get("labels") is not None and (
                        not isinstance(u["labels"], list) or not u["labels"]
                        or not all(isinstance(x, str) and x.strip() for x in u["labels"])):
                    problems.append(f"field 'utterances[{i}].labels': not a non-empty list of non-empty strings")
                else:
                    ulabels = tuple(u["labels"]) if u.get("labels") is not None else None
                    utterances.append(Utterance(float(s), float(e), t, ulabels))
    labels = obj.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
        problems.append("field 'labels': not a list of strings")
        labels = None
    desc = obj.get("description")
    if desc is not None and not isinstance(desc, str):
        problems.append("field 'description': not a string")
    speaker = obj.get("speaker")
    if speaker is not None and (not isinstance(speaker, str) or not speaker.strip()):
        problems.append("field 'speaker': not a non-empty string")
    if problems:
        return None, problems
    return Sample(sid, media, utterances, labels, desc, root=root, speaker=speaker), []


def read_manifest(path: str | os.PathLike, *, check_media: bool = False) -> list[Sample]:
    """Read and validate a JSONL manifest.

    Raises :class:`InputError` listing every problem (``manifest.jsonl:3: sample 'a1', field
    'utterances[0]': ...``), including duplicate ids and, with ``check_media``, missing media files.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    root = path.parent
    samples: list[Sample] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except json.JSONDecodeError as e:
            problems.append(f"{path}:{lineno}: not valid JSON ({e.msg})")
            continue
        sample, errs = _check_sample(obj, root)
        sid = obj.get("id") if isinstance(obj, dict) else None
        who = f"sample {excerpt(sid)}, " if isinstance(sid, str) else ""
        problems += [f"{path}:{lineno}: {who}{e}" for e in errs]
        if sample is None:
            continue
        if sample.id in seen:
            problems.append(f"{path}:{lineno}: sample {sample.id!r}, field 'id': duplicate of line {seen[sample.id]}")
            continue
        seen[sample.id] = lineno
        if check_media and not sample.media_path.is_file():
            problems.append(f"{path}:{lineno}: sample {sample.id!r}, field 'media': file not found: {sample.media_path}")
        samples.append(sample)
    if problems:
        raise InputError.from_problems(problems)
    return samples


def write_manifest(path: str | os.PathLike, samples: list[Sample]) -> None:
    """Write samples as JSONL, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps(s.to_json(), ensure_ascii=False) + "\n")


def merge_manifests(out: str | os.PathLike, inputs: dict[str, str | os.PathLike], *,
                    keep_ids: bool = False) -> list[Sample]:
    """Write one manifest ``out`` holding the samples of several, ``{prefix: manifest}``.

    Each sample's id becomes ``<prefix>/<id>`` (ids of different corpora may coincide) and its media path
    is rewritten relative to ``out``'s folder, which must contain every input's media (build the corpora in
    sub-folders of it), so the merged manifest stays portable. ``speaker`` is kept as it is: it names a voice
    across corpora (the corpus builders write ``ravdess_03`` for RAVDESS actor 3 in its dialogues and its single
    clips alike). ``keep_ids``: ids stay as they are (manifests merged before, and their augmented copies); an id
    in two inputs is then an error. Returns the merged samples.
    """
    out = Path(out)
    root = Path(os.path.abspath(out.parent))  # lexical: data folders symlinked into it stay inside
    merged: list[Sample] = []
    seen: dict[str, str] = {}
    for prefix, manifest in inputs.items():
        for s in read_manifest(manifest, check_media=True):
            if keep_ids:
                if s.id in seen:
                    raise InputError(f"{manifest}: sample {s.id!r}, field 'id': also in {seen[s.id]}")
                seen[s.id] = str(manifest)
            try:
                media = Path(os.path.normpath(s.media_path)).relative_to(root)
            except ValueError:
                raise InputError(f"{manifest}: sample {s.id!r}, field 'media': {s.media_path} is not inside {root}, "
                                 f"the merged manifest's folder") from None
            merged.append(replace(s, id=s.id if keep_ids else f"{prefix}/{s.id}", media=media.as_posix(), root=None))
    write_manifest(out, merged)
    return merged
