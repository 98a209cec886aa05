"""benchmark.data.cells and benchmark.data.makers.cells_sample, on the real crops, the shipped sample and tiny
folders."""

import numpy as np
import pandas as pd
import pytest

from benchmark.data import MOA_CLASSES, SAMPLE_DIR, DataError, load_cells
from benchmark.data.makers.cells_sample import main as make_sample
from benchmark.data.makers.cells_sample import select_fields

DMSO, PROTEIN_SYNTHESIS = MOA_CLASSES.index("DMSO"), MOA_CLASSES.index("Protein synthesis")


@pytest.fixture(scope="module")
def cells_dir(shared_data):
    return shared_data / "bbbc021" / "cells"


@pytest.fixture(scope="module")
def cells(cells_dir):
    return load_cells(cells_dir)


def write_cells(directory, images, moa=("DMSO", "Protein synthesis"), npz=False):
    """A crop folder of len(images) crops from two fields; returns the folder."""
    directory.mkdir(exist_ok=True)
    n = len(images)
    pd.DataFrame(
        {"crop": range(n), "field": [f"f{i % 2}.tif" for i in range(n)], "plate": "Week4_1", "moa": list(moa)[:n]}
    ).to_csv(directory / "index.csv", index=False)
    if npz:
        np.savez_compressed(directory / "images.npz", images=images)
    else:
        np.save(directory / "images.npy", images)
    return directory


def test_real_cells(cells):
    assert cells.images.shape == (2_279, 68, 68, 3) and cells.images.dtype == np.uint16
    assert cells.labels.dtype == np.int32
    assert np.bincount(cells.labels, minlength=13)[[DMSO, PROTEIN_SYNTHESIS]].tolist() == [1_080, 1_199]
    assert np.bincount(cells.labels).sum() == 2_279
    assert len(np.unique(cells.fields)) == 38 and cells.fields[0].startswith("Week4_27521/B02_s1_w1")
    assert len(cells.index) == 2_279


def test_shipped_sample_holds_whole_balanced_fields(cells):
    sample = load_cells(SAMPLE_DIR)
    assert (SAMPLE_DIR / "images.npz").is_file() and (SAMPLE_DIR / "README.md").is_file()
    assert sample.images.shape[1:] == (68, 68, 3) and sample.images.dtype == np.uint16
    assert list(sample.index.columns) == list(cells.index.columns)
    fields, counts = np.unique(sample.fields, return_counts=True)
    for field, count in zip(fields, counts):
        assert count == np.sum(cells.fields == field)  # whole fields
    field_classes = [sample.labels[sample.fields == field][0] for field in fields]
    assert np.bincount(field_classes, minlength=13)[[DMSO, PROTEIN_SYNTHESIS]].tolist() == [len(fields) // 2] * 2
    assert np.array_equal(sample.images, cells.images[sample.index["crop"].to_numpy()])


def test_make_sample_writes_whole_fields(cells_dir, cells, tmp_path):
    assert np.array_equal(select_fields(cells, 4), select_fields(cells, 4))
    make_sample(["--source", str(cells_dir), "--out", str(tmp_path / "sample"), "--fields", "2"])
    sample = load_cells(tmp_path / "sample")
    assert len(np.unique(sample.fields)) == 2 and set(sample.labels) == {DMSO, PROTEIN_SYNTHESIS}
    assert len(sample.images) == sum(np.sum(cells.fields == field) for field in np.unique(sample.fields))
    with pytest.raises(DataError, match="cannot take 3 fields evenly"):
        select_fields(cells, 3)


def test_truncated_npy(cells_dir, tmp_path):
    (tmp_path / "index.csv").write_bytes((cells_dir / "index.csv").read_bytes())
    (tmp_path / "images.npy").write_bytes((cells_dir / "images.npy").read_bytes()[:1_000_000])
    with pytest.raises(DataError, match="images.npy: truncated or corrupt"):
        load_cells(tmp_path)


def test_truncated_npz(tmp_path):
    images = np.arange(2 * 8 * 8 * 3, dtype=np.uint16).reshape(2, 8, 8, 3)
    directory = write_cells(tmp_path / "cells", images, npz=True)
    assert load_cells(directory).images.tolist() == images.tolist()
    data = (directory / "images.npz").read_bytes()
    (directory / "images.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="images.npz: truncated or corrupt"):
        load_cells(directory)


def test_npz_without_images_key(tmp_path):
    directory = write_cells(tmp_path / "cells", np.zeros((2, 8, 8, 3), np.uint16), npz=True)
    np.savez_compressed(directory / "images.npz", crops=np.zeros((2, 8, 8, 3), np.uint16))
    with pytest.raises(DataError, match=r"images.npz: no array named 'images' \(found \['crops'\]\)"):
        load_cells(directory)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((3, 8, 8, 3), np.uint16), "the images hold 3 crops but index.csv has 2 rows"),
        (np.zeros((2, 8, 8, 3), np.float32), r"images.npy: expected an \(N, H, W, 3\) uint16 array"),
        (np.zeros((2, 8, 8), np.uint16), r"images.npy: expected an \(N, H, W, 3\) uint16 array"),
    ],
)
def test_bad_images(tmp_path, images, message):
    directory = write_cells(tmp_path / "cells", images[:2])
    np.save(directory / "images.npy", images)
    with pytest.raises(DataError, match=message):
        load_cells(directory)


def test_bad_index(tmp_path):
    directory = write_cells(tmp_path / "cells", np.zeros((2, 8, 8, 3), np.uint16), moa=("DMSO", "Mitosis"))
    with pytest.raises(DataError, match=r"index.csv: unknown mechanism-of-action name\(s\) \['Mitosis'\]"):
        load_cells(directory)
    pd.DataFrame({"field": ["a", "b"], "moa": ["DMSO", "DMSO"]}).to_csv(directory / "index.csv", index=False)
    with pytest.raises(DataError, match=r"index.csv: missing column\(s\) \['plate'\]"):
        load_cells(directory)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(DataError, match="nowhere: cell-crop folder not found"):
        load_cells(tmp_path / "nowhere")
    directory = write_cells(tmp_path / "cells", np.zeros((2, 8, 8, 3), np.uint16))
    (directory / "images.npy").unlink()
    with pytest.raises(DataError, match="neither images.npy nor images.npz found"):
        load_cells(directory)
    (directory / "index.csv").unlink()
    with pytest.raises(DataError, match="index.csv: file not found"):
        load_cells(directory)
