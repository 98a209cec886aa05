"""The one shape every real data source takes: labelled images fetched by index, each tagged with its
field of view so that a split never puts one field on both sides."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageSet:
    """Labelled images that are fetched by index.

    Attributes:
        labels: ``(N,)`` int32 class indices for a single-label source (for BBBC021, into
            :data:`benchmark.data.moa.MOA_CLASSES`), or ``(N, K)`` float32 multi-hot rows of 0/1 for a
            multi-label one (ChestX-ray14: K = 14 pathologies, all zeros for "No Finding").
        fields: ``(N,)`` str group ids (BBBC021: the field of view; ChestX-ray14: the patient); the images of
            one group never straddle train and validation.
        fetch: maps ``(n,)`` int64 indices to ``(n, H, W, C)`` uint16 images (uint8 for an 8-bit source).
        fetch_planar: optionally, the same images channels first, ``(n, C, H, W)`` uint16, for a source that
            stores each channel apart (one TIFF per channel); the input pipeline then reads with it, which
            saves interleaving the channels in Python. Must be thread-safe, as ``fetch``.
        split: optionally, ``(N,)`` str: the side of each image in the dataset's published split lists
            (``"train"``, ``"val"``, ``"test"``, or ``""`` for an image in none), used by ``data.split =
            "lists"``; None for a source without such lists.
        compounds: optionally, ``(N,)`` str: the compound each image was treated with (BBBC021), used by
            ``data.split = "compound"``; None for a source without treatments.
    """

    labels: np.ndarray
    fields: np.ndarray
    fetch: Callable[[np.ndarray], np.ndarray]
    fetch_planar: Callable[[np.ndarray], np.ndarray] | None = None
    split: np.ndarray | None = None
    compounds: np.ndarray | None = None

    def subset(self, indices: np.ndarray) -> "ImageSet":
        """The images at ``indices`` ((M,) int64 into this set), in that order, as an image set of their own."""
        indices = np.asarray(indices, dtype=np.int64)
        planar = self.fetch_planar
        return ImageSet(
            self.labels[indices],
            self.fields[indices],
            lambda picked: self.fetch(indices[picked]),
            None if planar is None else lambda picked: planar(indices[picked]),
            None if self.split is None else self.split[indices],
            None if self.compounds is None else self.compounds[indices],
        )
