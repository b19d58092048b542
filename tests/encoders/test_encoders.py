import math
from pathlib import Path

import numpy as np
import pytest
import torch

from acoustemo.encoders import AUDIO_ENCODERS, AudioEncoder, VisualEncoder, build_audio_encoder, build_visual_encoder
from acoustemo.media import load_audio

from conftest import FIXTURES

FIX = Path(__file__).parents[1] / "fixtures"
CLIP = FIX / "ravdess/audio/Actor_01/03-01-01-01-01-01-01.flac"


@pytest.fixture(scope="module")
def whisper():
    return build_audio_encoder("whisper")


def test_whisper_frame_rate_and_length_match_the_duration(whisper):
    assert isinstance(whisper, AudioEncoder)
    assert (whisper.dim, whisper.frame_rate) == (384, 50.0)
    wav = load_audio(CLIP)
    feats = whisper.encode(wav)
    assert feats.dtype == torch.float32 and feats.shape == (math.ceil(len(wav) / 320), 384)
    assert abs(feats.shape[0] / whisper.frame_rate - len(wav) / 16000) <= 1 / 50
    assert torch.isfinite(feats).all() and feats.std() > 0.1


def test_whisper_long_audio_is_chunked_without_seam_or_offset(whisper):
    """A clip placed at 30 s in a 65 s signal gives the same features as the clip alone at 0 s."""
    clip = load_audio(CLIP)
    long = np.zeros(65 * 16000, np.float32)
    long[30 * 16000:30 * 16000 + len(clip)] = clip
    feats = whisper.encode(long)
    assert feats.shape == (65 * 50, 384)
    alone = whisper.encode(np.concatenate([clip, np.zeros(30 * 16000 - len(clip), np.float32)]))
    n = math.ceil(len(clip) / 320)
    # same chunk content -> same frames: the clip's frames start exactly at index 30 * 50
    torch.testing.assert_close(feats[1500:1500 + n], alone[:n], atol=2e-3, rtol=1e-3)
    assert not torch.allclose(feats[1500 - n:1500], alone[:n], atol=1e-2)


def test_whisper_ct2_and_torch_backends_agree(whisper):
    torch_enc = build_audio_encoder("whisper", backend="torch")
    wav = load_audio(FIX / "emodb/audio/03a01Fa.flac")
    a, b = whisper.encode(wav), torch_enc.encode(wav)
    assert a.shape == b.shape
    assert (a - b).norm() / b.norm() < 1e-4  # same weights, float32 in both
    assert torch_enc.settings() == whisper.settings()


def test_one_whisper_pass_gives_the_features_and_the_words(whisper):
    wav = load_audio(CLIP)  # "Kids are talking by the door."
    features, text, no_speech = whisper.encode_with_text(wav)
    torch.testing.assert_close(features, whisper.encode(wav))
    assert "kids are talking by the door" in text.lower() and no_speech < 0.5
    hiss = (np.random.default_rng(0).standard_normal(16000) * 1e-3).astype(np.float32)
    assert whisper.encode_with_text(hiss)[1] == ""  # faster-whisper's no-speech rule
    prosody = build_audio_encoder("whisper_prosody")
    assert prosody.speaks and whisper.speaks and not build_audio_encoder("whisper", backend="torch").speaks
    with_prosody, same_text, _ = prosody.encode_with_text(wav)
    torch.testing.assert_close(with_prosody, prosody.encode(wav))
    assert same_text == text
    with pytest.raises(ValueError, match="at most 30 s"):
        whisper.encode_with_text(np.zeros(31 * 16000, np.float32))


def test_imagebind_audio_architecture_and_frame_rate():
    from acoustemo.encoders.imagebind import ImageBindAudio, ImageBindAudioConfig, load_imagebind_audio

    full = ImageBindAudio()  # the real size: 768-d, 12 blocks, 1024-d output; check the patch grid only
    assert full.preprocessor.pos_embedding_helper.pos_embed.shape == (1, 1 + 12 * 19, 768)
    assert len(full.trunk.blocks) == 12 and full.head[2].weight.shape == (1024, 768)
    tiny = ImageBindAudio(ImageBindAudioConfig(embed_dim=32, depth=2, num_heads=4, out_dim=48))
    enc = build_audio_encoder("imagebind", model=tiny, hop=0.5)
    assert enc.frame_rate == 2.0 and enc.dim == 48
    wav = np.random.default_rng(0).normal(0, 0.1, 16000 * 3 + 100).astype(np.float32)
    fb = enc.clip_fbanks(wav)
    assert fb.shape == (7, 1, 128, 204)
    feats = enc.encode(wav)
    assert feats.shape == (math.ceil(3.00625 / 0.5), 48) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=-1), torch.full((7,), 20.0))  # normalised x fixed scale 20
    # weights round-trip through safetensors with ImageBind's own key names
    from safetensors.torch import save_file

    sd = {k.replace("preprocessor.", "modality_preprocessors.audio.", 1).replace("trunk.", "modality_trunks.audio.", 1)
          .replace("head.", "modality_heads.audio.", 1): v for k, v in tiny.state_dict().items()}
    # names in the official imagebind_huge.pth (checked by scripts/check_reference.py imagebind)
    reference_names = {"modality_preprocessors.audio.cls_token", "modality_preprocessors.audio.rgbt_stem.proj.weight",
                        "modality_preprocessors.audio.rgbt_stem.norm_layer.bias",
                        "modality_preprocessors.audio.pos_embedding_helper.pos_embed",
                        "modality_trunks.audio.blocks.1.attn.in_proj_weight", "modality_trunks.audio.blocks.1.attn.bias_k",
                        "modality_trunks.audio.blocks.0.mlp.fc2.bias", "modality_trunks.audio.blocks.0.norm_2.weight",
                        "modality_heads.audio.0.weight", "modality_heads.audio.2.weight"}
    assert reference_names <= set(sd) and len(sd) == 5 + 14 * 2 + 3  # 176 for the 12 blocks of the real one
    path = Path(__import__("tempfile").mkdtemp()) / "ib.safetensors"
    save_file(sd, str(path))
    again = load_imagebind_audio(path, tiny.cfg)
    mel = fb[:2]
    torch.testing.assert_close(again(mel), tiny.eval()(mel))


def test_kaldi_fbank_matches_known_properties():
    from acoustemo.encoders.imagebind import kaldi_fbank

    t = torch.arange(32000) / 16000
    fb = kaldi_fbank(0.5 * torch.sin(2 * torch.pi * 1000 * t))
    assert fb.shape == (198, 128)  # 1 + (32000 - 400) // 160 frames (snip_edges)
    mel = 1127 * np.log1p(1000 / 700)
    lo, hi = 1127 * np.log1p(20 / 700), 1127 * np.log1p(8000 / 700)
    expected_bin = round((mel - lo) / ((hi - lo) / 129)) - 1
    assert abs(int(fb.mean(0).argmax()) - expected_bin) <= 1


def test_kaldi_fbank_matches_kaldis_own_filterbank_on_a_real_clip():
    """Against a stored reference from kaldi-native-fbank, an independent implementation of Kaldi's features
    (tests/fixtures/fbank, scripts/make_fbank_reference.py): same frames, log-energies within 1e-3."""
    from safetensors.torch import load_file

    from acoustemo.encoders.imagebind import kaldi_fbank

    ref = load_file(str(FIXTURES / "fbank" / "kaldi-fbank80-actor01-2s.safetensors"))["fbank"]
    wave = torch.as_tensor(load_audio(FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"))
    ours = kaldi_fbank(wave[:32000], num_mel_bins=80)
    assert ours.shape == ref.shape == (198, 80)
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=0)


def test_hf_audio_encoder_loads_a_checkpoint_folder(tmp_path):
    from transformers import HubertConfig, HubertModel

    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    HubertModel(cfg).save_pretrained(tmp_path)
    enc = build_audio_encoder("hf", model=str(tmp_path), chunk_seconds=1.0)
    assert (enc.dim, enc.frame_rate) == (32, 50.0)
    wav = np.random.default_rng(1).normal(0, 0.1, 16000 * 2 + 123).astype(np.float32)
    feats = enc.encode(wav)
    assert feats.shape == (math.ceil(len(wav) / 320), 32)
    with pytest.raises(Exception, match=str(tmp_path / "nope")):
        build_audio_encoder("hf", model=str(tmp_path / "nope"))


def test_hf_image_encoder_on_a_clip_checkpoint(tmp_path):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, projection_dim=24)
    CLIPVisionModelWithProjection(cfg).save_pretrained(tmp_path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    enc = build_visual_encoder("hf_image", model=str(tmp_path), frame_rate=1.0)
    assert isinstance(enc, VisualEncoder)
    feats = enc.encode(np.random.default_rng(2).integers(0, 255, (3, 48, 64, 3), dtype=np.uint8))
    assert feats.shape == (3, enc.dim) and feats.dtype == torch.float32


def test_fer_predicts_happy_on_the_astronaut_and_flags_faceless_frames():
    from skimage import data

    from acoustemo.encoders.fer import FER2013_LABELS

    enc = build_visual_encoder("fer")
    astronaut = data.astronaut()
    blank = np.full((240, 320, 3), 90, np.uint8)
    probs, found = enc.predict(np.stack([astronaut, astronaut[:, ::-1]]))
    assert found.tolist() == [True, True]
    assert [FER2013_LABELS[i] for i in probs.argmax(-1)] == ["happy", "happy"]
    assert probs[0, FER2013_LABELS.index("happy")] > 0.5
    feats = enc.encode(np.stack([astronaut[:240, :320], blank]))
    assert feats.shape == (2, 129)
    assert feats[0, 128] == 1.0 and feats[1, 128] == 0.0
    assert feats[0, :128].abs().sum() > 0 and feats[1].abs().sum() == 0  # no face: zeros, flag 0


def test_registry_is_an_explicit_table():
    assert set(AUDIO_ENCODERS) == {"whisper", "whisper_prosody", "imagebind", "hf"}
    with pytest.raises(ValueError, match="unknown audio encoder"):
        build_audio_encoder("wavlm-magic")
