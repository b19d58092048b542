"""Build the example media that `make demo` labels (run once; the outputs are committed).

    python examples/make_examples.py

- ``ravdess_actor20_dialogue.flac``: three clips of RAVDESS actor 20 (a test speaker, never trained on) from
  tests/fixtures: neutral, then sad (strong intensity), then calm, joined by pauses with the corpus builder's
  own composition. Its utterances are in ``ravdess_actor20_dialogue.json``.
- ``synthetic_tremor.mp4``: one synthetic dialogue of the test voices (animated face + AAC audio) whose target
  utterance carries a cue, from ``acoustemo synth --video``. Its cue is in ``synthetic_tremor.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from acoustemo.corpora.real import RAVDESS, RealDialogue, compose, read_metadata  # noqa: E402
from acoustemo.corpora.synth import SynthConfig, build_synth_corpus  # noqa: E402


def ravdess_dialogue() -> None:
    fixtures = ROOT / "tests" / "fixtures" / "ravdess"
    clips = {c.file.split("/")[-1]: c for c in read_metadata(fixtures, RAVDESS)}
    chosen = [clips[f] for f in ("03-01-01-01-02-01-20.flac", "03-01-04-02-02-02-20.flac", "03-01-02-01-01-01-20.flac")]
    d = RealDialogue("ravdess_actor20_dialogue", "test", "20", "one_emotional", chosen, [0.6, 0.7], "sad", ["sad"])
    audio, utts = compose(fixtures, d)
    sf.write(HERE / "ravdess_actor20_dialogue.flac", audio, 16000, subtype="PCM_16")
    info = {"source": "RAVDESS actor 20 (CC BY-NC-SA 4.0), clips " + ", ".join(c.file for c in chosen),
            "emotions": [c.emotion for c in chosen],
            "utterances": [{"start": round(u.start, 3), "end": round(u.end, 3), "text": u.text} for u in utts]}
    (HERE / "ravdess_actor20_dialogue.json").write_text(json.dumps(info, indent=2) + "\n")


def synthetic_video(want_cue: str = "tremor") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # the first test-split dialogue whose cue is `want_cue`, in the local design
        for seed in range(50):
            out = Path(tmp) / f"s{seed}"
            build_synth_corpus(out, SynthConfig(num=40, seed=seed, video=True), progress=False)
            cues = [json.loads(line) for line in (out / "cues.jsonl").read_text().splitlines()]
            hits = [c for c in cues if c["split"] == "test" and c["cue"] == want_cue and c["design"] == "local"]
            if hits:
                c = hits[0]
                shutil.copy(out / "video" / f"{c['id']}.mp4", HERE / f"synthetic_{want_cue}.mp4")
                (HERE / f"synthetic_{want_cue}.json").write_text(json.dumps({"seed": seed, **c}, indent=2) + "\n")
                return
    raise SystemExit(f"no test dialogue with cue {want_cue}")


if __name__ == "__main__":
    ravdess_dialogue()
    synthetic_video()
    print("written:", ", ".join(sorted(p.name for p in HERE.iterdir() if p.suffix in (".flac", ".mp4", ".json"))))
