"""Analysis of mcnn-bench sweep results (pandas + matplotlib Agg; no TensorFlow).

Modules, one concept each:

- ``records``: load every ``record.json`` under a results folder into flat DataFrames.
- ``columns``: every DataFrame column's snake_case name, display label and unit (labels applied when writing);
  ``markdown``: the one Markdown table writer.
- ``outputs``: the two plug-in shapes, a table (``TableOutput``) and a figure (``FigureOutput``: name, why it
  cannot be drawn from these records, draw); ``registry``: every one ``analyze`` writes, in order.
- ``tables``: Datta et al. 2019 Table 1, the scaling tables (over workers and over nodes) and the memory table.
- ``plots``: throughput, scaling-efficiency and per-run learning-curve PNGs.
- ``papers``: the published numbers of both studies (Datta et al. 2019 with its slides and news item; Wilson et
  al.), each with its source, one module per study, and their consistency check.
- ``figures``: the paper's Figs. 2, 5, 7, 8, 9 and 10 from the records, with its published points, and the
  learning curves per sweep.
- ``compare``: our runs beside the published numbers (Table 1 per node count; Fig. 2 and sec. 5.2-5.4).
- ``scaling_model``: the alpha-beta ring-allreduce scaling model and its fits; ``predict``: what
  ``mcnn-bench predict`` does with it (inputs, the paper's validation, tables and the speedup plot).
- ``breakdown``: the step-time breakdown of each run (``step_breakdown.csv``/``.md``/``.png``).
- ``auroc``, ``epoch_time``, ``val_loss`` (with ``differences``, what tells runs apart): the outputs of
  multi-label runs and thread sweeps (Wilson et al., Dell EMC).
- ``bench``: ``mcnn-bench bench analyze``, the time ``analyze`` takes over many generated records.
- ``report``: ``analyze()`` walks the registry; ``format_summary()`` renders what it did for a terminal.
- ``reference``, ``acceptance``: reference files and the PASS/FAIL of a sweep against one; ``fleet``: a fleet
  sweep's nodes against each other (the modified z-score) and its figure.
"""
