"""The linear speech-emotion probe: a standardised logistic regression on the mean and standard deviation of a
window's frames, the baseline a user would try first.

Stage 1 starts its statistics tokens from it (:func:`fit_linear_probe`, the scaler folded into the weights);
the benchmarks fit it as baseline (b) and score it beside the model (:func:`fit_predict`).
"""

from __future__ import annotations

import numpy as np
import torch


def window_stats(frames: torch.Tensor):
    """The probe's features of a window: the mean and standard deviation of its frames (T, d), as (2d,) numpy."""
    frames = frames.float()
    return torch.cat([frames.mean(0), (frames.var(0, unbiased=False) + 1e-5).sqrt()]).numpy()


def fit_probe(feats, y: list, *, c: float = 0.1, sample_weight=None, max_iter: int = 5000):
    """``(scaler, classifier)``: sklearn's StandardScaler and LogisticRegression (``C = c``) fitted on ``feats``
    (N, d) against ``y``, each row weighing its ``sample_weight`` (1 when not given)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    feats = np.asarray(feats)
    scaler = StandardScaler().fit(feats, sample_weight=sample_weight)
    clf = LogisticRegression(C=c, max_iter=max_iter).fit(scaler.transform(feats), y, sample_weight=sample_weight)
    return scaler, clf


def fit_predict(x_train, y_train, x_test, c: float = 0.1) -> np.ndarray:
    """Baseline (b): the probe fitted on the training rows, its predicted classes for the test rows."""
    scaler, clf = fit_probe(x_train, y_train, c=c)
    return clf.predict(scaler.transform(np.asarray(x_test)))


def fit_linear_probe(feats, y: list, *, c: float = 0.1,
                     sample_weight=None) -> tuple[torch.Tensor, torch.Tensor, list, float]:
    """The probe with the scaler folded in: ``(weight (classes, d), bias (classes,), classes, training
    accuracy)``, so that ``x @ weight.T + bias`` are its class scores on raw features."""
    feats = np.asarray(feats)
    scaler, probe = fit_probe(feats, y, c=c, sample_weight=sample_weight, max_iter=3000)
    weight = torch.from_numpy(probe.coef_ / scaler.scale_).float()
    bias = torch.from_numpy(probe.intercept_ - (probe.coef_ * scaler.mean_ / scaler.scale_).sum(1)).float()
    if weight.shape[0] == 1:  # two classes: sklearn gives one row
        weight, bias = torch.cat([-weight, weight]), torch.cat([-bias, bias])
    return weight, bias, list(probe.classes_), float(probe.score(scaler.transform(feats), y,
                                                                  sample_weight=sample_weight))


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> float:
    """The scale ``s`` that minimises the (weighted) cross-entropy of ``s * logits`` (N, classes) against the class
    indices ``y``: it sharpens or flattens the scores and keeps their order in every row."""
    logits, y = logits.detach().float(), torch.as_tensor(y, dtype=torch.long)
    w = torch.ones(len(y)) if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
    log_s = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_s], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(log_s.exp() * logits, y, reduction="none") * w).sum() / w.sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_s.exp())
