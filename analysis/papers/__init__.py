"""The published studies the suite reproduces, as data, one module per study (pure Python), and their checks.

- ``published``: the records (``Published`` numbers, ``Fact`` settings, ``Contradiction``) and their rules:
  every value names its source, says when it is derived or inferred, and is None when not stated.
- ``datta2019``: Datta et al. 2019 (M-CNN on BBBC021 in one hour): Table 1, secs. 2-6, the figure captions,
  with its ISC 2019 slides (the launch line, the node, the updates-per-epoch rule, the 11 h baseline) and
  Intel's 2018 news item.
- ``wilson``: Wilson et al. (Dell EMC; CheXNet and VGG-16 on ChestX-ray14, CBIS-DDSM mammography): Table I,
  the thread, batch and process settings, the VGG-16 schedule, the speedups, the mammography AUCs.
- ``consistency``: each study checked against its own numbers, and Table I against the official label table
  (``mcnn-bench paper-check``; ``mcnn-bench analyze --compare paper`` writes it too).

The stored text of each document is in the shared papers folder beside the project (``../shared/papers``);
the unit tests find every printed value in it.
"""
