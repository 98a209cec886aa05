"""Wilson et al. (Dell EMC), CheXNet and VGG-16 on ChestX-ray14 and transfer to CBIS-DDSM mammography, as data
(pure Python: no TensorFlow, no pandas).

The paper: L. A. Wilson, V. Gundecha, S. Varadharajan, A. Filby, Q. Ta, "Fast and Accurate Training of an AI
Radiologist on Intel Xeon-based Dell EMC Supercomputers" (Dell EMC HPC & AI Engineering). Every value was
read from its stored text (:data:`DOCUMENT`), with the conventions of :mod:`analysis.papers.published`.
Table I (:data:`TABLE_I`) is checked against itself and against the official label table by
:mod:`analysis.papers.consistency`; :data:`CONTRADICTIONS` names what the paper prints inconsistently.
"""

from __future__ import annotations

from dataclasses import dataclass

from .published import Contradiction, Fact, Published, derived, stated

#: The stored text of the paper, in the shared papers folder beside the project.
DOCUMENT = "wilson-dellemc-chexnet.md"
PAPER = "Wilson et al."


@dataclass(frozen=True)
class TableIRow:
    """One row of Table I: ``finding`` as the paper names it, ``label`` as the official label table
    (``Finding Labels`` of ``Data_Entry_2017_v2020.csv``) names it, ``images`` with the finding and
    ``percent`` of the data set's images, both as printed."""

    finding: str
    label: str
    images: Published
    percent: Published


#: Table I as printed: (finding, the label table's name, images, percentage).
_TABLE_I_PRINTED: tuple[tuple[str, str, str, str], ...] = (
    ("Atelectasis", "Atelectasis", "11535", "10.28"),
    ("Consolidation", "Consolidation", "4667", "4.16"),
    ("Infiltration", "Infiltration", "19871", "17.72"),
    ("Pneumothorax", "Pneumothorax", "5298", "4.72"),
    ("Edema", "Edema", "2303", "2.05"),
    ("Emphysema", "Emphysema", "2516", "2.24"),
    ("Fibrosis", "Fibrosis", "1686", "1.50"),
    ("Effusion", "Effusion", "2516", "2.24"),
    ("Pneumonia", "Pneumonia", "1353", "1.20"),
    ("Pleural Thickening", "Pleural_Thickening", "3385", "3.01"),
    ("Cardiomegaly", "Cardiomegaly", "2772", "2.47"),
    ("Nodule", "Nodule", "6323", "5.64"),
    ("Mass", "Mass", "5746", "0.05"),
    ("Hernia", "Hernia", "227", "0.20"),
    ("No Findings", "No Finding", "60412", "53.88"),
)

#: Wilson et al., Table I (disease frequencies in ChestX-ray14): images per finding and their percentage of
#: the 112,120 images. Multi-label: an image may count under several findings.
TABLE_I: tuple[TableIRow, ...] = tuple(
    TableIRow(
        finding,
        label,
        stated(int(images), "images", "Table I", images, f"images labelled {finding}"),
        stated(float(percent), "%", "Table I", percent, f"{finding} as a percentage of the images"),
    )
    for finding, label, images, percent in _TABLE_I_PRINTED
)

#: Table I's totals row, and the data set as sec. II describes it.
DATASET: dict[str, Published] = {
    "images": stated(112_120, "images", "Table I", "112,120", "the totals row; also sec. II"),
    "percent_total": stated(100, "%", "Table I", "<b>100</b>", "the totals row of the percentages"),
    "pathologies": stated(14, "labels", "sec. II", "14 different thoracic diseases", "plus 'No Findings'"),
    "image_px": stated(1_024, "px", "sec. II", "1024 x 1024", "square images"),
    "channels": stated(3, "channels", "sec. II", "3 channel (RGB)", "as the paper puts it: the PNGs are greyscale"),
}

#: Sec. III-A1: batch size on one process (DenseNet-121, CheXNet's model).
SINGLE_PROCESS: dict[str, Published] = {
    "base_learning_rate": stated(0.0005, "1", "sec. III-A1", "0.0005", "Adam, at batch 8; doubled per batch doubling"),
    "base_batch": stated(8, "images", "sec. III-A1", "batch size of 8", "the benchmark BZ=8 model"),
    "best_batch_min": stated(8, "images", "sec. III-A1", "Batch size 8 and 16", "the best AUCs: batch 8 and 16"),
    "best_batch_max": stated(16, "images", "sec. III-A1", "Batch size 8 and 16"),
    "worst_batch": stated(256, "images", "sec. III-B", "(BZ=256)", "the worst single-process run"),
    "converged_val_loss_below": stated(
        0.16, "1", "sec. III-B", "< 0.16", "validation loss reached by the BZ=8 and BZ=256 runs"
    ),
    "converged_within_epochs": stated(7, "epochs", "sec. III-B", "fewer than 7 epochs", "an upper bound"),
}

#: Sec. III-A2: threads on one process (Figs. 5-8).
THREADS: dict[str, Published] = {
    "best_threads": stated(32, "threads", "sec. III-A2", "thread count of 32", "efficient for most batch sizes"),
    "anomaly_batch": stated(
        32, "images", "sec. III-A2", "batch size 32", "the batch whose epochs slowed past 16 threads"
    ),
    "anomaly_above_threads": stated(16, "threads", "sec. III-A2", "above 16", "slower above 16 threads at batch 32"),
    "all_threads": stated(40, "threads", "sec. III-A2", "all 40 threads", "the node's cores"),
    "repeats": stated(5, "runs", "sec. III-A2", "based on 5 runs"),
    "fig7_batch": stated(64, "images", "Fig. 7 caption", "batch size 64", "AUC per thread count"),
    "fig8_batch": stated(16, "images", "Fig. 8 caption", "batch size 16", "time per thread count, box plot"),
    "kmp_blocktime_ms": stated(1, "ms", "sec. III-A2", "KMP_BLOCKTIME=1"),
}

#: Sec. III-A2's environment.
THREAD_SETTINGS: dict[str, Fact] = {
    "kmp_affinity": Fact("granularity=fine,compact,1,0", "sec. III-A2", printed="KMP_AFFINITY=granularity=fine"),
    "omp_num_threads": Fact("the thread count under test", "sec. III-A2", printed="OMP_NUM_THREADS=<No. of Threads>"),
}

#: Sec. III-B and III-C: Horovod on several nodes (strong scaling at local batch 4 and 16; optimizers).
MULTI_NODE: dict[str, Published] = {
    "local_batch_small": stated(4, "images", "sec. III-B", "LBZ): 4 and 16", "the two local batch sizes"),
    "local_batch_large": stated(16, "images", "sec. III-B", "LBZ): 4 and 16"),
    "global_batch_min": stated(32, "images", "sec. III-B", "from 32 to 512", "Fig. 9's range"),
    "global_batch_max": stated(512, "images", "sec. III-B", "from 32 to 512"),
    "processes_at_512_lbz4": stated(128, "processes", "sec. III-B", "used 128 processes"),
    "processes_at_512_lbz16": stated(32, "processes", "sec. III-B", "and 32 processes"),
    "processes_per_node": stated(2, "processes", "sec. III-B", "2 MPI processes per node"),
    "threads_per_process": stated(20, "threads", "sec. III-B", "up to 20 OpenMP threads"),
    "auc_after_epochs": stated(10, "epochs", "sec. III-B", "fixed number of epochs (10)", "parallel runs' AUCs"),
    "adadelta_val_loss": stated(0.159, "1", "sec. III-C", "loss of 0.159", "AdaDelta's best, at GBZ 4096"),
    "adam_parallel_val_loss": stated(0.59, "1", "sec. III-C", "0.159 vs. 0.59", "Adam's, in parallel, at GBZ 512"),
    "adadelta_global_batch": stated(4_096, "images", "sec. III-C", "GBZ=4096 vs. GBZ=512"),
    "adam_global_batch": stated(512, "images", "sec. III-C", "GBZ=4096 vs. GBZ=512"),
}

#: Sec. III-C: VGG-16 (no batch normalisation), its schedule and its speedups.
VGG16: dict[str, Published] = {
    "warmup_epochs": stated(5, "epochs", "sec. III-C", "5 epoch warmup", "AdaDelta"),
    "peak_learning_rate": stated(0.5, "1", "sec. III-C", "learning rate of 0.5", "after the warm-up"),
    "decay_factor": stated(0.1, "1", "sec. III-C", "decay factor of 0.1", "per epoch"),
    "decay_from_epoch": stated(50, "epochs", "sec. III-C", "starting at epoch 50"),
    "classes": stated(14, "classes", "sec. III-C", "14 categories"),
    "global_batch": stated(8_192, "images", "sec. III-C", "GBZ=8192", "the largest VGG-16 run"),
    "categories_beating_benchmark": stated(4, "categories", "sec. III-C", "in 4 categories", "vs DenseNet BZ=8"),
    "worst_category_gap_percent": stated(6, "%", "sec. III-C", "less than 6%", "Mass, an upper bound"),
    "speedup_vs_densenet_adadelta": stated(
        6.29, "x", "sec. III-C", "6.29x", "over AdaDelta DenseNet at GBZ 4096 on 64 processes, 32 nodes (Fig. 15)"
    ),
    "speedup_vs_densenet_single": stated(
        293, "x", "sec. III-C", "293x", "over the single-process Adam DenseNet at batch 8 (Fig. 15)"
    ),
    "densenet_adadelta_processes": stated(64, "processes", "sec. III-C", "P=64, 32 nodes"),
    "densenet_adadelta_nodes": stated(32, "nodes", "sec. III-C", "P=64, 32 nodes"),
    "densenet_adadelta_local_batch": derived(64, "images", "sec. III-C", "GBZ 4096 / 64 processes"),
    "densenet_parallel_over_single": derived(
        46.6, "x", "sec. III-C", "293 / 6.29, to 3 figures: AdaDelta DenseNet at GBZ 4096 over single-process BZ=8"
    ),
}

#: Sec. IV: CBIS-DDSM mammography, DenseNet-121 with and without chest X-ray pre-training.
MAMMOGRAPHY: dict[str, Published] = {
    "ddsm_studies": stated(2_620, "studies", "sec. II", "2,620", "scanned film mammography studies of DDSM"),
    "crop_px": stated(598, "px", "sec. IV", "598x598", "ROI crops, three per ROI"),
    "crops_per_roi": stated(3, "crops", "sec. IV", "cropped three times"),
    "image_px": stated(299, "px", "sec. IV", "299x299", "the crops resized"),
    "batch": stated(16, "images", "sec. IV", "batch size of 16", "one process"),
    "learning_rate": stated(0.001, "1", "sec. IV", "learning rate of 0.001", "Adam, reduced on plateau"),
    "epochs": stated(10, "epochs", "sec. IV", "for 10 epochs"),
    "processes": stated(4, "processes", "sec. IV", "4 MPI processes", "Horovod"),
    "global_batch": stated(64, "images", "sec. IV", "global batch size is 64", "4 x 16"),
    "parallel_learning_rate": stated(0.004, "1", "sec. IV", "0.004", "0.001 scaled linearly by 4"),
    "auc_pretrained_parallel": stated(
        0.94, "AUC", "sec. IV", "AUC of 0.94", "pre-trained on chest X-rays, 4 processes"
    ),
    "auc_single_node": stated(0.95, "AUC", "sec. IV", "(0.95)", "the single-node run"),
    "auc_scratch_parallel": stated(0.90, "AUC", "sec. IV", "degraded to 0.9", "no pre-training, 4 processes"),
}

#: The optimizers and models, in words.
SETTINGS: dict[str, Fact] = {
    "single_process_optimizer": Fact("Adam", "sec. III-A1", printed="Adam [34] optimizer"),
    "parallel_optimizers": Fact("Adam, AdaDelta, SGD with momentum", "sec. III-C", printed="AdaDelta, SGD with"),
    "vgg16_optimizer": Fact("AdaDelta", "sec. III-C", printed="AdaDelta optimizer"),
    "parallel_library": Fact("Horovod over MPI, data-parallel", "sec. III-B", printed="Uber's Horovod"),
    "mammography_loss": Fact("cross-entropy", "sec. IV", printed="cross-entropy loss"),
}

#: What Table I prints inconsistently.
CONTRADICTIONS: tuple[Contradiction, ...] = (
    Contradiction(
        "Mass percentage",
        (("Table I, Mass", "5746 images, 0.05 %"), ("derived", "5746 / 112,120 = 5.12 %")),
        "A misprint of the percentage (every other row is its images over 112,120); the count is kept.",
    ),
    Contradiction(
        "Effusion count",
        (("Table I, Effusion", "2516 images, 2.24 %"), ("Table I, Emphysema", "2516 images, 2.24 %")),
        "Effusion repeats Emphysema's row; the official label table has 13,317 Effusion images (11.88 %), "
        "the second most common finding.",
    ),
    Contradiction(
        "totals",
        (
            ("Table I, totals", "112,120 images, 100 %"),
            ("derived", "the rows sum to 130,610 images and 111.36 %"),
        ),
        "Multi-label: an image counts under each of its findings, so the rows cannot sum to the image count "
        "or to 100 %; the totals row gives the images, not the sum.",
    ),
    Contradiction(
        "channels",
        (("sec. II", "3-channel (RGB) images"), ("the official PNGs", "8-bit greyscale")),
        "The suite reads the PNGs as greyscale and repeats them into 3 channels, as ImageNet-trained models take.",
    ),
)

_DICTS: dict[str, dict[str, Published]] = {
    "DATASET": DATASET,
    "SINGLE_PROCESS": SINGLE_PROCESS,
    "THREADS": THREADS,
    "MULTI_NODE": MULTI_NODE,
    "VGG16": VGG16,
    "MAMMOGRAPHY": MAMMOGRAPHY,
}
_FACT_DICTS: dict[str, dict[str, Fact]] = {"THREAD_SETTINGS": THREAD_SETTINGS, "SETTINGS": SETTINGS}


def all_published() -> dict[str, Published]:
    """Every :class:`Published` in this module by a dotted name (``"VGG16.speedup_vs_densenet_single"``,
    ``"TABLE_I[Mass].percent"``)."""
    out = {f"{name}.{key}": value for name, entries in _DICTS.items() for key, value in entries.items()}
    for row in TABLE_I:
        out[f"TABLE_I[{row.finding}].images"] = row.images
        out[f"TABLE_I[{row.finding}].percent"] = row.percent
    return out


def all_facts() -> dict[str, Fact]:
    """Every :class:`Fact` in this module by a dotted name."""
    return {f"{name}.{key}": fact for name, entries in _FACT_DICTS.items() for key, fact in entries.items()}
