"""The linear probe: one fit, two forms (folded weights for stage 1, predictions for the benchmarks)."""

import numpy as np
import pytest
import torch

from acoustemo.training.probe import fit_linear_probe, fit_predict, window_stats


def test_a_row_weight_counts_as_that_many_copies_of_the_row():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(12, 4, generator=g).numpy()
    y = [0, 1, 2] * 4
    twice = fit_linear_probe([*feats, feats[0]], [*y, y[0]])
    weighted = fit_linear_probe(feats, y, sample_weight=[2.0] + [1.0] * 11)
    torch.testing.assert_close(weighted[0], twice[0], rtol=1e-3, atol=1e-3)
    assert fit_linear_probe(feats, y)[0].sub(weighted[0]).abs().max() > 1e-3


def test_folded_weights_score_raw_features_as_the_fitted_probe_predicts():
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(60, 5, generator=g) * torch.tensor([1.0, 10.0, 0.1, 3.0, 1.0]) + 4.0).numpy()
    y = ["a", "b", "c"] * 20
    x[np.array(y) == "b", 1] += 15.0  # one class apart on a column of large scale
    weight, bias, classes, _ = fit_linear_probe(x, y)
    folded = [classes[i] for i in (torch.from_numpy(x) @ weight.T + bias).argmax(1)]
    assert folded == list(fit_predict(x, y, x))
    assert window_stats(torch.ones(3, 2)).shape == (4,)


def test_fit_temperature_recovers_the_scale_that_generated_the_labels():
    from acoustemo.training.probe import fit_temperature

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 5, generator=g)
    y = torch.multinomial(torch.softmax(4.0 * logits, 1), 1, generator=g)[:, 0]
    assert fit_temperature(logits, y) == pytest.approx(4.0, rel=0.1)
    weights = (torch.arange(len(y)) % 2).float()  # rows of weight 0 do not count
    assert fit_temperature(logits, y, weights) == pytest.approx(fit_temperature(logits[1::2], y[1::2]), rel=1e-3)
