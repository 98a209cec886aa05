"""An official BBBC021 layout with real tables and synthetic pixels, for trying the full-field workloads
(Datta et al. 2019's Datasets A and B) without the 50 GB of real TIFFs.

    python -m benchmark.data.synthetic_layout --tables ../shared/data/bbbc021 --out /tmp/bbbc021-synthetic \\
        --fields-per-class 2 --size 1024 1280

takes ``--fields-per-class`` real annotated fields of each mechanism of action from the real image table
(the first of each class in table order), writes that subset of the image table, the real MoA table byte
for byte, and at each field's real paths one uint16 TIFF per channel (tifffile) of Poisson noise whose mean
depends on the class and the channel, so that a model can learn something.
"""

import argparse
import csv
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from .bbbc021 import CHANNELS, annotated_fields, channel_path
from .moa import moa_to_label


def write_layout(root: str | PathLike, rows: list[dict], moa_csv: bytes, shape: tuple[int, int], seed: int = 0) -> Path:
    """Write an official layout under ``root``: ``BBBC021_v1_image.csv`` with ``rows`` (each a dict of the
    image table's columns, in its column order, plus ``moa``), ``BBBC021_v1_moa.csv`` (``moa_csv``, the real
    table's bytes) and one ``shape`` (H, W) uint16 TIFF per channel of each row: Poisson noise of mean
    ``600 + 200 * label + 150 * channel``. Returns ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "BBBC021_v1_moa.csv").write_bytes(moa_csv)
    rng = np.random.default_rng(seed)
    columns = [c for c in rows[0] if c != "moa"]
    for row in rows:
        level = 600 + 200 * int(moa_to_label([row["moa"]])[0])
        for index, channel in enumerate(CHANNELS):
            path = channel_path(root, row, channel)
            path.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(path, rng.poisson(level + 150 * index, shape).astype(np.uint16))
    with open(root / "BBBC021_v1_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return root


def real_rows(tables: str | PathLike, per_class: int) -> list[dict]:
    """The first ``per_class`` annotated fields of each mechanism of action in the real tables under
    ``tables`` (image-table columns plus ``moa``), in table order."""
    tables = Path(tables)
    annotated = annotated_fields(tables / "BBBC021_v1_image.csv", tables / "BBBC021_v1_moa.csv")
    picked = annotated.groupby("moa", sort=False).head(per_class)
    header = pd.read_csv(tables / "BBBC021_v1_image.csv", nrows=0).columns
    return picked[[*header, "moa"]].to_dict("records")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.data.synthetic_layout", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--tables", type=Path, required=True, help="folder with the real BBBC021_v1_image.csv and BBBC021_v1_moa.csv"
    )
    parser.add_argument("--out", type=Path, required=True, help="where the layout goes")
    parser.add_argument("--fields-per-class", type=int, default=2, help="fields of each MoA (default: %(default)s)")
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(1024, 1280),
        metavar=("H", "W"),
        help="field size in pixels (default: 1024 1280)",
    )
    args = parser.parse_args(argv)
    rows = real_rows(args.tables, args.fields_per_class)
    write_layout(args.out, rows, (args.tables / "BBBC021_v1_moa.csv").read_bytes(), tuple(args.size))
    print(f"{len(rows)} fields of {args.size[0]}x{args.size[1]}x3 written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
