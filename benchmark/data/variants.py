"""The paper's workloads as variants of the official BBBC021 fields (Datta et al. 2019, sec. 4), made on the
fly: which fields, and which geometric copies of each (``data.variant``).

- ``dataset-a``: 1,684 annotated fields at 1024x1280x3, each in 6 dihedral copies (original, 90-degree
  rotation, horizontal mirror, vertical mirror, 90-degree rotation of each mirror): 10,104 images an epoch.
  The paper does not list its 1,684 fields. The rule here gives exactly 1,684 from the official tables:
  every annotated field of each mechanism of action, with the two large classes (DMSO, 1,320 fields;
  microtubule stabilizers, 1,428) sampled down to 292 fields each with the run's seed. A 90-degree copy
  of a 1024x1280 field is 1280x1024; it is scaled by 0.8 to fit the 1024x1280 canvas, centred, zero-padded.
- ``dataset-b``: the same fields; each field and its mirror image rotated in 15-degree steps, and the
  centre square of side floor(min(H, W) / sqrt(2)) (724 at 1024x1280: the largest square that stays inside
  the field under any rotation) kept: 48 copies a field (24 angles x 2 mirrorings, the whole group the
  paper's dihedral copies and 15-degree rotations generate), zero-padded to the model's 768x768 input by
  the pipeline as the paper did.

Nothing is written to disk (the paper wrote 38 GB and 512 GB of copies): a copy is an index
``field * copies + k``, and :func:`transforms` gives the projective transform that the tf.data pipeline
applies to the field (``tf.raw_ops.ImageProjectiveTransformV3``). Pure numpy.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .moa import moa_to_label

#: Fields kept of the two large classes in Dataset A (Datta et al. 2019, sec. 4: 1,684 fields in all;
#: the official tables hold 1,320 DMSO and 1,428 microtubule-stabilizer fields among 3,848 annotated).
DATASET_A_CLASS_CAP = {"DMSO": 292, "Microtubule stabilizers": 292}


@dataclass(frozen=True)
class Copy:
    """One geometric copy of a field: mirrored left-right first (``mirror``), then rotated by ``degrees``
    counter-clockwise as displayed (y pointing down) about the field's centre."""

    mirror: bool
    degrees: int


@dataclass(frozen=True)
class Variant:
    """How a variant turns fields into images.

    Attributes:
        name: what ``data.variant`` says.
        copies: the copies of every field, in index order.
        canvas: ``(H, W)`` of a field -> ``(h, w)`` of its copies (pixels).
        fit: whether each copy is scaled to fit the canvas whole (a 90-degree copy of a non-square field);
            otherwise the canvas crops the copy's centre at scale 1.
        capped_classes: fields kept per class (a seeded sample), for the classes that are capped.
    """

    name: str
    copies: tuple[Copy, ...]
    canvas: Callable[[int, int], tuple[int, int]]
    fit: bool
    capped_classes: dict[str, int]

    @property
    def transformed(self) -> bool:
        """Whether the copies differ from the fields as read."""
        return self.copies != (Copy(False, 0),)


def _same(height: int, width: int) -> tuple[int, int]:
    return height, width


def _rotation_safe_square(height: int, width: int) -> tuple[int, int]:
    side = int(min(height, width) / np.sqrt(2))
    return side, side


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("none", (Copy(False, 0),), _same, False, {}),
        Variant(
            "dataset-a",
            tuple(Copy(m, d) for m, d in ((False, 0), (False, 90), (True, 0), (True, 180), (True, 90), (True, 270))),
            _same,
            True,
            DATASET_A_CLASS_CAP,
        ),
        Variant(
            "dataset-b",
            tuple(Copy(m, d) for m in (False, True) for d in range(0, 360, 15)),
            _rotation_safe_square,
            False,
            DATASET_A_CLASS_CAP,
        ),
    )
}


def select_fields(labels: np.ndarray, caps: dict[str, int], seed: int) -> np.ndarray:
    """The fields a variant keeps: all of each class, but at most ``caps[name]`` of a capped class, drawn
    with ``numpy.random.default_rng(seed)``.

    Args:
        labels: (N,) int32 class of each field (indices into ``MOA_CLASSES``).
        caps: class name -> fields to keep.
        seed: the run's seed.
    Returns:
        (M,) int64 sorted indices into ``labels``.
    """
    rng = np.random.default_rng(seed)
    keep = np.ones(len(labels), dtype=bool)
    for label, cap in zip(moa_to_label(caps), caps.values()):
        members = np.flatnonzero(labels == label)
        if len(members) > cap:
            keep[rng.permutation(members)[cap:]] = False
    return np.flatnonzero(keep)


def _rotation(degrees: int) -> np.ndarray:
    """2x2 rotation by ``degrees`` counter-clockwise as displayed (image y points down); exact at
    multiples of 90."""
    if degrees % 90 == 0:
        cos, sin = [(1, 0), (0, 1), (-1, 0), (0, -1)][degrees // 90 % 4]
    else:
        cos, sin = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[cos, sin], [-sin, cos]], dtype=np.float64)


def transforms(variant: Variant, height: int, width: int) -> np.ndarray:
    """The projective transform of each of ``variant``'s copies of an ``height x width`` field.

    Each row ``[a0, a1, a2, b0, b1, b2, 0, 0]`` maps an output pixel ``(x, y)`` of the canvas to the field
    pixel ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` it samples, the form of TensorFlow's
    ``ImageProjectiveTransformV3``. The forward map is ``out = c_out + s R F (in - c_in)``: centres
    ``c = ((w - 1) / 2, (h - 1) / 2)``, ``F`` the mirror, ``R`` the rotation and ``s`` the scale that fits
    the rotated field in the canvas (1 unless ``variant.fit``).

    Returns:
        (copies, 8) float32.
    """
    canvas_h, canvas_w = variant.canvas(height, width)
    c_in = np.array([(width - 1) / 2, (height - 1) / 2])
    c_out = np.array([(canvas_w - 1) / 2, (canvas_h - 1) / 2])
    rows = []
    for copy in variant.copies:
        rotation = _rotation(copy.degrees)
        mirror = np.diag([-1.0 if copy.mirror else 1.0, 1.0])
        scale = 1.0
        if variant.fit:
            box_w, box_h = np.abs(rotation) @ np.array([width, height])
            scale = min(1.0, canvas_w / box_w, canvas_h / box_h)
        inverse = mirror @ rotation.T / scale
        shift = c_in - inverse @ c_out
        rows.append([inverse[0, 0], inverse[0, 1], shift[0], inverse[1, 0], inverse[1, 1], shift[1], 0.0, 0.0])
    return np.asarray(rows, dtype=np.float32)
