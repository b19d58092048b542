"""Write the reference filterbank the ImageBind front end is tested against (tests/fixtures/fbank/).

Kaldi's log-mel filterbank of the first 2 s of a RAVDESS fixture clip, computed by kaldi-native-fbank (the
k2-fsa project's C++ implementation of Kaldi's feature extraction, Apache-2.0; not a dependency of this
project), with ImageBind's settings: no dither, DC removal, pre-emphasis 0.97, Hann ("hanning") window of 25 ms
every 10 ms, edges snipped, 20 Hz to Nyquist, no energy, HTK-compatible layout. 80 bins: Kaldi refuses the
128 of ImageBind at 16 kHz (some low filters would be empty), which torchaudio, and so ImageBind, allow.

    pip install --target /tmp/knf kaldi-native-fbank && PYTHONPATH=/tmp/knf python scripts/make_fbank_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CLIP = ROOT / "tests" / "fixtures" / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"
OUT = ROOT / "tests" / "fixtures" / "fbank" / "kaldi-fbank80-actor01-2s.safetensors"
BINS, SECONDS = 80, 2.0


def main() -> int:
    import kaldi_native_fbank as knf
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from acoustemo.media import SAMPLE_RATE, load_audio

    wave = torch.as_tensor(load_audio(CLIP))[:int(SECONDS * SAMPLE_RATE)].double()
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.snip_edges = True
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.preemph_coeff = 0.97
    opts.mel_opts.num_bins = BINS
    opts.mel_opts.low_freq = 20
    opts.mel_opts.high_freq = 0  # Nyquist
    opts.use_energy = False
    opts.htk_compat = True
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(SAMPLE_RATE, (wave - wave.mean()).float().tolist())  # ImageBind removes the clip's mean
    fbank.input_finished()
    ref = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({"fbank": torch.from_numpy(ref).float()}, str(OUT),
              metadata={"source": "kaldi-native-fbank " + knf.__version__, "clip": CLIP.name, "bins": str(BINS),
                        "seconds": str(SECONDS)})
    print(f"{tuple(ref.shape)} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
