"""Single-cell crops of BBBC021: a folder with ``index.csv`` and ``images.npy`` or ``images.npz``.

The full set (../shared/data/bbbc021/cells) holds 2,279 crops of 68 x 68 pixels cut from 38 BBBC021
fields by a CellProfiler segmentation (Singh et al.); ``SAMPLE_DIR`` is the small real sample shipped
with the suite (see its README.md).
"""

import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from .csv_table import check_csv_header, read_csv_table
from .errors import DataError
from .imageset import ImageSet
from .moa import moa_to_label
from .split import field_ids

#: The shipped sample of whole fields, made by ``python -m benchmark.data.makers.cells_sample``; found as a
#: resource of the installed ``benchmark`` package.
SAMPLE_DIR = Path(str(resources.files("benchmark") / "sample" / "bbbc021-cells"))

#: Columns of ``index.csv`` that ``load_cells`` uses (the file also has crop, well, replicate,
#: compound, concentration and cell).
INDEX_COLUMNS = ("plate", "field", "moa")


@dataclass(frozen=True)
class CellSet:
    """Crops with their labels and the field of view each was cut from.

    Attributes:
        images: (N, 68, 68, 3) uint16 raw intensities, channels DAPI, Tubulin, Actin.
        labels: (N,) int32 indices into ``MOA_CLASSES``.
        fields: (N,) str field ids ``"<plate>/<DAPI file name>"``, unique per field of view.
        index: the N rows of ``index.csv``, in crop order.
    """

    images: np.ndarray
    labels: np.ndarray
    fields: np.ndarray
    index: pd.DataFrame


def load_cells(directory: str | PathLike) -> CellSet:
    """Load a crop folder: ``index.csv`` plus ``images.npy`` or ``images.npz`` (array key ``images``).

    If both image files exist, ``images.npy`` is used.

    Raises:
        DataError: the folder or a file is missing; the array file is truncated or corrupt, or not a
            4-D uint16 array with 3 channels; ``index.csv`` lacks a column of ``INDEX_COLUMNS``; the index
            and the images differ in row count; or a ``moa`` is not in ``MOA_CLASSES``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: cell-crop folder not found")
    index_csv = directory / "index.csv"
    index = read_csv_table(index_csv, INDEX_COLUMNS)
    images = read_crops(directory)
    if len(images) != len(index):
        raise DataError(f"{directory}: the images hold {len(images)} crops but index.csv has {len(index)} rows")
    try:
        labels = moa_to_label(index["moa"])
    except DataError as error:
        raise DataError(f"{index_csv}: {error}") from None
    return CellSet(images=images, labels=labels, fields=field_ids(index["plate"], index["field"]), index=index)


def crops_path(directory: str | PathLike) -> Path:
    """The crop array file of a folder: ``images.npy`` if present, else ``images.npz``.

    Raises:
        DataError: neither file exists.
    """
    directory = Path(directory)
    for name in ("images.npy", "images.npz"):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory}: neither images.npy nor images.npz found")


def read_crops(directory: str | PathLike) -> np.ndarray:
    """Read the crop array of a folder: ``images.npy`` if present, else ``images.npz``.

    Returns:
        (N, H, W, 3) uint16 array.
    Raises:
        DataError: neither file exists; the file is truncated or corrupt; an .npz has no ``images``
            array; or the array is not 4-D uint16 with 3 channels.
    """
    path = crops_path(directory)
    images = _load_array(path)
    _check_crops(path, images.shape, images.dtype)
    return images


def _check_crops(path: Path, shape: tuple, dtype: np.dtype) -> None:
    if len(shape) != 4 or shape[-1] != 3 or dtype != np.uint16:
        raise DataError(f"{path}: expected an (N, H, W, 3) uint16 array, got {shape} {dtype}")


def check_cells(directory: str | PathLike) -> None:
    """Check a crop folder before anything runs, reading only headers: ``index.csv`` opens and has the
    columns of ``INDEX_COLUMNS``; the array file opens, its .npy header (inside the .npz's zip directory,
    for an .npz) reads, says an (N, H, W, 3) uint16 array and the file holds all of its bytes. A file cut
    short or unreadable is found here instead of when the run loads it; a corruption inside the data is
    not (only the full read sees it).

    Raises:
        DataError: naming the file and the cause (no permission, truncated, not an array file, wrong shape).
    """
    directory = Path(directory)
    check_csv_header(directory / "index.csv", INDEX_COLUMNS)
    path = crops_path(directory)
    shape, dtype = array_header(path)
    _check_crops(path, shape, dtype)


def array_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy file, or the array ``images`` of an .npz file, holds, read from the
    header only; checks that the file holds as many bytes as the header promises.

    Raises:
        DataError: the file cannot be opened (the operating system's cause), is cut short, is not an
            .npy/.npz file, or an .npz has no ``images`` array.
    """
    try:
        if path.suffix != ".npz":
            with open(path, "rb") as handle:
                shape, dtype, offset = _npy_header(handle)
                held = os.fstat(handle.fileno()).st_size - offset
        else:
            with zipfile.ZipFile(path) as archive:
                if "images.npy" not in archive.namelist():
                    names = [name.removesuffix(".npy") for name in archive.namelist()]
                    raise DataError(f"{path}: no array named 'images' (found {names})")
                member = archive.getinfo("images.npy")
                with archive.open(member) as handle:
                    shape, dtype, offset = _npy_header(handle)
                held = member.file_size - offset
    except DataError:
        raise
    except OSError as error:
        if error.strerror:
            raise DataError(f"{path}: cannot read ({error.strerror})") from error
        raise DataError(f"{path}: truncated or corrupt array file ({type(error).__name__}: {error})") from error
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: truncated or corrupt array file ({type(error).__name__}: {error})") from error
    needed = math.prod(shape) * dtype.itemsize
    if held < needed:
        raise DataError(
            f"{path}: truncated array file: its header says {shape} {dtype} ({needed} bytes), it holds {held} bytes"
        )
    return shape, dtype


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and data offset of the .npy stream ``handle`` (at its start)."""
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(handle)
    return tuple(shape), np.dtype(dtype), handle.tell()


def _load_array(path: Path) -> np.ndarray:
    """The array of an .npy file, or the array ``images`` of an .npz file; DataError if unreadable."""
    try:
        with open(path, "rb") as handle:  # our handle, so it is closed even when np.load fails
            data = np.load(handle, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                return data
            with data:
                if "images" not in data.files:
                    raise DataError(f"{path}: no array named 'images' (found {data.files})")
                return data["images"]
    except OSError as error:
        if error.strerror:  # the operating system's: no permission, an I/O error
            raise DataError(f"{path}: cannot read ({error.strerror})") from error
        raise DataError(f"{path}: truncated or corrupt array file ({type(error).__name__}: {error})") from error
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: truncated or corrupt array file ({type(error).__name__}: {error})") from error


def open_cells(directory: str | PathLike) -> ImageSet:
    """The crops of a folder (see :func:`load_cells`) as an :class:`ImageSet` of ``(68, 68, 3)`` uint16 images.

    Raises:
        DataError: as :func:`load_cells`.
    """
    cells = load_cells(directory)
    compounds = cells.index["compound"].to_numpy(dtype=str) if "compound" in cells.index else None
    return ImageSet(cells.labels, cells.fields, lambda indices: cells.images[indices], compounds=compounds)
