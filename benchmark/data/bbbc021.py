"""The official BBBC021 layout: the image and MoA tables, and one TIFF per channel per field of view.

Source: Broad Bioimage Benchmark Collection, https://bbbc.broadinstitute.org/BBBC021 (Ljosa et al.,
Nature Methods 2012; Caie et al., Mol Cancer Ther 2010). A field of view is one row of
``BBBC021_v1_image.csv``; its channel ``ch`` is the file ``root / Image_PathName_{ch} / Image_FileName_{ch}``.
"""

import functools
import struct
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from .csv_table import check_csv_header, read_csv_table
from .errors import DataError
from .imageset import ImageSet
from .moa import moa_to_label
from .split import field_ids

#: Channel order of every stacked field: DNA (DAPI), beta-tubulin, F-actin, as named in the image table.
CHANNELS = ("DAPI", "Tubulin", "Actin")

#: Columns of ``BBBC021_v1_image.csv`` that this module uses.
IMAGE_COLUMNS = (
    *(f"Image_{kind}_{ch}" for ch in CHANNELS for kind in ("FileName", "PathName")),
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)

#: Columns of ``BBBC021_v1_moa.csv``.
MOA_COLUMNS = ("compound", "concentration", "moa")


def read_image_table(path: str | PathLike) -> pd.DataFrame:
    """Read ``BBBC021_v1_image.csv``, one row per field of view (13,200 rows in the official file).

    Returns:
        The table with (at least) ``IMAGE_COLUMNS``; ``Image_Metadata_Concentration`` is float64 (micromolar).
    Raises:
        DataError: the file is missing or unparsable, lacks a column, or has a non-numeric concentration.
    """
    return read_csv_table(path, IMAGE_COLUMNS, dtype={"Image_Metadata_Concentration": float})


def read_moa_table(path: str | PathLike) -> pd.DataFrame:
    """Read ``BBBC021_v1_moa.csv``: one row per (compound, concentration) with its mechanism of action.

    The official file uses old Mac line endings (CR only), which pandas' C parser recognises as line
    ends. It has 104 rows: 103 compound-concentration treatments and the DMSO control (concentration 0).

    Returns:
        Table with columns ``compound`` (str), ``concentration`` (float64, micromolar), ``moa`` (str).
    Raises:
        DataError: the file is missing or unparsable, lacks a column, or has a non-numeric concentration.
    """
    return read_csv_table(path, MOA_COLUMNS, dtype={"concentration": float})


def annotated_fields(image_csv: str | PathLike, moa_csv: str | PathLike) -> pd.DataFrame:
    """The fields of view that have a mechanism of action: image table inner-joined with the MoA table.

    Rows match on compound name and concentration (compared as floats parsed from the CSV text). On the
    official files, 3,848 of the 13,200 fields are annotated.

    Returns:
        The image table's columns plus ``moa`` (str), in image-table order, with a fresh RangeIndex.
    Raises:
        DataError: either table is unreadable, or the MoA table lists a (compound, concentration) twice.
    """
    moa = read_moa_table(moa_csv).rename(
        columns={"compound": "Image_Metadata_Compound", "concentration": "Image_Metadata_Concentration"}
    )
    keys = ["Image_Metadata_Compound", "Image_Metadata_Concentration"]
    try:
        joined = read_image_table(image_csv).merge(moa, on=keys, how="inner", validate="many_to_one")
    except pd.errors.MergeError as error:
        raise DataError(f"{moa_csv}: a (compound, concentration) pair appears more than once") from error
    return joined.reset_index(drop=True)


def read_tiff(path: str | PathLike) -> np.ndarray:
    """Read one single-channel TIFF with tifffile.

    Returns:
        (H, W) uint16 array of raw intensities (BBBC021 fields are 1024 x 1280 pixels).
    Raises:
        DataError: the file is missing, unreadable, corrupt or truncated (tifffile's error is quoted),
            not 2-D, or not uint16.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: TIFF file not found")
    try:
        image = tifffile.imread(path)
    except (OSError, ValueError, struct.error) as error:  # tifffile.TiffFileError is a ValueError
        raise DataError(f"{path}: unreadable or corrupt TIFF ({type(error).__name__}: {error})") from error
    if image.size == 0:  # tifffile returns an empty array when the page directory lies past the end of file
        raise DataError(f"{path}: unreadable or corrupt TIFF (no image data; truncated?)")
    if image.ndim != 2:
        raise DataError(f"{path}: expected a 2-D single-channel image, got shape {image.shape}")
    if image.dtype != np.uint16:
        raise DataError(f"{path}: expected uint16 pixels, got {image.dtype}")
    return image


def channel_path(root: str | PathLike, row: Mapping, channel: str) -> Path:
    """Path of one channel's TIFF for a field: ``root / Image_PathName_{channel} / Image_FileName_{channel}``.

    Args:
        root: the folder holding the ``WeekN`` folders.
        row: one row of the image table (a pandas Series or a dict).
        channel: one of ``CHANNELS``.
    Raises:
        DataError: the row lacks the channel's path or file-name column.
    """
    try:
        return Path(root) / str(row[f"Image_PathName_{channel}"]) / str(row[f"Image_FileName_{channel}"])
    except KeyError as error:
        raise DataError(f"image-table row has no column {error} for the {channel} channel") from None


def field_paths(root: str | PathLike, row: Mapping) -> tuple[Path, ...]:
    """The channel TIFFs of one field of view, in ``CHANNELS`` order (see :func:`channel_path`)."""
    return tuple(channel_path(root, row, channel) for channel in CHANNELS)


def read_channels(paths: tuple[Path, ...]) -> np.ndarray:
    """Read one field's channel TIFFs (``paths`` in ``CHANNELS`` order, see :func:`field_paths`) and stack
    them: (H, W, 3) uint16. Raises DataError as :func:`read_field`."""
    planes = []
    for channel, path in zip(CHANNELS, paths):
        if not path.is_file():
            raise DataError(f"{path}: {channel} channel file is missing")
        planes.append(read_tiff(path))
    shapes = {channel: plane.shape for channel, plane in zip(CHANNELS, planes)}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{paths[0]}: channels differ in shape {shapes}")
    return np.stack(planes, axis=-1)


#: Byte alignment of the arrays :func:`read_fields_planar` returns, so that TensorFlow takes them over
#: from ``tf.numpy_function`` without a copy (it copies arrays that are not 64-byte aligned).
ALIGNMENT = 64


def _aligned_empty(shape: tuple[int, ...], dtype=np.uint16) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def _plain_layout(path: Path) -> tuple[int, int, int] | None:
    """``(height, width, offset)`` of a plain TIFF (see :func:`_page_layout`), remembered per file version
    (path, size, modification time): tifffile takes about 0.7 ms, with the GIL held, to describe a
    MetaMorph file, and every epoch reads the same files again."""
    stat = path.stat()
    return _page_layout(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 16)
def _page_layout(path: Path, size: int, mtime_ns: int) -> tuple[int, int, int] | None:
    """``(height, width, offset)`` of a plain TIFF, as tifffile describes its page: one page, 16-bit unsigned
    single-sample pixels, little-endian, uncompressed, no predictor, stored contiguously from ``offset``
    (BBBC021's MetaMorph files are). None for anything else. ``size`` and ``mtime_ns`` key the cache."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        plain = (
            not tif.pages.is_multipage
            and tif.byteorder == "<"
            and page.dtype == np.uint16
            and page.samplesperpixel == 1
            and page.compression == 1
            and page.predictor == 1
            and page.is_contiguous
            and len(page.shape) == 2
        )
        if not plain:
            return None
        height, width = page.shape
        return height, width, int(page.dataoffsets[0])


def _read_plain_tiff(path: Path, out: np.ndarray) -> bool:
    """Read ``path`` straight into ``out`` ((H, W) uint16, C-contiguous) if it is a plain TIFF of that
    shape (:func:`_plain_layout`): the page described by tifffile, the pixels one ``readinto``, which
    releases the GIL. Returns False (``out`` partly written) for any other or a broken file, which
    :func:`read_tiff` then reads with tifffile or reports."""
    try:
        layout = _plain_layout(path)
        if layout is None or layout[:2] != out.shape:
            return False
        with open(path, "rb", buffering=0) as handle:
            handle.seek(layout[2])
            return handle.readinto(out.data) == out.nbytes
    except Exception:  # noqa: BLE001 - any failure: read_tiff reads the file again and says what is wrong
        return False


def read_fields_planar(fields: list[tuple[Path, ...]], shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Read fields of view, each given by its channel paths (:func:`field_paths`), in order, channels first.

    Thread-safe, and mostly free of the GIL: each channel of a plain TIFF (:func:`_read_plain_tiff`) is
    read straight into its place in the result; any other file goes through :func:`read_tiff` (and a
    copy), so the checks and messages are those of :func:`read_field`.

    Args:
        fields: the channel paths of each field.
        shape: the (H, W, 3) every field must have, if known; by default the first field's.
    Returns:
        (N, 3, H, W) uint16, 64-byte aligned; channels in ``CHANNELS`` order.
    Raises:
        DataError: ``fields`` is empty, a field cannot be read (see :func:`read_field`), or a field's shape
            differs from ``shape`` (naming its DAPI file).
    """
    if not fields:
        raise DataError("no fields to read")
    first = None
    if shape is None:
        first = read_channels(fields[0])
        field_shape: tuple[int, ...] = first.shape
    else:
        field_shape = tuple(shape)
    images = _aligned_empty((len(fields), field_shape[2], *field_shape[:2]))
    if first is not None:
        images[0] = np.moveaxis(first, -1, 0)
    for i in range(0 if first is None else 1, len(fields)):
        paths = fields[i]
        if all(_read_plain_tiff(path, plane) for path, plane in zip(paths, images[i])):
            continue
        image = read_channels(paths)
        if image.shape != field_shape:
            raise DataError(f"{paths[0]}: field shape {image.shape} != {field_shape}")
        images[i] = np.moveaxis(image, -1, 0)
    return images


def read_fields(fields: list[tuple[Path, ...]]) -> np.ndarray:
    """As :func:`read_fields_planar`, channels last: (N, H, W, 3) uint16."""
    return np.ascontiguousarray(np.moveaxis(read_fields_planar(fields), 1, -1))


def read_field(root: str | PathLike, row: Mapping) -> np.ndarray:
    """Read the three channel TIFFs of one field of view and stack them.

    Args:
        root: the folder holding the ``WeekN`` folders.
        row: one row of the image table (a pandas Series or a dict).
    Returns:
        (H, W, 3) uint16 array, channels in ``CHANNELS`` order (DAPI, Tubulin, Actin).
    Raises:
        DataError: a channel file is missing (the message names the channel and path), a TIFF is corrupt,
            not 2-D or not uint16, or the channels differ in shape.
    """
    return read_channels(field_paths(root, row))


def _field_ids(table: pd.DataFrame):
    return field_ids(table["Image_Metadata_Plate_DAPI"], table["Image_FileName_DAPI"])


def load_fields(root: str | PathLike, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read every field of an annotated table (see ``annotated_fields``) into memory.

    Each field takes H * W * 3 * 2 bytes (7.5 MiB at 1024 x 1280), so pass a subset of rows.

    Returns:
        images (N, H, W, 3) uint16 (DAPI, Tubulin, Actin); labels (N,) int32 indices into ``MOA_CLASSES``;
        field ids (N,) str as given by :func:`benchmark.data.split.field_ids`.
    Raises:
        DataError: the table is empty or has an unknown ``moa``, a field cannot be read (see
            ``read_field``), or fields differ in shape.
    """
    if table.empty:
        raise DataError(f"no fields to load from {root}: the table is empty")
    labels = moa_to_label(table["moa"])
    images = read_fields([field_paths(root, row) for row in table.to_dict("records")])
    return images, labels, _field_ids(table)


def check_fields(root: str | PathLike) -> None:
    """Check an official layout before anything runs, reading only headers: both tables open and have
    their columns (``IMAGE_COLUMNS``, ``MOA_COLUMNS``), and the channel TIFFs of the image table's first
    field open and have a readable first page. The other fields are read when the run reads them.

    Raises:
        DataError: naming the file and the cause (missing, no permission, not CSV, a column missing, not
            a TIFF).
    """
    root = Path(root)
    image_csv = root / "BBBC021_v1_image.csv"
    check_csv_header(image_csv, IMAGE_COLUMNS)
    check_csv_header(root / "BBBC021_v1_moa.csv", MOA_COLUMNS)
    first = read_csv_table(image_csv, IMAGE_COLUMNS, nrows=1)
    for path in field_paths(root, first.iloc[0]) if len(first) else ():
        try:
            with tifffile.TiffFile(path) as tiff:
                tiff.pages.first.shape  # noqa: B018 - parses the first page's header
        except OSError as error:
            why = error.strerror or f"{type(error).__name__}: {error}"
            raise DataError(f"{path}: cannot read ({why}); the first field of {image_csv.name}") from error
        except (ValueError, struct.error, IndexError) as error:
            raise DataError(f"{path}: unreadable or corrupt TIFF ({type(error).__name__}: {error})") from error


def open_fields(root: str | PathLike) -> ImageSet:
    """The annotated fields of view of an official BBBC021 layout under ``root``, read on demand.

    ``root`` holds ``BBBC021_v1_image.csv``, ``BBBC021_v1_moa.csv`` and the ``WeekN`` folders; each
    fetch reads the fields' three channel TIFFs into ``(n, H, W, 3)`` uint16 (``fetch_planar``: into
    ``(n, 3, H, W)``, as stored; see :func:`read_fields_planar`).

    Raises:
        DataError: a table is missing or malformed (see :func:`annotated_fields`).
    """
    root = Path(root)
    table = annotated_fields(root / "BBBC021_v1_image.csv", root / "BBBC021_v1_moa.csv")
    paths = [field_paths(root, row) for row in table.to_dict("records")]
    shape: dict[str, tuple[int, int, int]] = {}  # the first field read's (H, W, 3), which every later field must have

    def planar(indices: np.ndarray) -> np.ndarray:
        images = read_fields_planar([paths[i] for i in np.asarray(indices, dtype=np.int64)], shape.get("field"))
        _, channels, height, width = images.shape
        shape.setdefault("field", (height, width, channels))
        return images

    return ImageSet(
        moa_to_label(table["moa"]),
        _field_ids(table),
        lambda indices: np.ascontiguousarray(np.moveaxis(planar(indices), 1, -1)),
        planar,
        compounds=table["Image_Metadata_Compound"].to_numpy(dtype=str),
    )
