"""Analysis of mcnn-bench sweep results (pandas + matplotlib Agg; no TensorFlow).

Modules, one concept each:

- ``records``: load every ``record.json`` under a results folder into flat DataFrames.
- ``tables``: Datta et al. 2019 Table 1, the scaling table and the memory table.
- ``plots``: throughput, scaling-efficiency and per-run learning-curve PNGs.
- ``report``: ``analyze()`` writes all of the above; ``format_summary()`` renders it for a terminal.
"""
