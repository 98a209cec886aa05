"""mcnn-bench's command line, above the suite's three packages: ``benchmark`` (the trainer), ``slurm``
(sweeps and executors) and ``analysis`` (tables and plots). Nothing below imports it."""
