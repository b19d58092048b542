"""Corpora on which the paper's claim can be measured.

* :mod:`.synth` — synthetic micro-prosody dialogues (espeak-ng speech + local manipulations of one
  utterance or of a sub-segment of it), ``acoustemo synth``.
* :mod:`.real` — dialogues composed from RAVDESS or EmoDB clips, ``acoustemo corpus``.

Every builder writes ``train.jsonl`` / ``validation.jsonl`` / ``test.jsonl`` in the project's
manifest format (:mod:`acoustemo.data.manifest`) and prints and saves its statistics
(:mod:`.stats`).
"""
