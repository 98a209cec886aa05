"""Cut a small real sample of whole fields of view from the BBBC021 single-cell crops.

    python -m benchmark.data.makers.cells_sample --source ../shared/data/bbbc021/cells \\
        --out benchmark/sample/bbbc021-cells --fields 12

takes ``--fields`` whole fields, the same number from every class, and writes ``images.npz``
(``numpy.savez_compressed``, array ``images``) and ``index.csv`` (the source rows, same columns).
"""

import argparse
from os import PathLike
from pathlib import Path

import numpy as np

from benchmark.data.cells import CellSet, load_cells
from benchmark.data.errors import DataError
from benchmark.data.moa import MOA_CLASSES
from benchmark.data.split import field_labels


def select_fields(cells: CellSet, n_fields: int) -> np.ndarray:
    """Crop indices of ``n_fields`` whole fields, ``n_fields / C`` from each of the C classes present.

    Within a class the fields are sorted by id and picked evenly spaced, so the choice is deterministic
    and spread over plates.

    Returns:
        Sorted int64 indices into ``cells``.
    Raises:
        DataError: ``n_fields`` is not a positive multiple of C, or a class has too few fields.
    """
    names, classes = field_labels(cells.fields, cells.labels)
    present = np.unique(classes)
    per_class, remainder = divmod(n_fields, len(present))
    counts = {MOA_CLASSES[c]: int(np.sum(classes == c)) for c in present}
    if n_fields < 1 or remainder or per_class > min(counts.values()):
        raise DataError(f"cannot take {n_fields} fields evenly from {len(present)} classes with {counts} fields")
    chosen = [_evenly_spaced(names[classes == c], per_class) for c in present]
    return np.flatnonzero(np.isin(cells.fields, np.concatenate(chosen)))


def _evenly_spaced(names: np.ndarray, count: int) -> np.ndarray:
    """``count`` of the sorted ``names``, evenly spaced from the first to the last."""
    return names[np.linspace(0, len(names) - 1, count).round().astype(int)]


def write_sample(cells: CellSet, crops: np.ndarray, out: str | PathLike) -> None:
    """Write the chosen crops to ``out/images.npz`` (key ``images``) and ``out/index.csv``.

    The index keeps the source's columns and values (``crop`` is the row in the source array;
    concentrations in micromolar with 6 decimals, as in the source).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "images.npz", images=cells.images[crops])
    cells.index.iloc[crops].to_csv(out / "index.csv", index=False, float_format="%.6f")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--source DIR --out DIR --fields K``; exits with status 2 on a DataError."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.data.makers.cells_sample", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--source", required=True, help="folder with index.csv and images.npy/.npz")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--fields", type=int, required=True, help="number of whole fields, a multiple of the classes")
    args = parser.parse_args(argv)
    try:
        cells = load_cells(args.source)
        crops = select_fields(cells, args.fields)
    except DataError as error:
        parser.error(str(error))
    write_sample(cells, crops, args.out)
    print(f"wrote {len(crops)} crops of {args.fields} fields to {args.out}")


if __name__ == "__main__":
    main()
