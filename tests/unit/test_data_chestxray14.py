"""benchmark.data.chestxray14 and its sample maker, on the real NIH ChestX-ray14 files, the shipped sample and
small folders made from them."""

import csv
import gzip
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from benchmark.data import DataError, split_by_field
from benchmark.data.chestxray14 import CHEXNET_CLASSES, SAMPLE_DIR, open_chestxray14
from benchmark.data.makers.chestxray14_sample import main as make_sample
from benchmark.data.sources import SOURCES

TABLE = "Data_Entry_2017_v2020.csv"


@pytest.fixture(scope="module")
def xray_dir(shared_data):
    return shared_data / "chestxray14"


@pytest.fixture(scope="module")
def xrays(xray_dir):
    return open_chestxray14(xray_dir)


@pytest.fixture(scope="module")
def table_lines(xray_dir):
    """The official table's lines (header first), read independently of the module under test."""
    return gzip.decompress((xray_dir / f"{TABLE}.gz").read_bytes()).decode().splitlines(keepends=True)


@pytest.fixture(scope="module")
def raw_rows(table_lines):
    """Image name -> the table's row as a dict of strings, parsed with the csv module."""
    return {row["Image Index"]: row for row in csv.DictReader(table_lines)}


@pytest.fixture(scope="module")
def sample():
    return open_chestxray14(SAMPLE_DIR)


def names_in(folder):
    return sorted(path.name for path in (folder / "images").glob("*.png"))


def make_folder(folder, lines, images):
    """A ChestX-ray14 folder: ``TABLE`` with ``lines`` (header first) and ``images/`` holding a copy of each
    (name, source PNG) of ``images``; returns the folder."""
    (folder / "images").mkdir(parents=True)
    (folder / TABLE).write_text("".join(lines))
    for name, source in images:
        shutil.copyfile(source, folder / "images" / name)
    return folder


def test_class_order_is_chexnets():
    assert CHEXNET_CLASSES == (
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


def test_labels_match_the_raw_table(xray_dir, xrays, raw_rows):
    names = names_in(xray_dir)
    assert xrays.labels.shape == (len(names), 14) and xrays.labels.dtype == np.float32
    for name, row in zip(names, xrays.labels):
        findings = raw_rows[name]["Finding Labels"].split("|")
        assert [CHEXNET_CLASSES[k] for k in np.flatnonzero(row)] == [c for c in CHEXNET_CLASSES if c in findings]
        if findings == ["No Finding"]:
            assert not row.any()
    assert {"No Finding"} in [set(raw_rows[name]["Finding Labels"].split("|")) for name in names]
    assert (xrays.labels.sum(axis=1) > 1).any()  # some images have several findings


def test_label_columns_follow_the_split_lists(xray_dir, xrays):
    """Each label column agrees with the same column of CheXNet's lists better than with any other column."""
    listed = {}
    for line in (xray_dir / "chexnet_test_list.txt").read_text().splitlines():
        name, *values = line.split()
        listed[name] = [int(value) for value in values]
    lists = np.array([listed[name] for name in names_in(xray_dir)])
    agreement = (xrays.labels[:, :, None] == lists[:, None, :]).mean(axis=0)  # (ours, theirs)
    assert np.array_equal(agreement.argmax(axis=1), np.arange(14))


def test_fields_are_patients(xray_dir, xrays, raw_rows):
    names = names_in(xray_dir)
    assert xrays.fields.tolist() == [f"patient/{int(raw_rows[name]['Patient ID']):08d}" for name in names]
    assert all(field == f"patient/{name[:8]}" for field, name in zip(xrays.fields, names))


def test_split_from_the_lists(xrays, sample):
    assert xrays.split.tolist() == ["test"] * len(xrays.labels)  # all 380 images are in CheXNet's test list
    assert sample.split is None  # the sample ships no lists


def test_split_lists_naming_an_image_twice(xray_dir, tmp_path, table_lines):
    first, second = names_in(xray_dir)[:2]
    folder = make_folder(tmp_path, table_lines, [(first, xray_dir / "images" / first)])
    for side, name in (("train", first), ("val", second), ("test", first)):
        (folder / f"chexnet_{side}_list.txt").write_text(f"{name} {' '.join(['0'] * 14)}\n")
    with pytest.raises(DataError, match="chexnet_test_list.txt.*also in chexnet_train_list.txt"):
        open_chestxray14(folder)


def test_plain_and_gzip_tables_agree(xray_dir, xrays, tmp_path, table_lines):
    (tmp_path / "images").symlink_to(xray_dir / "images")
    (tmp_path / TABLE).write_text("".join(table_lines))
    plain = open_chestxray14(tmp_path)
    assert np.array_equal(plain.labels, xrays.labels) and np.array_equal(plain.fields, xrays.fields)
    assert plain.split is None
    assert SOURCES["chestxray14"].missing(tmp_path) is None and SOURCES["chestxray14"].open is open_chestxray14


def test_unknown_finding(xray_dir, tmp_path, table_lines, raw_rows):
    name = names_in(xray_dir)[0]
    line = next(line for line in table_lines if line.startswith(name))
    bad = line.replace(raw_rows[name]["Finding Labels"], "Pneumonia|Covid")
    make_folder(tmp_path, [table_lines[0], bad], [(name, xray_dir / "images" / name)])
    with pytest.raises(DataError, match=rf"{TABLE}.*Covid"):
        open_chestxray14(tmp_path)


def test_missing_and_unlisted_images_are_reported_once(tmp_path, caplog):
    lines = gzip.decompress((SAMPLE_DIR / f"{TABLE}.gz").read_bytes()).decode().splitlines(keepends=True)
    names = names_in(SAMPLE_DIR)
    kept = names[::40]
    make_folder(
        tmp_path,
        lines,
        [(name, SAMPLE_DIR / "images" / name) for name in kept]
        + [("99999999_000.png", SAMPLE_DIR / "images" / names[1])],
    )
    with caplog.at_level(logging.WARNING, logger="benchmark"):
        images = open_chestxray14(tmp_path)
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "not on disk" in m]) == 1
    assert f"{len(names) - len(kept)} of the {len(names)} images" in messages[0]
    assert len([m for m in messages if "not in" in m]) == 1 and " 1 PNG(s)" in messages[1]
    assert len(images.labels) == len(kept)
    full = open_chestxray14(SAMPLE_DIR)
    assert np.array_equal(images.fetch(np.arange(len(kept))), full.fetch(np.arange(0, len(names), 40)))


def test_no_images(tmp_path, table_lines):
    make_folder(tmp_path, table_lines[:3], [])
    with pytest.raises(DataError, match="none of the images"):
        open_chestxray14(tmp_path)


def test_corrupt_png_names_the_file(tmp_path):
    names = names_in(SAMPLE_DIR)[:3]
    lines = gzip.decompress((SAMPLE_DIR / f"{TABLE}.gz").read_bytes()).decode().splitlines(keepends=True)
    folder = make_folder(tmp_path, lines, [(name, SAMPLE_DIR / "images" / name) for name in names])
    data = (folder / "images" / names[1]).read_bytes()
    (folder / "images" / names[1]).write_bytes(data[: len(data) // 2])  # truncated
    (folder / "images" / names[2]).write_bytes(b"not a png")
    images = open_chestxray14(folder)
    assert images.fetch(np.array([0])).shape[0] == 1
    for index in (1, 2):
        with pytest.raises(DataError, match=names[index]):
            images.fetch(np.array([0, index]))
    (folder / "images" / names[0]).write_bytes(b"")
    with pytest.raises(DataError, match=names[0]):  # the first image fixes the common size
        open_chestxray14(folder)


def test_shipped_sample(xray_dir, xrays, sample):
    files = [path for path in SAMPLE_DIR.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) <= 8_000_000
    assert (SAMPLE_DIR / "README.md").is_file() and SOURCES["chestxray14"].missing(SAMPLE_DIR) is None
    names = names_in(SAMPLE_DIR)
    assert names == names_in(xray_dir) and len(names) == 380
    sizes = {Image.open(SAMPLE_DIR / "images" / name).size for name in names}
    assert len(sizes) == 1
    ((width, height),) = sizes
    assert np.array_equal(sample.labels, xrays.labels) and np.array_equal(sample.fields, xrays.fields)
    picked = np.array([0, 7, 379])
    images = sample.fetch(picked)
    assert images.shape == (3, height, width, 3) and images.dtype == np.uint8
    assert np.array_equal(images[..., 0], images[..., 2])
    for image, i in zip(images, picked):  # the shipped PNGs are the source's, resized with Pillow's bilinear filter
        source = Image.open(xray_dir / "images" / names[i]).convert("L")
        assert np.array_equal(image[..., 0], np.asarray(source.resize((width, height), Image.Resampling.BILINEAR)))


def test_images_of_other_sizes_are_resized(xray_dir, tmp_path, table_lines):
    names = names_in(SAMPLE_DIR)[:3]
    folder = make_folder(
        tmp_path,
        table_lines,
        [(names[0], SAMPLE_DIR / "images" / names[0]), (names[1], xray_dir / "images" / names[1])],
    )
    Image.open(xray_dir / "images" / names[2]).convert("RGBA").save(folder / "images" / names[2])
    size = Image.open(SAMPLE_DIR / "images" / names[0]).size
    assert Image.open(folder / "images" / names[1]).size != size
    images = open_chestxray14(folder).fetch(np.arange(3))
    assert images.shape == (3, size[1], size[0], 3)
    for image, name in zip(images[1:], names[1:]):
        grey = Image.open(xray_dir / "images" / name).convert("L").resize(size, Image.Resampling.BILINEAR)
        assert np.array_equal(image[..., 1], np.asarray(grey))


def test_fetch_is_thread_safe(sample):
    chunks = np.array_split(np.arange(len(sample.labels)), 19)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = np.concatenate(list(pool.map(sample.fetch, chunks)))
    assert np.array_equal(parallel, sample.fetch(np.arange(len(sample.labels))))


def test_split_by_patient(tmp_path, table_lines, xrays):
    """The first 40 rows of the official table: several follow-up images per patient (each image a copy of a
    sample X-ray, as only the grouping matters here)."""
    rows = table_lines[1:41]
    source = SAMPLE_DIR / "images" / names_in(SAMPLE_DIR)[0]
    images = open_chestxray14(
        make_folder(tmp_path, table_lines[:1] + rows, [(row.split(",")[0], source) for row in rows])
    )
    assert len(np.unique(images.fields)) < len(images.fields)
    for seed in range(5):
        for fields in (images.fields, xrays.fields):
            train, val = split_by_field(fields, 0.2, seed)
            assert len(val) and not set(fields[train]) & set(fields[val])


def test_make_sample_is_deterministic(xray_dir, tmp_path, table_lines):
    names = names_in(xray_dir)[:6]
    source = make_folder(tmp_path / "source", table_lines, [(name, xray_dir / "images" / name) for name in names])
    for out in ("a", "b"):
        make_sample(["--source", str(source), "--out", str(tmp_path / out), "--size", "32"])
    files = sorted(path.relative_to(tmp_path / "a") for path in (tmp_path / "a").rglob("*") if path.is_file())
    assert len(files) == len(names) + 2
    assert all(
        (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files if f.name != "README.md"
    )
    assert [(tmp_path / out / "README.md").read_text().replace(str(tmp_path / out), "OUT") for out in "ab"] == [
        (tmp_path / "a" / "README.md").read_text().replace(str(tmp_path / "a"), "OUT")
    ] * 2  # only --out differs
    written = gzip.decompress((tmp_path / "a" / f"{TABLE}.gz").read_bytes()).decode()
    assert written.splitlines(keepends=True) == [
        line for line in table_lines if line.split(",")[0] in names or line is table_lines[0]
    ]
    made, original = open_chestxray14(tmp_path / "a"), open_chestxray14(source)
    assert np.array_equal(made.labels, original.labels) and made.fetch(np.arange(6)).shape == (6, 32, 32, 3)
    readme = (tmp_path / "a" / "README.md").read_text()
    assert f"| Atelectasis | {int(original.labels[:, 0].sum())} |" in readme and "--size 32" in readme


def test_make_sample_rejects_bad_source(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        make_sample(["--source", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "no label table" in capsys.readouterr().err


def test_shipped_pngs_are_8bit_grey():
    modes = {Image.open(path).mode for path in (SAMPLE_DIR / "images").glob("*.png")}
    assert modes == {"L"}
