"""Parameter studies (``hmipv6 sweep``): many simulator runs over a grid of scenario
parameters, seeds and protocols, gathered into tidy and aggregate tables and plots.

Layers: ``study`` sits above ``sim`` (it imports ``hmipv6.sim``; nothing in ``sim`` imports it).

- :mod:`~hmipv6.study.spec`: the study file and the list of runs it asks for.
- :mod:`~hmipv6.study.measures`: the metrics one run's report gives.
- :mod:`~hmipv6.study.execute`: one run, in whatever process executes it.
- :mod:`~hmipv6.study.store`: finished runs kept on disk, keyed by content and code version.
- :mod:`~hmipv6.study.runner`: local processes or a Dask cluster.
- :mod:`~hmipv6.study.stats`: mean, standard deviation, Student-t confidence intervals.
- :mod:`~hmipv6.study.tables`: the tidy and aggregate tables (CSV and Parquet).
- :mod:`~hmipv6.study.analytic`: lower bounds of handover latency and loss from link delays.
- :mod:`~hmipv6.study.plots`: each metric against each parameter, with CI bands.
"""
