import pytest
import torch

from acoustemo.config import QFormerConfig
from acoustemo.model.qformer import QFormer
from acoustemo.model.windows import gather_windows, pad_sequences, utterance_windows


def small_qformer(**changes) -> QFormer:
    torch.manual_seed(0)
    cfg = QFormerConfig(num_queries=4, hidden_size=32, num_heads=4, intermediate_size=64, dropout=0.0, **changes)
    return QFormer(cfg, input_dim=16).eval()


def test_shapes_and_query_init():
    q = small_qformer()
    out = q(torch.randn(3, 20, 16), torch.ones(3, 20, dtype=torch.bool))
    assert out.shape == (3, 4, 32)
    std = QFormer(QFormerConfig(num_queries=64, hidden_size=256, num_heads=4), input_dim=8).query_tokens.detach().std()
    assert abs(float(std) - 0.02) < 0.002  # N(0, 0.02)


@pytest.mark.parametrize("layers, frequency, cross", [(2, 1, 2), (4, 2, 2), (3, 1, 3)])
def test_cross_attention_frequency(layers, frequency, cross):
    q = small_qformer(num_layers=layers, cross_attention_frequency=frequency)
    n = sum(1 for layer in q.qformer.encoder.layer if layer.has_cross_attention)
    assert n == cross


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "none"])
def test_batched_windows_equal_a_per_utterance_loop(positions):
    q = small_qformer(frame_positions=positions)
    g = torch.Generator().manual_seed(1)
    clips = [torch.randn(n, 16, generator=g) for n in (200, 140)]
    features, _ = pad_sequences(clips)
    windows = [utterance_windows([0.1, 1.0, 2.5], [0.9, 2.4, 3.9], 50.0, 200),
               utterance_windows([0.0, 1.2], [1.1, 2.8], 50.0, 140)]
    sample = torch.tensor([0, 0, 0, 1, 1])
    begin = torch.tensor(windows[0][0] + windows[1][0])
    end = torch.tensor(windows[0][1] + windows[1][1])
    frames, mask = gather_windows(features, sample, begin, end)
    batched = q(frames, mask)  # one call for every window of every sample
    for w in range(5):
        alone = q(clips[sample[w]][begin[w]:end[w]][None])  # no padding at all
        torch.testing.assert_close(batched[w], alone[0], rtol=0, atol=1e-5)


def test_padding_never_changes_the_output():
    q = small_qformer()
    x = torch.randn(1, 30, 16)
    ref = q(x)
    padded = torch.cat([x, 1e3 * torch.randn(1, 50, 16)], dim=1)  # garbage in the padding
    mask = torch.zeros(1, 80, dtype=torch.bool)
    mask[:, :30] = True
    torch.testing.assert_close(q(padded, mask), ref, rtol=0, atol=1e-5)


def test_frames_matter_and_empty_windows_are_refused():
    q = small_qformer()
    a, b = torch.randn(1, 10, 16), torch.randn(1, 10, 16)
    assert (q(a) - q(b)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="without frames"):
        q(a, torch.zeros(1, 10, dtype=torch.bool))


def test_learned_positions_have_a_length_limit():
    q = small_qformer(frame_positions="learned", max_frames=8)
    with pytest.raises(ValueError, match="exceed max_frames=8"):
        q(torch.randn(1, 9, 16))


def test_statistics_token_is_the_mean_and_std_of_the_real_frames_only():
    q = small_qformer(stats_token=True)
    assert q.num_tokens == 5
    g = torch.Generator().manual_seed(3)
    frames = torch.randn(2, 30, 16, generator=g)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 12:] = False
    out = q(frames, mask)
    assert out.shape == (2, 5, 32)
    # the last token sees only the real frames: padding after them changes nothing
    alone = q(frames[1:, :12], mask[1:, :12])
    torch.testing.assert_close(out[1], alone[0], rtol=1e-5, atol=1e-5)
    # and it is the projection of their mean and std
    x = frames[1, :12]
    expected = q.stats_proj(torch.cat([x.mean(0), (x.var(0, unbiased=False) + 1e-5).sqrt()]))
    torch.testing.assert_close(out[1, -1], expected, rtol=1e-5, atol=1e-5)


def test_input_standardisation_uses_the_given_statistics():
    q = small_qformer(input_standardization=True, stats_token=True)
    g = torch.Generator().manual_seed(4)
    frames = torch.randn(3, 25, 16, generator=g) * 50 + 7  # large, shifted dimensions
    mean, std = frames.flatten(0, 1).mean(0), frames.flatten(0, 1).std(0)
    q.set_input_statistics(mean, std)
    reference = small_qformer(stats_token=True)  # same seed: same weights but for the statistics
    torch.testing.assert_close(q(frames), reference((frames - mean) / std), rtol=1e-4, atol=1e-4)
    assert q.input_mean.requires_grad and q.input_log_std.requires_grad  # trained, and saved with the model
    with pytest.raises(ValueError, match="no input standardisation"):
        reference.set_input_statistics(mean, std)


def _as_lavis(q: QFormer, bert: str, queries: str) -> dict:
    """``q``'s tensors under LAVIS's names (BERT layout), plus text-only tensors a real checkpoint carries."""
    out = {queries: q.query_tokens.detach().clone()}
    for k, v in q.qformer.state_dict().items():
        k = k.replace("layernorm.", "embeddings.LayerNorm.").replace("attention.attention.", "attention.self.")
        k = k.replace("crossattention.attention.", "crossattention.self.")
        out[bert + k] = v.clone()
    hidden = q.cfg.hidden_size
    out[bert + "embeddings.word_embeddings.weight"] = torch.randn(30, hidden)
    out[bert + "encoder.layer.0.intermediate.dense.weight"] = torch.randn(q.cfg.intermediate_size, hidden)
    out[bert.replace("bert.", "cls.") + "predictions.bias"] = torch.randn(30)
    return out


def test_lavis_blip2_checkpoint_loads_strictly_and_gives_the_same_tokens():
    from acoustemo.model.qformer import convert_lavis_qformer

    source = small_qformer(num_layers=2, cross_attention_frequency=2, frame_positions="none")
    ckpt = _as_lavis(source, "Qformer.bert.", "query_tokens")
    ckpt["ln_vision.weight"], ckpt["ln_vision.bias"] = torch.rand(16) + 0.5, torch.randn(16)
    ckpt["visual_encoder.blocks.0.norm1.weight"] = torch.ones(3)  # other parts of BLIP-2: not the Q-Former's
    target = QFormer(source.cfg, input_dim=16).eval()
    target.load_state_dict(convert_lavis_qformer(ckpt, "blip2"), strict=True)
    torch.testing.assert_close(target.frame_norm.weight, ckpt["ln_vision.weight"])
    with torch.no_grad():
        source.frame_norm.load_state_dict({"weight": ckpt["ln_vision.weight"], "bias": ckpt["ln_vision.bias"]})
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(target(x), source(x))


def test_lavis_video_llama_audio_layout_reads_positions_and_no_frame_norm():
    from acoustemo.model.qformer import convert_lavis_qformer

    source = small_qformer(frame_positions="learned", max_frames=8, frame_norm=False)
    assert isinstance(source.frame_norm, torch.nn.Identity)
    ckpt = _as_lavis(source, "audio_Qformer.bert.", "audio_query_tokens")
    ckpt["audio_position_embedding.weight"] = source.frame_position.weight.detach().clone()
    target = QFormer(source.cfg, input_dim=16).eval()
    target.load_state_dict(convert_lavis_qformer(ckpt, "video-llama-audio"), strict=True)
    x = torch.randn(2, 8, 16)
    torch.testing.assert_close(target(x), source(x))


def test_lavis_conversion_names_what_it_cannot_place():
    from acoustemo.model.qformer import convert_lavis_qformer

    ckpt = _as_lavis(small_qformer(), "Qformer.bert.", "query_tokens")
    with pytest.raises(KeyError, match="audio_query_tokens"):
        convert_lavis_qformer(ckpt, "video-llama-audio")
    ckpt["Qformer.bert.encoder.layer.0.attention.self.distance_embedding.weight"] = torch.zeros(3, 8)
    with pytest.raises(KeyError, match="distance_embedding"):
        convert_lavis_qformer(ckpt, "blip2")
    with pytest.raises(ValueError, match="layout"):
        convert_lavis_qformer(ckpt, "blip3")
