"""The data sources: BBBC021 for M-CNN (the official tables and TIFFs, single-cell crops) and NIH ChestX-ray14
(:mod:`benchmark.data.chestxray14`), and group-wise splits.

Pure numpy / pandas / tifffile; nothing here imports TensorFlow. Every bad-input error is a ``DataError``.
"""

from .bbbc021 import (
    CHANNELS,
    annotated_fields,
    load_fields,
    open_fields,
    read_field,
    read_image_table,
    read_moa_table,
    read_tiff,
)
from .cells import SAMPLE_DIR, CellSet, load_cells, open_cells
from .errors import DataError
from .imageset import ImageSet
from .moa import MOA_CLASSES, moa_to_label
from .split import field_ids, shard, split_by_field

__all__ = [
    "CHANNELS",
    "MOA_CLASSES",
    "SAMPLE_DIR",
    "CellSet",
    "DataError",
    "ImageSet",
    "annotated_fields",
    "load_cells",
    "field_ids",
    "load_fields",
    "moa_to_label",
    "open_cells",
    "open_fields",
    "read_field",
    "read_image_table",
    "read_moa_table",
    "read_tiff",
    "shard",
    "split_by_field",
]
