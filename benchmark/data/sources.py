"""The data-source registry: the one place that maps a source name (``data.source`` in a sweep spec,
``--data`` of ``mcnn-bench train``) to its loader. The spec schema and the command line take their
choices from :data:`SOURCES`.

A new source is one new module with an ``open_*(folder) -> ImageSet`` function and one line below.
"""

from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

from .bbbc021 import check_fields, open_fields
from .cells import check_cells, open_cells
from .chestxray14 import CHEXNET_CLASSES, check_chestxray14, open_chestxray14
from .errors import DataError
from .imageset import ImageSet


@dataclass(frozen=True)
class DataSource:
    """A named source of images.

    Attributes:
        name: what ``data.source`` says.
        help: one line for ``--help`` and the docs.
        open: reads the source's folder into an :class:`ImageSet` (raising ``DataError`` on bad input);
            None for a source whose images are made on the fly, which has no folder and no natural epoch.
        files: what the folder must hold, checked before anything runs: one tuple of alternative file
            names per file.
        check: checks, before anything runs and reading only headers, that the folder's files can be read
            (raising ``DataError`` naming the file and the cause: no permission, cut short, not the format);
            see :meth:`problem`.
        task: ``"single-label"`` (one class per image: softmax cross-entropy, top-1/top-5) or
            ``"multi-label"`` (any number of classes per image: sigmoid binary cross-entropy, per-class
            AUROC); see :mod:`benchmark.train.task`.
        classes: the source's fixed class count (``data.num_classes`` defaults to it), or None for any.
        class_names: the classes' names in label order (the record's per-class figures are keyed by them),
            or empty when the classes are unnamed.
        split_lists: whether its image sets carry the dataset's published split (``ImageSet.split``), for
            ``data.split = "lists"``.
        fit: how its images meet the model's input size: ``"pad"`` (zero-pad, or shrink with the aspect kept
            when larger: the microscopy fields, as Datta et al. 2019 pad 724 to 768) or ``"resize"``
            (stretch to the input size: the X-rays, as CheXNet resizes to 224x224).
    """

    name: str
    help: str
    open: Callable[[str | PathLike], ImageSet] | None = None
    files: tuple[tuple[str, ...], ...] = ()
    check: Callable[[str | PathLike], None] | None = None
    task: Literal["single-label", "multi-label"] = "single-label"
    classes: int | None = None
    class_names: tuple[str, ...] = ()
    fit: Literal["pad", "resize"] = "pad"
    split_lists: bool = False

    def missing(self, folder: str | PathLike) -> str | None:
        """Why ``folder`` cannot hold this source's data (no such folder, a file missing, a folder that
        cannot be looked into), or None."""
        folder = Path(folder)
        try:
            if not folder.is_dir():
                return f"no such folder: {folder}"
            absent = [" or ".join(names) for names in self.files if not any((folder / n).is_file() for n in names)]
        except OSError as exc:
            return f"cannot look into the data folder {folder} ({exc.strerror or exc})"
        return f"{folder} holds no {self.name} data: missing {', '.join(absent)}" if absent else None

    def problem(self, folder: str | PathLike) -> str | None:
        """Why runs cannot read ``folder``, checked before anything runs: :meth:`missing`, else the source's
        :attr:`check` of its files' readability and headers (naming the file and the cause); None when
        both pass."""
        missing = self.missing(folder)
        if missing is not None or self.check is None:
            return missing
        try:
            self.check(folder)
        except DataError as exc:
            return str(exc)
        return None

    @property
    def needs_folder(self) -> bool:
        """Whether runs on this source need ``data.dir`` (and so have a natural epoch)."""
        return self.open is not None


SOURCES: dict[str, DataSource] = {
    source.name: source
    for source in (
        DataSource("synthetic", "random images and labels made on the fly (the throughput default)"),
        DataSource(
            "bbbc021-cells",
            "BBBC021 single-cell crops: index.csv + images.npy/.npz",
            open_cells,
            (("index.csv",), ("images.npy", "images.npz")),
            check_cells,
            classes=13,
        ),
        DataSource(
            "bbbc021",
            "the official BBBC021 layout: image and MoA tables, one TIFF per channel",
            open_fields,
            (("BBBC021_v1_image.csv",), ("BBBC021_v1_moa.csv",)),
            check_fields,
            classes=13,
        ),
        DataSource(
            "chestxray14",
            "NIH ChestX-ray14: Data_Entry_2017_v2020.csv(.gz) + images/*.png (+ CheXNet split lists)",
            open_chestxray14,
            (("Data_Entry_2017_v2020.csv", "Data_Entry_2017_v2020.csv.gz"),),
            check_chestxray14,
            task="multi-label",
            classes=14,
            fit="resize",
            split_lists=True,
            class_names=CHEXNET_CLASSES,
        ),
    )
}
