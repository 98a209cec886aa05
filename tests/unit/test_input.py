"""The input pipeline's parallel reading of BBBC021 TIFFs (benchmark.data.pipeline, benchmark.data.bbbc021) and
`mcnn-bench bench input` (benchmark.microbench.input), for the tf.data and the PyTorch input paths."""

import re

import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.data import DataError, open_fields


@pytest.fixture
def layout(tmp_path, make_official_layout):
    """12 fields of 64x80: 6 DMSO, 6 protein-synthesis inhibitor."""
    return make_official_layout(tmp_path / "layout", [("DMSO", 0.0)] * 6 + [("emetine", 0.3)] * 6, (64, 80))


def config_of(layout, **settings) -> TrainConfig:
    return TrainConfig.from_flat(
        **{
            "source": "bbbc021",
            "dir": str(layout),
            "image_size": (64, 128),
            "epochs": 1,
            "local_batch_size": 3,
            "val_fraction": 0.25,
            "seed": 7,
            **settings,
        }
    )


def everything(pipes) -> list[list[np.ndarray]]:
    """Every batch of two training epochs and of validation, as numpy arrays, in order."""
    batches = [[t.numpy() for t in batch] for epoch in (0, 1) for batch in pipes.train(epoch)]
    return batches + [[t.numpy() for t in batch] for batch in pipes.validation]


@pytest.mark.horovod
@pytest.mark.parametrize("variant", ["none", "dataset-a"])
def test_parallel_reading_yields_the_serial_batches_in_order(layout, variant):
    from benchmark.data.pipeline import PARALLEL, make_pipelines

    config = config_of(layout, variant=variant)
    serial = everything(make_pipelines(config, 0, 1, decode_calls=None))
    assert len(serial) > 4
    for calls in (2, PARALLEL):
        parallel = everything(make_pipelines(config, 0, 1, decode_calls=calls))
        assert len(parallel) == len(serial)
        for mine, theirs in zip(parallel, serial):
            assert len(mine) == len(theirs)
            for a, b in zip(mine, theirs):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)


@pytest.mark.horovod
def test_batches_are_the_normalised_fields_padded_to_the_input(layout):
    from benchmark.data.pipeline import make_pipelines
    from benchmark.data.plan import channel_stats, open_copies, split_copies

    config = config_of(layout)
    images = open_fields(layout)
    copies = open_copies(config, images)
    train, _ = split_copies(copies, config)
    mean, std = channel_stats(copies.images, np.unique(copies.field_of(train)), copies.shape)
    pipes = make_pipelines(config, 0, 1)
    order = np.random.default_rng([7, 0, 0]).permutation(train)[: pipes.steps_per_epoch * 3]
    x = np.concatenate([x.numpy() for x, _ in pipes.train(0)])
    y = np.concatenate([y.numpy() for _, y in pipes.train(0)])
    assert x.shape == (len(order), 64, 128, 3) and x.dtype == np.float32
    want = (images.fetch(order).astype(np.float32) - mean) / std
    np.testing.assert_array_equal(x[:, :, 24:104], want)
    assert not x[:, :, :24].any() and not x[:, :, 104:].any()
    np.testing.assert_array_equal(y, images.labels[order])


def _break(layout, name: str, how: str):
    path = next(layout.glob(f"Week1/*/{name}"))
    if how == "corrupt":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.unlink()
    return path


@pytest.mark.horovod
@pytest.mark.parametrize(
    "how, message", [("corrupt", "unreadable or corrupt TIFF"), ("missing", "Tubulin channel file is missing")]
)
def test_a_bad_tiff_raises_the_data_error_naming_it(layout, how, message):
    import tensorflow as tf

    from benchmark.data.pipeline import make_pipelines

    # Made first: they read the statistics' fields, all good so far.
    pipes = [make_pipelines(config_of(layout), 0, 1, decode_calls=calls) for calls in (None, 2)]
    path = _break(layout, "f3_Tubulin.tif", how)
    expected = re.escape(f"{path}: {message}")
    with pytest.raises(DataError, match=expected):
        open_fields(layout).fetch(np.arange(12))
    for pipe in pipes:  # f3 is in one of the splits: the error stops the epoch that reads it, by name
        with pytest.raises(tf.errors.OpError, match="DataError: " + expected):
            for batch in [*pipe.train(0), *pipe.validation]:
                del batch


@pytest.mark.parametrize(
    "encoding",
    [{}, {"rowsperstrip": 3}, {"compression": "zlib"}, {"byteorder": ">"}, {"tile": (16, 16)}, {"bigtiff": True}],
)
def test_every_tiff_encoding_reads_as_tifffile_reads_it(tmp_path, encoding):
    """Plain TIFFs take the fast path (the page described by tifffile, one readinto), others tifffile's; the
    pixels are tifffile's either way, channels first and 64-byte aligned."""
    import tifffile

    from benchmark.data.bbbc021 import ALIGNMENT, _read_plain_tiff, read_fields, read_fields_planar

    rng = np.random.default_rng(0)
    fields = []
    for site in range(3):
        paths = tuple(tmp_path / f"s{site}_{channel}.tif" for channel in ("DAPI", "Tubulin", "Actin"))
        for path in paths:
            tifffile.imwrite(path, rng.integers(0, 65535, (32, 48), dtype=np.uint16), **encoding)
        fields.append(paths)
    want = np.stack([np.stack([tifffile.imread(p) for p in paths]) for paths in fields])
    planar = read_fields_planar(fields)
    assert planar.ctypes.data % ALIGNMENT == 0 and planar.flags.c_contiguous
    np.testing.assert_array_equal(planar, want)
    np.testing.assert_array_equal(read_fields(fields), np.moveaxis(want, 1, -1))
    assert _read_plain_tiff(fields[0][0], np.empty((32, 48), np.uint16)) == (
        encoding in ({}, {"rowsperstrip": 3}, {"bigtiff": True})
    )  # tifffile describes BigTIFF too


def test_the_real_tiff_takes_the_fast_path(shared_data):
    import tifffile

    from benchmark.data.bbbc021 import _read_plain_tiff

    real = next((shared_data / "bbbc021" / "images").glob("Week1/*/*.tif"))
    out = np.empty((1024, 1280), np.uint16)
    assert _read_plain_tiff(real, out)
    np.testing.assert_array_equal(out, tifffile.imread(real))


def test_a_field_of_another_shape_is_named(layout):
    import tifffile

    images = open_fields(layout)
    images.fetch(np.arange(2))  # the shape every field must have: 64x80
    path = next(layout.glob("Week1/*/f5_DAPI.tif"))
    for name in ("DAPI", "Tubulin", "Actin"):
        tifffile.imwrite(path.with_name(f"f5_{name}.tif"), np.zeros((32, 80), np.uint16))
    with pytest.raises(DataError, match=re.escape(f"{path}: field shape (32, 80, 3) != (64, 80, 3)")):
        images.fetch(np.array([5]))


@pytest.mark.parametrize("engine", [pytest.param("horovod", marks=pytest.mark.horovod), "ddp"])
def test_the_bench_times_each_engines_input_path(layout, engine):
    from benchmark.microbench.input import measure

    result = measure(
        data_dir=str(layout),
        variant="none",
        image_size=(64, 128),
        batch=3,
        warmup=1,
        batches=4,
        decode_calls=-1,
        val_fraction=0.25,
        seed=7,
        engine=engine,
    )
    # 8 training fields: 2 steps an epoch, the first of each untimed: 4 timed batches take 4 epochs
    assert (result["train_images"], result["steps_per_epoch"], result["epochs"]) == (8, 2, 4)
    assert result["images"] == 12 and result["images_per_second"] > 0


def test_cores_needed():
    from benchmark.microbench.input import cores_needed, model_size

    assert cores_needed(30, 12.5) == 3 and cores_needed(30, 30) == 1 and cores_needed(30, 29.9) == 2
    assert model_size(1024, 1280) == (1024, 1280) and model_size(64, 80) == (64, 128)
