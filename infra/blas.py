"""One BLAS thread in a scoring process.

numpy's and scipy's OpenBLAS start a helper thread for each further core when they load, and after
every call those helpers spin, waiting for the next one, before they sleep. A scoring process
multiplies small matrices (a batch of rows by a few dozen coefficients), where a second thread saves
nothing, and the spinning takes a core from everything else on the machine: on a 100,000-row file on
two cores, the helper burned 35 us of CPU per row, a fifth of the worker's, which the CLI, Kafka and
the API then lacked. XGBoost's and scipy's k-d tree threads (OpenMP and their own) are not affected.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


def single_blas_thread() -> None:
    """Limit every BLAS library of this process to the calling thread, for the rest of its life."""
    import scipy.linalg  # noqa: F401  # scipy brings an OpenBLAS of its own: load it, so the limit reaches it

    threadpool_limits(limits=1, user_api="blas")
