"""Datta et al. 2019 (M-CNN on BBBC021 in one hour), with its ISC 2019 slides and Intel's 2018 news item, as
data (pure Python: no TensorFlow, no pandas).

The paper: K. Datta, I. Hossain, S. Choi, V. Saletore, K. Ambert, W. J. Godinez, X. Zhang, "Training
Multiscale-CNN for Large Microscopy Image Classification in One Hour", arXiv:1910.04852 (v2 10 Mar 2020);
Workshop on Scalable Data Analytics in Scientific Computing, ISC High Performance 2019; LNCS 11887,
doi:10.1007/978-3-030-34356-9_35. The slides: the same authors' talk at that workshop. The news item: "Using deep
neural network acceleration for image analysis in drug discovery", phys.org, 24 May 2018, provided by Intel.

Every value was read from the stored text of these documents (:data:`DOCUMENTS`; the conventions of
:mod:`analysis.papers.published`: ``source``, ``printed``, ``derived:``/``inferred:``, None = not
transcribed). Where the documents disagree both values are kept and :data:`CONTRADICTIONS` explains;
:mod:`analysis.papers.consistency` checks the numbers against each other.

What the suite reads from here: Table 1 (:data:`TABLE1`), the datasets (:data:`DATASET`), the node and link
(:data:`HARDWARE`), the one-node, 8-node and 128-node figures (:data:`SINGLE_NODE`, :data:`EIGHT_NODES`,
:data:`LARGE_SCALE`), the measured launch line (:data:`LAUNCH`, :data:`LAUNCH_SETTINGS`) and the slides' and
news item's figures (:data:`SLIDES`, :data:`NEWS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .published import (
    NOT_TRANSCRIBED,
    Contradiction,
    Fact,
    Published,
    derived,
    inferred,
    missing,
    stated,
)

#: The stored text of each document, by the word that starts a value's ``source`` ("slides, ...", "news
#: item"); any other source is the paper's. The files are in the shared papers folder beside the project.
DOCUMENTS: dict[str, str] = {
    "paper": "datta2019-mcnn-in-one-hour.md",
    "slides": "datta2019-isc-slides.md",
    "news": "intel-novartis-2018-news.md",
}

#: Where the documents were published (bibliographic, for citing).
CITATIONS: dict[str, str] = {
    "paper": "arXiv:1910.04852; LNCS 11887, doi:10.1007/978-3-030-34356-9_35",
    "slides": "ISC High Performance 2019, Workshop on Scalable Data Analytics in Scientific Computing",
    "news": "https://phys.org/news/2018-05-deep-neural-network-image-analysis.html (24 May 2018)",
}

PAPER = "Datta et al. 2019"


def document_of(source: str) -> str:
    """The key of :data:`DOCUMENTS` whose text states a value with this ``source``."""
    first = source.split(",")[0].split(":")[0].strip().lower()
    return {"slides": "slides", "news item": "news"}.get(first, "paper")


# --- sec. 4 and the slides: the data ----------------------------------------------------------------------

_B_TRAIN = 313_282
_B_VAL = 35_306
_A_FIELDS = 1_684

#: Sec. 4 (and the slides' dataset pages): BBBC021, the 1,684 fields chosen, and Datasets A and B.
DATASET: dict[str, Published] = {
    "bbbc021_images": stated(13_200, "images", "sec. 4", "13,200", "the whole BBBC021 image set (fields of view)"),
    "bbbc021_compounds": stated(113, "compounds", "sec. 4", "113 compounds"),
    "moa_compound_concentrations": stated(
        103, "compound-concentrations", "sec. 4", "103 compound-concentrations", "those with a MoA label"
    ),
    "moa_compounds": stated(38, "compounds", "sec. 4", "38 compounds", "the compounds of those 103 pairs"),
    "moa_classes": stated(13, "classes", "sec. 4", "13 MoAs", "12 MoAs plus the DMSO neutral control"),
    "moa_assigned_visually": stated(6, "MoAs", "sec. 4", "6 of the 12 MoAs", "the rest from the literature"),
    "dataset_a_fields": stated(_A_FIELDS, "fields", "sec. 4", "1684 images", "the fields chosen, all 13 MoAs"),
    "dataset_a_copies_per_field": stated(
        6, "copies", "sec. 4", "1684 * 6", "the original and five copies (rotations and mirrors)"
    ),
    "dataset_a_images": stated(10_104, "images", "sec. 4", "10104", "Dataset A, all copies"),
    "dataset_a_train_images": stated(9_093, "images", "sec. 4", "9093", "Dataset A training images"),
    "dataset_a_val_images": stated(1_011, "images", "sec. 4", "1011", "Dataset A validation images"),
    "dataset_a_disk_gb": stated(38, "GB", "sec. 4", "38GB", "Dataset A on disk"),
    "image_height_px": stated(1_024, "px", "sec. 4", "1024x1280", "Dataset A: field height"),
    "image_width_px": stated(1_280, "px", "sec. 4", "1024x1280", "Dataset A: field width"),
    "image_channels": stated(3, "channels", "sec. 4", "3 channels", "DNA, F-actin, B-tubulin"),
    "dataset_b_crop_px": stated(724, "px", "sec. 4", "724x724", "Dataset B: side of its square images"),
    "dataset_b_image_px": inferred(
        768,
        "px",
        "sec. 4; sec. 2",
        "the suite's model input for Dataset B: 724 zero-padded to 768, the next multiple of 64 (the coarsest "
        "of M-CNN's down-samplings, sec. 2); the paper gives 724x724x3 only",
    ),
    "dataset_b_copies_per_field": derived(6, "copies", "sec. 4", "the original and its 5 additional augmentations"),
    "dataset_b_rotations": stated(23, "rotations", "sec. 4", "23 more augmentations", "per image, 15 degrees apart"),
    "dataset_b_rotation_step_degrees": stated(15, "degrees", "sec. 4", "15°"),
    "dataset_b_train_images": stated(_B_TRAIN, "images", "sec. 4", "313282", "also sec. 5.3 and the slides"),
    "dataset_b_val_images": stated(_B_VAL, "images", "sec. 4", "35306", "also the slides"),
    "dataset_b_images": derived(_B_TRAIN + _B_VAL, "images", "sec. 4", "313,282 + 35,306"),
    "dataset_b_disk_gb": stated(512, "GB", "sec. 4", "512GB", "Dataset B on disk"),
    "val_fraction": stated(
        0.1,
        "fraction",
        "sec. 4",
        "90-10",
        "90/10 over the copies: validation may hold another copy of a training field (a leaky split)",
    ),
    "imagenet_size_ratio": stated(
        26, "x", "sec. 6", "26 times", "a field's pixels over an ImageNet image's (224x224); also the slides, 26x"
    ),
}

#: The split and what it leaks (sec. 4), and the slides' class list.
DATASET_FACTS: dict[str, Fact] = {
    "split": Fact(
        "90/10 over the augmented copies, not over fields: a validation image may be a rotation or mirror of a "
        "training image, never the same copy",
        "sec. 4",
        "the paper allows it for want of MoA annotations",
    ),
    "dataset_b_augmentation": Fact(
        "the five flips and mirrors of Dataset A, and each rotated in 15-degree steps; the slides add three "
        "sub-selections (crops)",
        "slides, Dataset B; sec. 4",
        printed="3 sub selections",
    ),
}

# --- sec. 2: the model ------------------------------------------------------------------------------------

#: Sec. 2: M-CNN's shape and size.
MODEL: dict[str, Published] = {
    "pathways": stated(7, "pathways", "sec. 2", "seven parallel", "parallel convolution pathways"),
    "coarsest_downsampling": stated(
        64, "x", "sec. 2", "64, 32, 16,", "the six lower pathways down-sample by 64, 32, 16, 8, 4, 2; the top one not"
    ),
    "concat_height": stated(16, "px", "sec. 2", "16 \\times 20 \\times 208", "the concatenated tensor 16x20x208"),
    "concat_width": stated(20, "px", "sec. 2", "16 \\times 20 \\times 208"),
    "concat_channels": stated(208, "channels", "sec. 2", "16 \\times 20 \\times 208"),
    "dense1_units": stated(512, "units", "sec. 2", "1024 \\times 512", "dense layers 1024x512 and 512x13"),
    "classes": stated(13, "classes", "sec. 2", "512 \\times 13"),
    "weight_bits": stated(32, "bits", "sec. 2", "32-bit floating point"),
}

#: Sec. 2: M-CNN's parameter size ("162.2 megabytes"; sec. 5.3 rounds it to 162 MB, the gradients exchanged
#: per step). 42,577,261 float32 parameters are 170.3 MB = 162.4 MiB (:mod:`benchmark.models.analytic`).
PARAMETER_MB: Published = stated(
    162.2, "MB", "sec. 2", "162.2 megabytes", "kernels and the two dense layers, float32; also sec. 5.3, '162MB'"
)

#: M-CNN's parameter count at 1024x1280x3 and 13 classes: not printed by the paper.
PARAMETERS: Published = derived(
    42_577_261,
    "parameters",
    "sec. 2",
    "the suite's analytic model (benchmark.models.analytic) at 1024x1280x3, 13 classes: 4 B each is 162.4 MiB, "
    "the paper's '162.2 megabytes' to 0.2 %",
)

#: Sec. 5.2 (from Fig. 2): (batch size, activation size); only batch 32's value is printed.
FIG2_ACTIVATIONS: tuple[tuple[int, Published], ...] = (
    (32, stated(11, "GB", "sec. 5.2 (Fig. 2)", "11GB", "activations at batch 32 as Fig. 2 computes them")),
)

# --- sec. 5.1 and the slides: the nodes and the software ----------------------------------------------------

#: Sec. 5.1, the abstract and the slides' configuration page: the node and the fabric.
HARDWARE: dict[str, Published] = {
    "sockets": stated(2, "sockets per node", "sec. 5.1", "two socket (2S)", "also the abstract and the slides"),
    "cpu": stated(6148, "Intel Xeon model number", "sec. 5.1", "Xeon® Gold 6148", "Intel Xeon Gold 6148"),
    "clock_ghz": stated(2.4, "GHz", "sec. 5.1", "2.40GHz", "also the slides, 2.4GHz"),
    "cores_per_socket": stated(20, "cores", "sec. 5.1", "20 cores per socket", "also the slides"),
    "cores_per_node": stated(40, "cores", "slides, cluster configuration", "40 cores per node"),
    "threads_per_core": stated(2, "threads", "sec. 5.1", "2-way hardware multi-threading"),
    "l1d_kb": stated(32, "KB", "sec. 5.1", "32KB", "L1 data cache per core"),
    "l2_mb": stated(1, "MB", "sec. 5.1", "1MB", "L2 per core"),
    "l3_mb": stated(28, "MB", "sec. 5.1", "28MB", "L3 per socket; the slides say 27.3 MB (CONTRADICTIONS)"),
    "l3_mb_slides": stated(27.3, "MB", "slides, cluster configuration", "27.3MB", "the sec. 5.1 figure is 28 MB"),
    "memory_gb_per_node": stated(192, "GB", "sec. 5.1", "192GB physical memory", "DDR4 (abstract, slides)"),
    "interconnect_gbits_per_second": stated(
        100,
        "Gb/s",
        "sec. 5.1",
        "100gigabits/second",
        "Intel Omni-Path; also the abstract, sec. 5.3 and the slides (an HFI per node, dual-rail)",
    ),
    "ssd_tb": stated(1.6, "TB", "sec. 5.1", "1.6TB", "the data SSD; the slides add a 480 GB OS SSD"),
    "os_ssd_gb": stated(480, "GB", "slides, cluster configuration", "480GB"),
    "switch_ports": stated(48, "ports", "slides, cluster configuration", "48-port", "Omni-Path Edge Switch 100 Series"),
    "max_nodes_sec51": stated(
        64, "nodes", "sec. 5.1", "up to 64", "the multi-node runs, as sec. 5.1 puts it (Table 1 has 128)"
    ),
}

#: Sec. 5.1 and Fig. 10 against the slides: the software (the two disagree: :data:`CONTRADICTIONS`).
SOFTWARE: dict[str, Fact] = {
    "tensorflow": Fact("1.9.0", "sec. 5.1", "also Fig. 10 caption", "TensorFlow 1.9.0"),
    "horovod": Fact("0.13.4", "sec. 5.1", printed="Horovod 0.13.4"),
    "python": Fact("2.7.5", "sec. 5.1", "also the slides", "Python 2.7.5"),
    "openmpi": Fact("3.0.0", "sec. 5.1", "also Fig. 10 caption and the slides", "OpenMPI 3.0.0"),
    "benchmark_scripts": Fact(
        "tf_cnn_benchmarks with M-CNN added", "sec. 5.1", "reference [25]; the slides' launch line runs it"
    ),
    "tensorflow_slides": Fact(
        "1.7.0", "slides, cluster configuration", "Intel-optimized; also the 1- and 8-node slides", "version 1.7.0"
    ),
    "horovod_slides": Fact("0.12.1", "slides, cluster configuration", printed="Horovod 0.12.1"),
    "os_slides": Fact("CentOS 7.3", "slides, cluster configuration", printed="CentOS\\* Linux 7.3"),
}

# --- sec. 3.1 and the launch line: the optimizer -----------------------------------------------------------

#: Sec. 3.1: the learning-rate rule and the optimizer.
HYPERPARAMETERS: dict[str, Published] = {
    "initial_learning_rate": stated(
        0.001, "1", "sec. 3.1", "lambda = 0.001", "the rate training starts at, warmed up to k x 0.001"
    ),
    "momentum": stated(0.9, "1", "sec. 3.1", "momentum=0.9", "momentum SGD; also the launch line"),
    "weight_decay": stated(0.00005, "1", "slides, launch line", "--weight_decay=0.00005"),
    "warmup_epochs": missing(
        "epochs",
        "sec. 3.1",
        "the paper warms up over 'the first few epochs'; the launch line's schedule holds 0.008 for 2 epochs "
        "then 0.032 (LAUNCH_SCHEDULE)",
    ),
    "decay_power": missing("1", "sec. 3.1", "a polynomial decay is named without its power"),
}

#: Sec. 3.1: the rules, in words.
TRAINING_FACTS: dict[str, Fact] = {
    "learning_rate_scaling": Fact(
        "linear in the global batch (k workers: k x the one-worker rate), warmed up from 0.001, then a "
        "polynomial decay",
        "sec. 3.1",
    ),
    "target": Fact("99 % top-1 and 100 % top-5 on the validation set", "sec. 5.4", printed="99% top-1"),
}

# --- sec. 5.2-5.4: one node, 8 nodes, 128 nodes ---------------------------------------------------------

#: Sec. 5.2's batch sweep on one node (Dataset A), local batch sizes in images; Fig. 5 plots 4 to 64.
BATCH_SWEEP: tuple[int, ...] = (4, 8, 16, 32, 64)
#: Sec. 5.2: the workers per node tried (per two-socket node; the paper says "per CPU").
WORKERS_TRIED: tuple[int, ...] = (1, 2, 4, 8)

#: Sec. 5.2 (one node, Dataset A; Fig. 5 plots throughput and memory per batch size for 1 and 4 workers).
SINGLE_NODE: dict[str, Published] = {
    "batch_sweep_min": stated(4, "images", "sec. 5.2", "4, 8, 16, 32 and 64", "BATCH_SWEEP; Fig. 5: 4 to 64"),
    "batch_sweep_max": stated(64, "images", "sec. 5.2", "4, 8, 16, 32 and 64"),
    "ttt_minutes_batch32": stated(331, "minutes", "sec. 5.2", "5hrs 31mins", "converged at batch 32, 5 h 31 min"),
    "memory_gb_batch32": stated(47.5, "GB", "sec. 5.2", "47.5GB", "total memory at batch 32"),
    "memory_over_activations": stated(
        4, "x", "sec. 5.2", "4x larger", "47.5 GB over the 11 GB of activations; the quotient is 4.3"
    ),
    "best_workers_per_node": stated(4, "workers", "sec. 5.2", "4 workers with 8 local", "of 1, 2, 4 and 8"),
    "best_local_batch": stated(8, "images", "sec. 5.2", "8 local mini-batch", "with 4 workers: the best images/s"),
    "images_per_second_best": missing(
        "images/s", "Fig. 5", "the one-node throughput per batch is plotted in Fig. 5, not printed"
    ),
}

#: Sec. 5.3 (8 nodes x 4 workers, Dataset A) and Fig. 7's caption.
EIGHT_NODES: dict[str, Published] = {
    "nodes": stated(8, "nodes", "sec. 5.3", "8 nodes with 4 workers"),
    "workers_per_node": stated(4, "workers", "sec. 5.3", "8 nodes with 4 workers"),
    "ttt_minutes": stated(31, "minutes", "sec. 5.3", "31 minutes", "Dataset A to the targets; the news item too"),
    "speedup": stated(6.6, "x", "sec. 5.3", "6.6X", "a TTT speedup over one node on 8x the hardware"),
    "scaling_efficiency": derived(82.5, "%", "sec. 5.3", "100 x 6.6 / 8 from the quoted TTT speedup"),
    "gradient_mb": stated(162, "MB", "sec. 5.3", "162MB", "gradients exchanged per step, the model's size"),
    "mpi_negotiation_ms_min": stated(
        450, "ms", "sec. 5.3", "450ms", "Horovod's MPI negotiation per step (one allreduce per layer): low end"
    ),
    "mpi_negotiation_ms_max": stated(858, "ms", "sec. 5.3", "858ms", "high end of the same range"),
    "epochs": stated(30, "epochs", "Fig. 7 caption", "in 30 epochs", "the 8-node Dataset A run's epochs"),
}

#: Sec. 5.4 (Table 1's runs, Dataset B), the abstract's 128 nodes and Fig. 9's caption.
LARGE_SCALE: dict[str, Published] = {
    "max_nodes": stated(128, "nodes", "sec. 5.4", "1 to 128", "also the abstract and Table 1"),
    "workers_per_node": stated(8, "workers", "sec. 5.4", "8 training workers per node", "smaller images than A"),
    "max_global_batch_size": stated(2_048, "images", "sec. 5.4", "sizes of 2048"),
    "max_learning_rate": stated(0.032, "1", "Fig. 9 caption", "only to 0.032", "the capped peak rate"),
    "cap_beyond_nodes": stated(
        16, "nodes", "sec. 5.4", "from 16 to 128 nodes", "the global batch reaches 2048 at 16 nodes and stays"
    ),
    "speedup_1_to_128": stated(
        19.2,
        "x",
        "sec. 5.4",
        "19.2X",
        "Table 1's TTT ratio 960 / 50; also sec. 6 (its images/s ratio: table1_speedup(128))",
    ),
    "ttt_minutes_128": stated(50, "minutes", "sec. 5.4", "50 minutes", "also sec. 6 and Table 1"),
    "scaling_efficiency_128": derived(15.0, "%", "sec. 5.4", "100 x 19.2 / 128 from the quoted TTT speedup"),
    "fixed_epochs": stated(
        20, "epochs", "Fig. 9 caption", "in 20 epochs", "Figs. 9-10's runs: a fixed 20 epochs, not to target"
    ),
    "fig10_nodes": stated(64, "nodes", "Fig. 10 caption", "20 epochs on 64", "Figs. 9-10 stop at 64 nodes"),
}

#: Sec. 5.4 and Table 1's heading: the targets; the abstract's budget.
TARGETS: dict[str, Published] = {
    "top1": stated(0.99, "fraction", "sec. 5.4", "99% top-1", "Table 1's epochs are to this; also the abstract"),
    "top5": stated(1.0, "fraction", "sec. 5.4", "100% top-5"),
    "ttt_budget_minutes": stated(60, "minutes", "abstract", "within one hour", "an upper bound"),
}

# --- Table 1 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table1Row:
    """One row of Datta et al. 2019, Table 1 (one node count; Dataset B, 8 workers per node)."""

    nodes: int
    workers_per_node: int | None
    epochs: Published
    global_batch_size: Published
    ttt_minutes: Published
    images_per_second: Published


#: Table 1 as printed: (nodes, epochs to 99 % top-1 and 100 % top-5, global batch, TTT minutes, images/s).
_TABLE1_PRINTED: tuple[tuple[int, str, str, str, str], ...] = (
    (1, "6.6", "128", "960", "30"),
    (2, "8", "256", "642", "72"),
    (4, "8.7", "512", "320", "141"),
    (8, "12", "1024", "240", "262"),
    (16, "15.9", "2048", "150", "553"),
    (32, "14.9", "2048", "85", "893"),
    (64, "15", "2048", "61", "1284"),
    (128, "15.2", "2048", "50", "1587"),
)


def _number(printed: str) -> float | int:
    return float(printed) if "." in printed else int(printed)


def _table1_row(nodes: int, epochs: str, batch: str, ttt: str, images: str) -> Table1Row:
    def cell(printed: str, unit: str, what: str) -> Published:
        return stated(_number(printed), unit, "Table 1", printed, what)

    return Table1Row(
        nodes=nodes,
        workers_per_node=int(LARGE_SCALE["workers_per_node"].known),
        epochs=cell(epochs, "epochs", "epochs to 99 % top-1 and 100 % top-5"),
        global_batch_size=cell(batch, "images", "global mini-batch"),
        ttt_minutes=cell(ttt, "minutes", "time to train"),
        images_per_second=cell(images, "images/s", "effective throughput"),
    )


#: Datta et al. 2019, Table 1: Dataset B (313,282 training images an epoch), 8 workers per node (sec. 5.4).
#: The printed rows disagree with themselves on 1 and 2 nodes (:mod:`analysis.papers.consistency`).
TABLE1: tuple[Table1Row, ...] = tuple(_table1_row(*row) for row in _TABLE1_PRINTED)

#: Table 1's workload: Dataset B (``data.variant`` of the same name), whose images the suite pads to
#: ``DATASET["dataset_b_image_px"]`` square, split as the paper split (``data.split = "paper"``).
TABLE1_VARIANT = "dataset-b"
TABLE1_SPLIT = "paper"

#: The columns of :func:`table1_frame_rows`, for ``pandas.DataFrame(rows, columns=TABLE1_COLUMNS)``.
TABLE1_COLUMNS: tuple[str, ...] = (
    "nodes",
    "workers_per_node",
    "epochs",
    "global_batch_size",
    "ttt_minutes",
    "images_per_second",
    "source",
)

# --- the slides and the news item -------------------------------------------------------------------------

#: The slides' measured launch line (their configuration page: ``mpirun`` of ``tf_cnn_benchmarks.py``), as
#: numbers. 32 ranks of 10 cores: the 8-node x 4-worker run of sec. 5.3 (inferred).
LAUNCH: dict[str, Published] = {
    "ranks": stated(32, "workers", "slides, launch line", "-np 32", "MPI ranks, one worker each"),
    "omp_num_threads": stated(10, "threads", "slides, launch line", "OMP_NUM_THREADS=10"),
    "cpus_per_rank": stated(10, "cores", "slides, launch line", "-cpus-per-proc 10"),
    "intra_op_threads": stated(10, "threads", "slides, launch line", "--num_intra_threads=10"),
    "inter_op_threads": stated(2, "threads", "slides, launch line", "--num_inter_threads=2"),
    "local_batch": stated(8, "images", "slides, launch line", "--batch_size=8", "per worker"),
    "steps": stated(2_000, "steps", "slides, launch line", "--num_batches=2000"),
    "warmup_steps": stated(70, "steps", "slides, launch line", "--num_warmup_batches=70", "untimed"),
    "kmp_blocktime_ms": stated(1, "ms", "slides, launch line", "--kmp_blocktime=1"),
    "workers_per_node": inferred(
        4, "workers", "slides, launch line", "40 cores per node / 10 cores per rank; sec. 5.3's 4 workers per node"
    ),
    "nodes": inferred(8, "nodes", "slides, launch line", "32 ranks / 4 per node; sec. 5.3's 8 nodes"),
    "fusion_threshold_bytes": missing(
        "bytes",
        "slides, launch line",
        "HOROVOD_FUSION_THRESHOLD is passed to the ranks (-x) but its value is not shown",
    ),
}

#: The launch line's settings that are not numbers.
LAUNCH_SETTINGS: dict[str, Fact] = {
    "launcher": Fact("mpirun (Open MPI), --oversubscribe, a hostfile", "slides, launch line", printed="mpirun -np 32"),
    "binding": Fact(
        "ranks mapped by socket, 10 cores each; memory bound to the local NUMA node (numactl -l)",
        "slides, launch line",
        printed="--map-by socket",
    ),
    "kmp_affinity": Fact("granularity=fine,compact,1,0", "slides, launch line", printed="granularity=fine,compact,1,0"),
    "data_format": Fact("NCHW", "slides, launch line", printed="--data_format=NCHW"),
    "optimizer": Fact("momentum", "slides, launch line", printed="--optimizer=momentum"),
    "variable_update": Fact("horovod (on the CPU)", "slides, launch line", printed="--variable_update=horovod"),
    "mkl": Fact("True", "slides, launch line", printed="--mkl=True"),
    "distortions": Fact("False", "slides, launch line", printed="--distortions=False"),
    "resize_method": Fact("bilinear", "slides, launch line", printed="--resize_method=bilinear"),
    "sync_on_finish": Fact("True", "slides, launch line", printed="--sync_on_finish=True"),
    "learning_rate_schedule": Fact(
        "piecewise: 0.008, from epoch 2 0.032, 5 0.029, 10 0.026, 15 0.001, 20 0.0001 (LAUNCH_SCHEDULE)",
        "slides, launch line",
        printed="0.008;2;0.032;5;0.029;10;0.026;15;0.001;20;0.0001",
    ),
    "fusion_threshold": Fact(
        None, "slides, launch line", f"{NOT_TRANSCRIBED}: exported to the ranks without its value shown"
    ),
}

#: The launch line's piecewise schedule as (first epoch, learning rate) pairs, from
#: ``LAUNCH_SETTINGS["learning_rate_schedule"]`` (tf_cnn_benchmarks' format: a rate, then the epoch it ends).
LAUNCH_SCHEDULE: tuple[tuple[int, float], ...] = (
    (0, 0.008),
    (2, 0.032),
    (5, 0.029),
    (10, 0.026),
    (15, 0.001),
    (20, 0.0001),
)

#: The slides' other figures: the 2017 single-node baseline, the convergence rule behind the 2048 cap, the
#: per-node batches their plots state, the threads of the one-node page.
SLIDES: dict[str, Published] = {
    "baseline_hours": stated(
        11, "hours", "slides, initial training times", "Training Time: 11hrs", "one node, batch 8, Xeon Phi and Caffe"
    ),
    "baseline_batch": stated(
        8, "images", "slides, initial training times", "Batch Size: 8", "on a Xeon Phi 7290F with Caffe (2017)"
    ),
    "baseline_validation_images": stated(1_292, "images", "slides, initial training times", "1292"),
    "baseline_concentrations": stated(
        8, "concentrations", "slides, initial training times", "8 concentrations", "113 compounds in triplicate"
    ),
    "min_updates_per_epoch": stated(
        150,
        "updates",
        "slides, why cap at 2048",
        "Updates/Epoch > 150",
        "M-CNN converges only above 150 updates an epoch: the reason for the 2048 cap (313,282 / 2048 = 153)",
    ),
    "batch_per_node": stated(
        32, "images", "slides, 8- and 128-node plots", "BS=32/Node", "4 workers x 8; said also of the 128-node plot"
    ),
    "eight_node_global_batch": stated(256, "images", "slides, 8-node plot", "GBS=256", "8 nodes x 32"),
    "one_worker_threads": stated(40, "threads", "slides, 4 workers on one node", "THREADS=40/10"),
    "four_worker_threads": stated(10, "threads", "slides, 4 workers on one node", "THREADS=40/10"),
    "imagenet_size_ratio": stated(26, "x", "slides, motivation", "**26x**", "1024x1280x3 vs 224x224x3"),
}

#: The slides' non-numeric settings.
SLIDES_FACTS: dict[str, Fact] = {
    "baseline_hardware": Fact(
        "Intel Xeon Phi 7290F, Caffe (2017)", "slides, initial training times", printed="Xeon Phi™ 7290F"
    ),
    "interconnect": Fact(
        "Intel Omni-Path, an HFI per node (dual-rail), a 48-port edge switch", "slides, cluster configuration"
    ),
}

#: Intel's news item of 24 May 2018 (the 8-node Dataset A result of sec. 5.3, before the paper).
NEWS: dict[str, Published] = {
    "baseline_hours": stated(11, "hours", "news item", "11 hours", "time to train before"),
    "ttt_minutes": stated(31, "minutes", "news item", "31 minutes", "after: eight servers"),
    "speedup_at_least": stated(20, "x", "news item", "greater than 20 times", "a lower bound; 660 / 31 = 21.3"),
    "servers": stated(8, "nodes", "news item", "eight CPU-based servers"),
    "workers": stated(32, "workers", "news item", "32 TensorFlow workers"),
    "images_per_second_at_least": stated(
        120, "images/s", "news item", "more than 120", "a lower bound, of 3.9-megapixel images"
    ),
    "megapixels": stated(
        3.9, "megapixels", "news item", "3.9-megapixel", "1024 x 1280 x 3 = 3.93 million values (channels counted)"
    ),
    "top1_at_least": stated(0.99, "fraction", "news item", "over 99 percent", "accuracy, a lower bound"),
    "imagenet_size_ratio": stated(26, "x", "news item", "26 times"),
    "images": stated(10_000, "images", "news item", "10K images", "Dataset A's 10,104, rounded"),
}

# --- where the documents disagree ----------------------------------------------------------------------------

#: Every place where the paper, the slides and the news item say two things about one quantity.
CONTRADICTIONS: tuple[Contradiction, ...] = (
    Contradiction(
        "speedup from 1 to 128 nodes",
        (
            ("sec. 5.4; sec. 6", "19.2x"),
            ("Table 1", "TTT 960 -> 50 minutes = 19.2x; images/s 30 -> 1587 = 52.9x"),
        ),
        "The text's 19.2x is the TTT ratio. The throughput ratio is 2.76x larger: 15.2 / 6.6 = 2.30x more "
        "epochs at 128 nodes, times 1.20 from the 1-node row's TTT being 16 % shorter than its epochs x images "
        "/ images/s. The suite's speedups are images/s speedups: LARGE_SCALE keeps both.",
    ),
    Contradiction(
        "Table 1's 1- and 2-node rows",
        (
            ("Table 1, 1 node", "6.6 epochs, 30 images/s, 960 minutes (6.6 x 313,282 / 30 s = 1,149 minutes)"),
            ("Table 1, 2 nodes", "8 epochs, 72 images/s, 642 minutes (8 x 313,282 / 72 s = 580 minutes)"),
        ),
        "Rows 4-128 agree with TTT = epochs x 313,282 / images/s to 2.4 %; rows 1 and 2 are 16 % short and "
        "11 % long, and the 2-node throughput is 2.4x the 1-node one on 2x the nodes (120 % efficiency). Which "
        "column is off is not known: the rows are kept as printed, and the consistency check lists them.",
    ),
    Contradiction(
        "the 8-node speedup on Dataset A",
        (
            ("sec. 5.3", "6.6x, TTT 31 minutes on 8 nodes x 4 workers"),
            ("sec. 5.2", "one node converged in 5 h 31 min at batch 32: 331 / 31 = 10.7x"),
            ("sec. 6", "TTT scaled linearly on 8 nodes"),
            ("news item; slides", "11 hours to 31 minutes, more than 20x (21.3x)"),
        ),
        "6.6x over 31 minutes means a 205-minute one-node run, which no document prints (presumably the "
        "4-worker x local batch 8 node of sec. 5.2; inferred). 331 minutes is the 1-worker batch-32 run; the "
        "11 hours are a 2017 Xeon Phi 7290F with Caffe at batch 8 (slides), another machine and framework. "
        "'Linearly' is 82.5 % efficiency by sec. 5.3's own 6.6x.",
    ),
    Contradiction(
        "largest node count",
        (
            ("abstract; sec. 5.4; Table 1", "128 nodes"),
            ("sec. 5.1", "up to 64 nodes"),
            ("Figs. 9 and 10 captions", "1-64 nodes, 20 epochs"),
        ),
        "Table 1 has a 128-node row; 64 is the limit of the fixed-20-epoch runs of Figs. 9-10. The suite "
        "takes Table 1's 128.",
    ),
    Contradiction(
        "software versions",
        (
            ("sec. 5.1; Fig. 10 caption", "TensorFlow 1.9.0, Horovod 0.13.4"),
            ("slides: configuration, 1- and 8-node pages", "TensorFlow 1.7.0, Horovod 0.12.1"),
        ),
        "The slides' measurements (Dataset A, 2018) used the older versions; the paper's Table 1 runs the "
        "newer. Python 2.7.5 and Open MPI 3.0.0 agree.",
    ),
    Contradiction(
        "L3 cache per socket",
        (("sec. 5.1", "28 MB"), ("slides, cluster configuration", "27.3 MB")),
        "Both are rounded figures of one part; nothing in the suite depends on it.",
    ),
    Contradiction(
        "batch per node at 128 nodes",
        (
            ("slides, 128-node plots", "32 per node (4096 global on 128 nodes)"),
            ("Table 1; sec. 5.4", "2048 global: 16 per node, 2 per worker of 8"),
        ),
        "The slides' 128-node plots repeat the 8-node setting's 32 per node, which would exceed the 2048 cap "
        "and give 76 updates per epoch, under their own 150; Table 1's 2048 is the one the rule allows.",
    ),
    Contradiction(
        "learning-rate schedule",
        (
            ("sec. 3.1", "start at 0.001, warm up over the first few epochs to k x 0.001, polynomial decay"),
            (
                "slides, launch line",
                "piecewise: 0.008 for 2 epochs, 0.032 to epoch 5, then 0.029, 0.026, 0.001, 0.0001",
            ),
        ),
        "Both peak at 0.032 for the launch line's 32 workers (32 x 0.001, sec. 3.1's rule), the cap of Fig. 9; "
        "they differ in the start (0.001 vs 0.008) and the decay (polynomial vs piecewise constant).",
    ),
    Contradiction(
        "Dataset B's image count",
        (
            ("sec. 4", "1,684 fields x 6 copies x 24 rotations (the original and 23) = 242,496"),
            ("sec. 4; slides", "313,282 training + 35,306 validation = 348,588"),
        ),
        "The stated augmentation gives 43.7 % fewer images than printed; the slides' three sub-selections "
        "would give 727,488. The suite uses the printed 313,282 as Table 1's images per epoch.",
    ),
)

# --- lookups ---------------------------------------------------------------------------------------------

_DICTS: dict[str, dict[str, Published]] = {
    "DATASET": DATASET,
    "MODEL": MODEL,
    "HARDWARE": HARDWARE,
    "HYPERPARAMETERS": HYPERPARAMETERS,
    "SINGLE_NODE": SINGLE_NODE,
    "EIGHT_NODES": EIGHT_NODES,
    "LARGE_SCALE": LARGE_SCALE,
    "TARGETS": TARGETS,
    "LAUNCH": LAUNCH,
    "SLIDES": SLIDES,
    "NEWS": NEWS,
}
_FACT_DICTS: dict[str, dict[str, Fact]] = {
    "DATASET_FACTS": DATASET_FACTS,
    "SOFTWARE": SOFTWARE,
    "TRAINING_FACTS": TRAINING_FACTS,
    "LAUNCH_SETTINGS": LAUNCH_SETTINGS,
    "SLIDES_FACTS": SLIDES_FACTS,
}


def all_published() -> dict[str, Published]:
    """Every :class:`Published` in this module by a dotted name (``"HARDWARE.sockets"``,
    ``"TABLE1[nodes=8].ttt_minutes"``, ``"FIG2_ACTIVATIONS[32]"``, ``"PARAMETER_MB"``)."""
    out: dict[str, Published] = {}
    for dict_name, entries in _DICTS.items():
        for key, published in entries.items():
            out[f"{dict_name}.{key}"] = published
    for row in TABLE1:
        for field in ("epochs", "global_batch_size", "ttt_minutes", "images_per_second"):
            out[f"TABLE1[nodes={row.nodes}].{field}"] = getattr(row, field)
    for batch, published in FIG2_ACTIVATIONS:
        out[f"FIG2_ACTIVATIONS[{batch}]"] = published
    out["PARAMETER_MB"] = PARAMETER_MB
    out["PARAMETERS"] = PARAMETERS
    return out


def all_facts() -> dict[str, Fact]:
    """Every :class:`Fact` in this module by a dotted name (``"SOFTWARE.tensorflow"``)."""
    return {f"{name}.{key}": fact for name, entries in _FACT_DICTS.items() for key, fact in entries.items()}


def table1_frame_rows() -> list[dict]:
    """:data:`TABLE1` as plain dicts with the keys :data:`TABLE1_COLUMNS` (``source`` is "Datta et al.
    2019, Table 1"), for ``pandas.DataFrame(rows, columns=TABLE1_COLUMNS)``."""
    return [
        {
            "nodes": row.nodes,
            "workers_per_node": row.workers_per_node,
            "epochs": row.epochs.value,
            "global_batch_size": row.global_batch_size.value,
            "ttt_minutes": row.ttt_minutes.value,
            "images_per_second": row.images_per_second.value,
            "source": f"{PAPER}, Table 1",
        }
        for row in TABLE1
    ]


def table1_speedup(nodes: int) -> Published:
    """Table 1's images/s speedup from 1 node to ``nodes`` (derived: the rows' images/s ratio, x). Raises
    ``KeyError`` for a node count Table 1 has no row for."""
    rows = {row.nodes: row for row in TABLE1}
    one, row = rows[1].images_per_second, rows[nodes].images_per_second
    return derived(round(row.known / one.known, 3), "x", "Table 1", f"{row.printed} / {one.printed} images/s (Table 1)")


def one_node_images_per_second() -> float | None:
    """Table 1's 1-node throughput, images/s (30: Dataset B, 8 workers x local batch 16), or None if absent."""
    for row in TABLE1:
        if row.nodes == 1 and row.images_per_second.value is not None:
            return float(row.images_per_second.value)
    return None
