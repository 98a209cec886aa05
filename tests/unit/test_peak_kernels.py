"""The node's peak in each engine's framework (benchmark/microbench/peak.py, the engines' bench modules): the DDP
engine's PyTorch kernels, measured without TensorFlow; one cache file per framework; the peaks of records made
before the framework was recorded."""

import json
import subprocess
import sys

import pytest
import torch

from benchmark.engines.bench import bench_module
from benchmark.microbench import peak
from benchmark.microbench.peak import cache_path, conv_flop, matmul_flop, native_precisions, node_peaks
from benchmark.record import KernelPeaks

#: The tiny sizes the tests measure at: a convolution's (batch, height, width, in, out channels), a matmul's side.
CONV, MATMUL = (1, 32, 32, 4, 4), 64
#: A measurement of the DDP engine's kernels at the tiny sizes, in a Python where TensorFlow, Keras and Horovod
#: cannot be imported, printed as JSON.
WITHOUT_TENSORFLOW = f"""
import sys
for name in ("tensorflow", "keras", "horovod"):
    sys.modules[name] = None  # any import of them raises ImportError
from benchmark.microbench.peak import measure_peaks
peaks = measure_peaks(1, 1, conv_shape={CONV!r}, matmul_size={MATMUL}, warmup=1, iterations=3, engine="ddp")
print(peaks.model_dump_json())
"""


def test_the_ddp_engines_kernels_are_measured_by_pytorch_without_tensorflow():
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = KernelPeaks.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert (peaks.framework, peaks.framework_version) == ("pytorch", torch.__version__)
    assert (peaks.intra_op_threads, peaks.inter_op_threads) == (1, 1)
    assert [(k.kernel, k.precision, k.shape) for k in peaks.kernels] == [
        ("conv5x5", "fp32", list(CONV)),
        ("conv5x5", "bf16", list(CONV)),
        ("matmul", "fp32", [MATMUL] * 3),
        ("matmul", "bf16", [MATMUL] * 3),
    ]
    for k in peaks.kernels:
        native = k.precision in native_precisions()
        assert (k.gflops_per_second is not None and k.gflops_per_second > 0) == native, k
        assert k.iterations == (3 if native else 0)
    assert [k.gflop for k in peaks.kernels[::2]] == [conv_flop(*CONV) / 1e9, matmul_flop(MATMUL, MATMUL, MATMUL) / 1e9]


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_the_torch_kernels_are_a_same_convolution_in_channels_last_and_a_matmul(precision, dtype):
    calls = bench_module("ddp").peak_kernels(CONV, MATMUL, precision)
    conv, product = calls["conv5x5"](), calls["matmul"]()
    batch, height, width, _, out_channels = CONV
    assert isinstance(conv, torch.Tensor) and isinstance(product, torch.Tensor)
    assert conv.shape == (batch, out_channels, height, width) and conv.dtype == dtype
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert product.shape == (MATMUL, MATMUL) and product.dtype == dtype and not product.requires_grad


def test_each_framework_has_its_own_cache_file(tmp_path, monkeypatch):
    """The DDP engine's peaks are measured and cached beside the Horovod engine's, never read from them, and
    read back from their own file afterwards."""
    monkeypatch.setattr(peak, "CONV_SHAPE", CONV)
    monkeypatch.setattr(peak, "MATMUL_SIZE", MATMUL)
    measured, measure = [], peak.measure_peaks

    def tiny(intra, inter, engine, device):
        measured.append(engine)
        return measure(intra, inter, conv_shape=CONV, matmul_size=MATMUL, iterations=1, engine=engine, device=device)

    monkeypatch.setattr(peak, "measure_peaks", tiny)
    threads = (torch.get_num_threads(), torch.get_num_interop_threads())  # as they are: this process keeps them
    tf_path, torch_path = (cache_path(tmp_path, *threads, engine) for engine in ("horovod", "ddp"))
    assert tf_path.name.endswith(f"-tensorflow{bench_module('horovod').framework_version()}.json")
    assert torch_path.name.endswith(f"-pytorch{torch.__version__}.json")
    assert tf_path.name.split("-tensorflow")[0] == torch_path.name.split("-pytorch")[0]

    ours = node_peaks(tmp_path, *threads, engine="ddp")
    theirs = ours.model_copy(update={"framework": "tensorflow", "framework_version": "0.0", "measured_at": "then"})
    tf_path.write_text(theirs.model_dump_json())
    assert measured == ["ddp"] and ours.framework == "pytorch"
    assert KernelPeaks.model_validate_json(torch_path.read_text()) == ours
    assert node_peaks(tmp_path, *threads, engine="ddp") == ours  # read back, not measured again
    assert node_peaks(tmp_path, *threads, engine="horovod") == theirs  # the other framework's file
    assert measured == ["ddp"]
    assert node_peaks(tmp_path, *threads, refresh=True, engine="ddp").measured_at >= ours.measured_at
    assert measured == ["ddp", "ddp"]


def test_peaks_measured_before_the_framework_was_recorded_are_tensorflows():
    older = {
        "host": "n1",
        "cpu_model": "Xeon",
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "tensorflow": "2.18.1",
        "measured_at": "2025-01-01T00:00:00.000+00:00",
        "kernels": [],
    }
    peaks = KernelPeaks.model_validate_json(json.dumps(older))
    assert (peaks.framework, peaks.framework_version) == ("tensorflow", "2.18.1")
    assert "tensorflow" not in json.loads(peaks.model_dump_json())
    with pytest.raises(ValueError, match="framework_version"):
        KernelPeaks.model_validate({key: value for key, value in older.items() if key != "tensorflow"})
