"""Make the shipped ChestX-ray14 sample: every X-ray of a source folder, downsized, with its label-table rows.

    python -m benchmark.data.makers.chestxray14_sample --source ../shared/data/chestxray14 \\
        --out benchmark/sample/chestxray14 --size 208

writes ``images/<name>.png`` (8-bit greyscale, ``--size`` pixels square, Pillow's bilinear filter, optimised
PNG), ``Data_Entry_2017_v2020.csv.gz`` (the header and the rows of those images, as published) and
``README.md`` (source, terms, counts). The output is the same on every run. CheXNet's split lists are not
copied: a sample is for patient-wise splits (``data.split = "field"``).
"""

import argparse
import gzip
import io
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.data.chestxray14 import (
    CHEXNET_CLASSES,
    TABLE_NAMES,
    finding_labels,
    image_size,
    index_images,
    read_split_lists,
    read_xray,
    table_path,
)
from benchmark.data.errors import DataError
from benchmark.util.atomic import write_atomic

#: The sample's image side in pixels: 380 optimised PNGs of 208 x 208 take about 6.9 MB, the largest multiple
#: of 16 that stays well under the 8 MB budget (224 x 224 would take about 7.8 MB).
DEFAULT_SIZE = 208


def png_bytes(path: str | PathLike, size: int) -> bytes:
    """One X-ray as an optimised 8-bit greyscale PNG of ``size`` x ``size`` pixels (bilinear resize).

    Raises:
        DataError: the source PNG is unreadable.
    """
    buffer = io.BytesIO()
    Image.fromarray(read_xray(path, (size, size)), mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def table_rows(table_file: Path, names: set[str]) -> bytes:
    """The header and the lines of ``table_file`` (plain or gzip CSV) whose first field is in ``names``,
    byte for byte, gzip-compressed without a time stamp (so the output is reproducible)."""
    opener = gzip.open if table_file.suffix == ".gz" else open
    with opener(table_file, "rb") as stream:
        lines = stream.read().splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if line.split(b",", 1)[0].decode() in names]
    return gzip.compress(b"".join(kept), mtime=0)


def readme(
    labels: np.ndarray,
    patients: int,
    size: int,
    source_size: tuple[int, int],
    split: np.ndarray | None,
    nbytes: int,
    source: str | PathLike,
    out: str | PathLike,
) -> str:
    """The sample's README.md: source, terms of use, contents with counts per pathology, how it was made.

    Args:
        labels: (N, 14) float32 multi-hot labels of the sample's images.
        patients: number of distinct patients.
        size: image side in pixels.
        source_size: (width, height) of the source's (first) image.
        split: (N,) CheXNet side of each image, or None if the source has no lists.
        nbytes: bytes of the images and the table together.
        source, out: the folders as given to :func:`make_sample`, for the command line shown.
    """
    counts = labels.sum(axis=0).astype(int)
    rows = "\n".join(f"| {name} | {count} |" for name, count in zip(CHEXNET_CLASSES, counts))
    sides = (
        ""
        if split is None
        else ", ".join(
            f"{int(np.sum(split == side))} in {f'its {side}' if side else 'no'} list" for side in np.unique(split)
        )
    )
    lists = "" if split is None else f"In CheXNet's patient-wise split (Rajpurkar et al. 2017): {sides}.\n"
    return f"""# NIH ChestX-ray14 sample (real data, {len(labels)} chest X-rays)

A small real sample, so the suite runs on a machine without `../shared/data`. Open it with
`benchmark.data.chestxray14.open_chestxray14(benchmark.data.chestxray14.SAMPLE_DIR)`.

## Source and terms

- **Images and labels:** the NIH ChestX-ray14 dataset of the NIH Clinical Center,
  https://nihcc.app.box.com/v/ChestXray-NIHCC. Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM.
  *ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and
  Localization of Common Thorax Diseases.* IEEE CVPR 2017, 3462-3471.
- **Terms:** the NIH Clinical Center allows unrestricted use of the dataset; users should cite the paper
  above and acknowledge the NIH Clinical Center as the data provider.

## Contents

| file | what |
|---|---|
| `images/*.png` | {len(labels)} X-rays, {size} x {size} pixels, 8-bit greyscale PNG, named as in the official set |
| `{TABLE_NAMES[1]}` | the official label table's header and the {len(labels)} rows of these images, unchanged |

The images and the table take {nbytes:,} bytes. The images come from {patients} patients. Labels per pathology
(an image may have several; {int(np.sum(labels.sum(axis=1) == 0))} are "No Finding"):

| pathology | images |
|---|---|
{rows}

{lists}The sample does not ship CheXNet's split lists: a run on it splits patient-wise
(`data.split = "field"`, grouping by `Patient ID`).

## How it was made

From the project root:

```
python -m benchmark.data.makers.chestxray14_sample --source {source} --out {out} --size {size}
```

The source holds {source_size[0]} x {source_size[1]} copies of the official 1024 x 1024 X-rays. Each was
resized to {size} x {size} with Pillow's bilinear filter and saved as an optimised PNG. The table rows
were copied byte for byte and gzip-compressed without a time stamp, so the output is the same on every run.
"""


def make_sample(source: str | PathLike, out: str | PathLike, size: int = DEFAULT_SIZE) -> int:
    """Write the sample of every image in ``source`` to ``out`` (see the module docstring).

    Returns:
        The number of images written.
    Raises:
        DataError: ``source`` cannot be read (see :func:`benchmark.data.chestxray14.index_images`), or
            ``size`` is not positive.
    """
    if size < 1:
        raise DataError(f"--size must be positive, got {size}")
    source, out = Path(source), Path(out)
    table = index_images(source)
    names = table["Image Index"].tolist()
    nbytes = 0
    for name in names:
        image = png_bytes(source / "images" / name, size)
        write_atomic(out / "images" / name, image)
        nbytes += len(image)
    rows = table_rows(table_path(source), set(names))
    write_atomic(out / TABLE_NAMES[1], rows)
    nbytes += len(rows)
    sides = read_split_lists(source)
    split = None if sides is None else np.array([sides.get(name, "") for name in names], dtype=str)
    labels = finding_labels(table["Finding Labels"], table_path(source))
    source_size = image_size(source / "images" / names[0])
    write_atomic(
        out / "README.md", readme(labels, table["Patient ID"].nunique(), size, source_size, split, nbytes, source, out)
    )
    return len(names)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--source DIR --out DIR [--size PIXELS]``; exits with status 2 on a DataError."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.data.makers.chestxray14_sample", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--source", required=True, help="ChestX-ray14 folder: label table + images/*.png")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side in pixels")
    args = parser.parse_args(argv)
    try:
        count = make_sample(args.source, args.out, args.size)
    except DataError as error:
        parser.error(str(error))
    print(f"wrote {count} X-rays of {args.size} x {args.size} pixels to {args.out}")


if __name__ == "__main__":
    main()
