"""The data-source registry: the one place that maps a source name (``data.source`` in a sweep spec,
``--data`` of ``mcnn-bench train``) to its loader. The spec schema and the command line take their
choices from :data:`SOURCES`.

A new source is one new module with an ``open_*(folder) -> ImageSet`` function and one line below.
"""

from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from .bbbc021 import open_fields
from .cells import open_cells
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
    """

    name: str
    help: str
    open: Callable[[str | PathLike], ImageSet] | None = None
    files: tuple[tuple[str, ...], ...] = ()

    def missing(self, folder: str | PathLike) -> str | None:
        """Why ``folder`` cannot hold this source's data (no such folder, a file missing), or None."""
        folder = Path(folder)
        if not folder.is_dir():
            return f"no such folder: {folder}"
        absent = [" or ".join(names) for names in self.files if not any((folder / n).is_file() for n in names)]
        return f"{folder} holds no {self.name} data: missing {', '.join(absent)}" if absent else None

    @property
    def needs_folder(self) -> bool:
        """Whether runs on this source need ``data.dir`` (and so have a natural epoch)."""
        return self.open is not None


SOURCES: dict[str, DataSource] = {source.name: source for source in (
    DataSource("synthetic", "random images and labels made on the fly (the throughput default)"),
    DataSource("bbbc021-cells", "BBBC021 single-cell crops: index.csv + images.npy/.npz", open_cells,
               (("index.csv",), ("images.npy", "images.npz"))),
    DataSource("bbbc021", "the official BBBC021 layout: image and MoA tables, one TIFF per channel", open_fields,
               (("BBBC021_v1_image.csv",), ("BBBC021_v1_moa.csv",))),
)}
