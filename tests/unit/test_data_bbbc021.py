"""benchmark.data.bbbc021 and benchmark.data.moa, on the real BBBC021 tables and TIFF and on tiny layouts."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from benchmark.data import (
    CHANNELS,
    MOA_CLASSES,
    DataError,
    annotated_fields,
    load_fields,
    moa_to_label,
    read_field,
    read_image_table,
    read_moa_table,
    read_tiff,
)

DAPI_FILE = "Week1_150607_C02_s3_w1E54F0108-F44A-4F6E-9637-6A9DE80F0823.tif"


@pytest.fixture(scope="module")
def bbbc021(shared_data):
    return shared_data / "bbbc021"


@pytest.fixture(scope="module")
def real_tiff(bbbc021):
    return bbbc021 / "images" / "Week1" / "Week1_22123" / DAPI_FILE


def write_field(root, plate, site, values, shapes=((4, 5),) * 3):
    """Write one field's three constant-valued channel TIFFs under root/plate; return its image-table row."""
    (root / plate).mkdir(parents=True, exist_ok=True)
    row = {"Image_Metadata_Plate_DAPI": plate, "moa": "DMSO"}
    for channel, value, shape in zip(CHANNELS, values, shapes):
        name = f"{site}_{channel}.tif"
        tifffile.imwrite(root / plate / name, np.full(shape, value, dtype=np.uint16))
        row[f"Image_FileName_{channel}"] = name
        row[f"Image_PathName_{channel}"] = plate
    return row


def test_image_table_has_one_row_per_field(bbbc021):
    table = read_image_table(bbbc021 / "BBBC021_v1_image.csv")
    assert len(table) == 13_200
    assert table["Image_Metadata_Concentration"].dtype == np.float64


def test_moa_table_parses_cr_only_line_endings(bbbc021):
    path = bbbc021 / "BBBC021_v1_moa.csv"
    assert b"\r" in path.read_bytes() and b"\n" not in path.read_bytes()
    table = read_moa_table(path)
    assert list(table.columns) == ["compound", "concentration", "moa"]
    assert len(table) == 104  # 103 compound-concentration treatments + the DMSO control
    assert (table["compound"] != "DMSO").sum() == 103
    assert tuple(sorted(table["moa"].unique())) == MOA_CLASSES


def test_annotated_fields_joins_on_compound_and_concentration(bbbc021):
    fields = annotated_fields(bbbc021 / "BBBC021_v1_image.csv", bbbc021 / "BBBC021_v1_moa.csv")
    assert len(fields) == 3_848
    assert set(fields["moa"]) == set(MOA_CLASSES)
    assert (fields["moa"] == "DMSO").sum() == 1_320
    assert list(fields.index) == list(range(3_848))


def test_annotated_fields_rejects_duplicate_moa_rows(bbbc021, tmp_path):
    moa_csv = tmp_path / "moa.csv"
    moa_csv.write_text("compound,concentration,moa\nDMSO,0,DMSO\nDMSO,0.0,DMSO\n")
    with pytest.raises(DataError, match="moa.csv"):
        annotated_fields(bbbc021 / "BBBC021_v1_image.csv", moa_csv)


def test_tables_report_missing_files_and_columns(tmp_path):
    with pytest.raises(DataError, match="nowhere.csv: file not found"):
        read_moa_table(tmp_path / "nowhere.csv")
    (tmp_path / "moa.csv").write_text("compound,dose,moa\r")
    with pytest.raises(DataError, match=r"moa.csv: missing column\(s\) \['concentration'\]"):
        read_moa_table(tmp_path / "moa.csv")
    (tmp_path / "moa.csv").write_text("compound,concentration,moa\rtaxol,three,Microtubule stabilizers\r")
    with pytest.raises(DataError, match="moa.csv: cannot read as CSV"):
        read_moa_table(tmp_path / "moa.csv")


def test_moa_to_label():
    assert MOA_CLASSES == tuple(sorted(MOA_CLASSES)) and len(MOA_CLASSES) == 13
    labels = moa_to_label(pd.Series(["Actin disruptors", "DMSO", "Protein synthesis"]))
    assert labels.dtype == np.int32 and labels.tolist() == [0, 3, 12]
    with pytest.raises(DataError, match="Protein synthesys"):
        moa_to_label(["DMSO", "Protein synthesys"])


def test_read_real_dapi_tiff(real_tiff):
    image = read_tiff(real_tiff)
    assert image.shape == (1024, 1280) and image.dtype == np.uint16
    assert image.max() > image.min()


def corrupt_bytes(kind, real_tiff, tmp_path):
    """Bytes of a broken TIFF: garbage, empty, cut inside the header, cut before the page directory
    (the real file keeps it at the end), or a tifffile-written file cut inside its pixel data."""
    if kind == "strips-cut":
        tifffile.imwrite(tmp_path / "whole.tif", np.ones((256, 300), dtype=np.uint16))
        return (tmp_path / "whole.tif").read_bytes()[:80_000]
    real = real_tiff.read_bytes()
    cuts = {"garbage": b"not a TIFF file" * 10, "empty": b"", "header-cut": real[:4], "directory-cut": real[:50_000]}
    return cuts[kind]


@pytest.mark.parametrize("kind", ["garbage", "empty", "header-cut", "directory-cut", "strips-cut"])
def test_corrupt_tiff_names_the_path(real_tiff, tmp_path, kind):
    path = tmp_path / f"{kind}.tif"
    path.write_bytes(corrupt_bytes(kind, real_tiff, tmp_path))
    with pytest.raises(DataError, match=f"{kind}.tif: unreadable or corrupt TIFF"):
        read_tiff(path)


def test_tiff_must_be_2d_uint16(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((4, 5, 3), dtype=np.uint16))
    with pytest.raises(DataError, match="rgb.tif: expected a 2-D"):
        read_tiff(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "byte.tif", np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(DataError, match="byte.tif: expected uint16"):
        read_tiff(tmp_path / "byte.tif")


def test_missing_tubulin_file_names_the_channel(bbbc021):
    table = read_image_table(bbbc021 / "BBBC021_v1_image.csv")
    row = table[table["Image_FileName_DAPI"] == DAPI_FILE].iloc[0]
    with pytest.raises(DataError, match=r"Week1_22123/Week1_150607_C02_s3_w2.*\.tif: Tubulin channel file is missing"):
        read_field(bbbc021 / "images", row)


def test_read_field_stacks_dapi_tubulin_actin(tmp_path):
    row = write_field(tmp_path, "Week9_1", "A01_s1", values=(10, 20, 30))
    image = read_field(tmp_path, pd.Series(row))
    assert image.shape == (4, 5, 3) and image.dtype == np.uint16
    assert image[0, 0].tolist() == [10, 20, 30]


def test_read_field_rejects_channels_of_different_shapes(tmp_path):
    row = write_field(tmp_path, "Week9_1", "A01_s1", values=(1, 2, 3), shapes=((4, 5), (4, 5), (5, 4)))
    with pytest.raises(DataError, match="channels differ in shape"):
        read_field(tmp_path, row)


def test_load_fields(tmp_path):
    rows = [write_field(tmp_path, "Week9_1", f"A01_s{site}", values=(site, 0, 0)) for site in (1, 2)]
    rows[1]["moa"] = "Protein synthesis"
    images, labels, ids = load_fields(tmp_path, pd.DataFrame(rows))
    assert images.shape == (2, 4, 5, 3) and images.dtype == np.uint16
    assert images[:, 0, 0, 0].tolist() == [1, 2]
    assert labels.dtype == np.int32 and labels.tolist() == [3, 12]
    assert ids.tolist() == ["Week9_1/A01_s1_DAPI.tif", "Week9_1/A01_s2_DAPI.tif"]
    with pytest.raises(DataError, match="table is empty"):
        load_fields(tmp_path, pd.DataFrame(rows).iloc[:0])


def test_package_does_not_import_tensorflow():
    code = "import sys, benchmark.data, benchmark.data.makers.cells_sample; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
