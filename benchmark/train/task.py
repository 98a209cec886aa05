"""What a run learns, which follows its data (``DataSource.task``): the loss of the training step, the labels'
type, and the validation figures of each epoch.

- **single-label** (BBBC021's mechanisms of action, synthetic data): softmax cross-entropy of the logits;
  validation loss, top-1 and top-5 with 95 % intervals from a bootstrap over fields of view; time to train on
  top-1 (Datta et al. 2019, sec. 3 and Table 1).
- **multi-label** (ChestX-ray14's 14 pathologies): one sigmoid per class with binary cross-entropy, as
  CheXNet's head (Rajpurkar et al. 2017, sec. 3.1); validation loss, the AUROC of each class and their mean;
  time to train on the mean AUROC (Wilson et al., Dell EMC, judge CheXNet by per-class AUROC).

AUROC is scikit-learn's ``roc_auc_score``, computed once per epoch on the outcomes of the whole validation
set gathered from every worker: it is exact (the Mann-Whitney statistic over all thresholds), where Keras'
``AUC`` metric approximates the curve on 200 fixed thresholds and would have to be merged across workers.
A class with no positive or no negative image in validation has no AUROC (null) and is left out of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from benchmark.record import MainMetric
from benchmark.train.metrics import bootstrap_interval


@dataclass(frozen=True)
class Task:
    """A kind of learning problem.

    Attributes:
        name: ``"single-label"`` or ``"multi-label"``.
        main_metric: the :class:`benchmark.record.Epoch` field that time to train is measured on.
        target_setting: the ``[training]`` setting holding that metric's target.
        label: the main metric's name in logs.
    """

    name: str
    main_metric: MainMetric
    target_setting: str
    label: str

    @property
    def multi_label(self) -> bool:
        return self.name == "multi-label"

    def label_dtype(self):
        """numpy dtype of a batch's labels: int32 class indices ``(n,)`` or float32 multi-hot ``(n, K)``."""
        return np.float32 if self.multi_label else np.int32

    def label_shape(self, classes: int) -> list:
        """Shape of a batch's labels, batch dimension unknown."""
        return [None, classes] if self.multi_label else [None]

    def losses(self, tf, labels, logits):
        """``(n,)`` float32 loss of each image: softmax cross-entropy of int32 ``labels`` ``(n,)``, or binary
        cross-entropy averaged over classes of float32 multi-hot ``labels`` ``(n, K)``; ``logits`` ``(n, K)``
        float32."""
        if self.multi_label:
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)

    def outcomes(self, labels: np.ndarray, logits: np.ndarray, fields: np.ndarray) -> np.ndarray:
        """One validation batch's per-image outcomes as float64 rows, to be gathered from every worker, from
        its labels (int ``(n,)`` or multi-hot ``(n, K)``), float32 ``(n, K)`` logits and int ``(n,)`` field
        codes, as numpy arrays whatever the engine: single-label ``(n, 3)`` = top-1 hit, top-5 hit, field
        code; multi-label ``(n, 2K + 1)`` = the K sigmoid probabilities, the K labels, the field code.

        A top-k hit is TensorFlow's ``in_top_k``: the image's logits are all finite and fewer than k of them
        exceed the label's (classes tied at the boundary all count as in the top k)."""
        codes = np.asarray(fields)[:, None]
        if self.multi_label:
            return np.hstack([expit(logits), labels, codes]).astype(np.float64)
        target = np.take_along_axis(logits, np.asarray(labels, dtype=np.int64)[:, None], axis=1)
        above = (logits > target).sum(axis=1, keepdims=True)
        finite = np.isfinite(logits).all(axis=1, keepdims=True)
        hits = [finite & (above < k) for k in (1, 5)]
        return np.hstack([*hits, codes]).astype(np.float64)

    def figures(self, outcomes: np.ndarray, class_names: tuple[str, ...], seed: int) -> dict:
        """The epoch's validation figures (fields of :class:`benchmark.record.Epoch`, without ``val_loss``) from
        the gathered ``outcomes`` rows (see :meth:`outcomes`) of the whole validation set."""
        if self.multi_label:
            classes = (outcomes.shape[1] - 1) // 2
            per_class = class_auroc(outcomes[:, classes : 2 * classes], outcomes[:, :classes])
            names = class_names or tuple(f"class_{i}" for i in range(classes))
            defined = [v for v in per_class if v is not None]
            return {
                "val_auroc": dict(zip(names, per_class)),
                "val_auroc_mean": float(np.mean(defined)) if defined else None,
            }
        top1, top5, codes = outcomes.T
        return {
            "val_top1": float(top1.mean()),
            "val_top5": float(top5.mean()),
            "val_top1_ci": bootstrap_interval(top1, codes, seed=seed),
            "val_top5_ci": bootstrap_interval(top5, codes, seed=seed),
        }


def class_auroc(labels: np.ndarray, scores: np.ndarray) -> list[float | None]:
    """The AUROC of each class (scikit-learn's ``roc_auc_score``): ``labels`` ``(n, K)`` 0/1, ``scores``
    ``(n, K)`` probabilities; None for a class whose labels are all 0 or all 1 (AUROC undefined)."""
    from sklearn.metrics import roc_auc_score

    return [
        float(roc_auc_score(labels[:, k], scores[:, k])) if 0 < labels[:, k].sum() < len(labels) else None
        for k in range(labels.shape[1])
    ]


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("single-label", "val_top1", "target_top1", "val top-1"),
        Task("multi-label", "val_auroc_mean", "target_mean_auroc", "val mean AUROC"),
    )
}
