"""NIH ChestX-ray14: frontal chest X-rays with 14 pathology labels mined from the radiology reports.

Source: NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC (Wang et al., "ChestX-ray8:
Hospital-scale chest X-ray database and benchmarks on weakly-supervised classification and localization of
common thorax diseases", CVPR 2017). A folder in the official layout holds the label table
``Data_Entry_2017_v2020.csv`` (or ``.csv.gz``) and ``images/*.png``; optionally also CheXNet's patient-wise
split lists ``chexnet_{train,val,test}_list.txt`` (Rajpurkar et al., "CheXNet", arXiv:1711.05225, 2017).
``SAMPLE_DIR`` is the small real sample shipped with the suite (see its README.md).
"""

import logging
import os
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .csv_table import check_csv_header, read_csv_table
from .errors import DataError
from .imageset import ImageSet

log = logging.getLogger(__name__)

#: The 14 pathologies, in the column order of CheXNet's split lists (Rajpurkar et al. 2017; the names are
#: those of the label table, Wang et al. 2017).
CHEXNET_CLASSES = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

#: The finding of an image with none of the 14 pathologies (an all-zero label row).
NO_FINDING = "No Finding"

#: The label table's file names, in order of preference.
TABLE_NAMES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017_v2020.csv.gz")

#: Columns of the label table that this module uses.
TABLE_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")

#: The sides of CheXNet's split, each listed in ``chexnet_{side}_list.txt``.
SPLITS = ("train", "val", "test")

#: The shipped sample, made by ``python -m benchmark.data.makers.chestxray14_sample``; found as a resource
#: of the installed ``benchmark`` package.
SAMPLE_DIR = Path(str(resources.files("benchmark") / "sample" / "chestxray14"))


def table_path(folder: str | PathLike) -> Path:
    """The label table of ``folder``: the first of :data:`TABLE_NAMES` that exists.

    Raises:
        DataError: the folder holds neither.
    """
    folder = Path(folder)
    for name in TABLE_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no label table ({' or '.join(TABLE_NAMES)})")


def finding_labels(findings: pd.Series, table: str | PathLike) -> np.ndarray:
    """Multi-hot labels from ``Finding Labels`` strings such as ``"Cardiomegaly|Effusion"``.

    Args:
        findings: (N,) ``|``-separated names of :data:`CHEXNET_CLASSES`, or ``"No Finding"``.
        table: the file they come from, for error messages.
    Returns:
        (N, 14) float32 rows of 0/1, columns in :data:`CHEXNET_CLASSES` order; all zeros for "No Finding".
    Raises:
        DataError: a name is not a pathology of :data:`CHEXNET_CLASSES` nor "No Finding", or a row is empty
            (the message names ``table`` and the name).
    """
    if findings.isna().any():
        raise DataError(f"{table}: empty 'Finding Labels' in {int(findings.isna().sum())} row(s)")
    hot = findings.str.get_dummies(sep="|")
    unknown = sorted(set(hot.columns) - {*CHEXNET_CLASSES, NO_FINDING})
    if unknown:
        raise DataError(
            f"{table}: unknown finding(s) {unknown} in 'Finding Labels'; known: {list(CHEXNET_CLASSES)}"
            f" and {NO_FINDING!r}"
        )
    return hot.reindex(columns=list(CHEXNET_CLASSES), fill_value=0).to_numpy(dtype=np.float32)


def patient_ids(patients: pd.Series) -> np.ndarray:
    """(N,) str group ids ``"patient/<8-digit Patient ID>"`` (e.g. ``"patient/00000001"``), as the image names
    number patients."""
    return np.array([f"patient/{patient:08d}" for patient in patients], dtype=str)


def read_split_lists(folder: str | PathLike) -> dict[str, str] | None:
    """CheXNet's split: the side (``"train"``, ``"val"`` or ``"test"``) of every image its lists name.

    Only the first column (the image name) of ``chexnet_{side}_list.txt`` is read; the labels in the lists
    are not used, as the label table is the reference (on the official files the two disagree for 181 of
    the 112,120 images: the lists predate the table's 2020 revision).

    Returns:
        Image name -> side, or None when the folder lacks any of the three lists (with a warning when it has
        some but not all).
    Raises:
        DataError: a list is unreadable, or an image is in two lists (naming both files).
    """
    paths = {side: Path(folder) / f"chexnet_{side}_list.txt" for side in SPLITS}
    present = [side for side, path in paths.items() if path.is_file()]
    if len(present) < len(SPLITS):
        if present:
            log.warning(
                "%s: CheXNet split list(s) for %s missing; no published split",
                folder,
                [side for side in SPLITS if side not in present],
            )
        return None
    sides: dict[str, str] = {}
    for side, path in paths.items():
        names = read_csv_table(path, (0,), sep=r"\s+", header=None, usecols=[0], dtype=str)[0]
        twice = [name for name in names if name in sides]
        if twice:
            raise DataError(f"{path}: {len(twice)} image(s) also in {paths[sides[twice[0]]].name}, e.g. {twice[0]}")
        sides.update(dict.fromkeys(names, side))
    return sides


def index_images(folder: str | PathLike) -> pd.DataFrame:
    """The label-table rows of the images that ``folder/images`` holds, sorted by image name.

    Images in the table but not on disk, and PNGs on disk but not in the table, are left out; each kind is
    reported once, with its count, as a warning on this module's logger.

    Returns:
        The table's rows (all its columns), with a fresh RangeIndex.
    Raises:
        DataError: no label table or ``images`` folder; the table lacks a column of :data:`TABLE_COLUMNS`,
            has a non-integer ``Patient ID`` or names an image twice; or no image is both listed and on disk.
    """
    folder = Path(folder)
    table_file = table_path(folder)
    images = folder / "images"
    if not images.is_dir():
        raise DataError(f"{images}: image folder not found")
    table = read_csv_table(
        table_file, TABLE_COLUMNS, dtype={"Image Index": str, "Finding Labels": str, "Patient ID": np.int64}
    )
    twice = table["Image Index"][table["Image Index"].duplicated()]
    if len(twice):
        raise DataError(f"{table_file}: {len(twice)} image(s) listed twice, e.g. {twice.iloc[0]}")
    on_disk = {path.name for path in images.glob("*.png")}
    listed = table["Image Index"].isin(on_disk)
    if not listed.all():
        log.warning(
            "%s: %d of the %d images in %s are not on disk; left out",
            images,
            int((~listed).sum()),
            len(table),
            table_file.name,
        )
    unlisted = len(on_disk) - int(listed.sum())
    if unlisted:
        log.warning("%s: %d PNG(s) are not in %s; left out", images, unlisted, table_file.name)
    if not listed.any():
        raise DataError(f"{images}: none of the images of {table_file.name} is here")
    return table[listed].sort_values("Image Index").reset_index(drop=True)


def read_xray(path: str | PathLike, size: tuple[int, int]) -> np.ndarray:
    """Decode one X-ray PNG as 8-bit greyscale (Pillow mode "L"), resized (bilinear) to ``size`` if it differs.

    Args:
        path: the PNG file.
        size: (width, height) in pixels, Pillow's order.
    Returns:
        (height, width) uint8 array.
    Raises:
        DataError: the file is missing, unreadable, corrupt or truncated, or has more than 8 bits per pixel.
    """
    try:
        with Image.open(path) as image:
            if image.mode in ("I", "I;16", "F"):
                raise DataError(f"{path}: expected an 8-bit image, got Pillow mode {image.mode!r}")
            grey = image.convert("L")
        width, height = size
        if grey.size != (width, height):
            grey = grey.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(grey)
    except (OSError, SyntaxError, ValueError) as error:  # Pillow: UnidentifiedImageError, truncated, bad CRC
        raise DataError(f"{path}: unreadable or corrupt PNG ({type(error).__name__}: {error})") from error


def image_size(path: str | PathLike) -> tuple[int, int]:
    """(width, height) of an image from its header. Raises DataError as :func:`read_xray`."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: unreadable or corrupt PNG ({type(error).__name__}: {error})") from error


def check_chestxray14(folder: str | PathLike) -> None:
    """Check a folder before anything runs, reading only headers: the label table opens and has
    :data:`TABLE_COLUMNS`, the ``images`` folder can be listed and its first PNG (by name) opens as an image.

    Raises:
        DataError: naming the file or folder and the cause (missing, no permission, not CSV, a column
            missing, not an image).
    """
    folder = Path(folder)
    check_csv_header(table_path(folder), TABLE_COLUMNS)
    images = folder / "images"
    try:
        first = min((entry.name for entry in os.scandir(images) if entry.name.endswith(".png")), default=None)
    except FileNotFoundError:
        raise DataError(f"{images}: image folder not found") from None
    except OSError as error:
        raise DataError(f"{images}: cannot list the image folder ({error.strerror or error})") from error
    if first is None:
        raise DataError(f"{images}: no PNG image here")
    try:
        with open(images / first, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise DataError(f"{images / first}: cannot read ({error.strerror or error})") from error
    image_size(images / first)


def open_chestxray14(folder: str | PathLike) -> ImageSet:
    """The X-rays of an official ChestX-ray14 layout under ``folder``, read on demand.

    The images are those both in the label table and on disk (see :func:`index_images`), sorted by name.
    Labels come from the table's ``Finding Labels`` (:func:`finding_labels`); the group of each image is its
    patient (:func:`patient_ids`), so a split never puts one patient on both sides; ``split`` is CheXNet's
    side of each image (``""`` for one in no list) when the folder has all three lists
    (:func:`read_split_lists`), else None.

    ``fetch`` maps (n,) int64 indices to (n, H, W, 3) uint8: each PNG decoded as greyscale, resized
    (bilinear) to the size (W, H) of the set's first image when its own differs, and repeated into three
    channels. It holds no state between calls, so tf.data may call it from several threads at once; it
    raises DataError for an unreadable PNG, naming the file.

    Raises:
        DataError: as :func:`index_images`, :func:`finding_labels` and :func:`read_split_lists`, or the
            first image is unreadable.
    """
    folder = Path(folder)
    table = index_images(folder)
    labels = finding_labels(table["Finding Labels"], table_path(folder))
    names = table["Image Index"].tolist()
    paths = [folder / "images" / name for name in names]
    size = image_size(paths[0])
    sides = read_split_lists(folder)
    split = None if sides is None else np.array([sides.get(name, "") for name in names], dtype=str)

    def fetch(indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        images = np.empty((len(indices), size[1], size[0], 3), dtype=np.uint8)
        for out, i in zip(images, indices):
            out[...] = read_xray(paths[i], size)[..., None]
        return images

    return ImageSet(labels, patient_ids(table["Patient ID"]), fetch, split=split)
