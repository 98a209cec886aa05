"""Mechanism-of-action (MoA) classes of BBBC021 and their integer labels."""

from collections.abc import Iterable

import numpy as np

from .errors import DataError

#: The 13 BBBC021 classes, 12 mechanisms of action plus the DMSO control, spelled exactly as in
#: ``BBBC021_v1_moa.csv`` (Ljosa et al., Nature Methods 2012) and sorted alphabetically; the same 13
#: classes as Godinez et al. 2017 and Datta et al. 2019. The label of a class is its position here.
MOA_CLASSES = (
    "Actin disruptors",
    "Aurora kinase inhibitors",
    "Cholesterol-lowering",
    "DMSO",
    "DNA damage",
    "DNA replication",
    "Eg5 inhibitors",
    "Epithelial",
    "Kinase inhibitors",
    "Microtubule destabilizers",
    "Microtubule stabilizers",
    "Protein degradation",
    "Protein synthesis",
)

_LABELS = {name: label for label, name in enumerate(MOA_CLASSES)}


def moa_to_label(names: Iterable[str]) -> np.ndarray:
    """Map MoA names to integer labels, the names' positions in ``MOA_CLASSES``.

    Args:
        names: N class names (a list, array or pandas Series of str).
    Returns:
        (N,) int32 array with values in [0, 13).
    Raises:
        DataError: a name is not one of ``MOA_CLASSES`` (the message lists the unknown names).
    """
    names = list(names)
    unknown = sorted({str(name) for name in names if name not in _LABELS})
    if unknown:
        raise DataError(f"unknown mechanism-of-action name(s) {unknown}; expected one of {list(MOA_CLASSES)}")
    return np.array([_LABELS[name] for name in names], dtype=np.int32)
