"""Ray Data over image batches: the part that `data prepare --ray`, `embed --ray` and the embedding
step of `evaluate --ray` share.

Ray is an optional extra (``pip install interpface[ray]``): it is imported only here, on first use,
and a missing Ray is a :class:`RayNotInstalledError` (a typed error the CLI prints as one line).

What travels to the workers is plain data: file paths (relative to an image folder every node
can read), a model *URI* and the dlib landmark model's *path* (each worker resolves them itself, in
its callable class's ``__init__``: one detector / one model per worker), small arrays (landmarks,
crops) and numbers. No model object and no user-supplied object is pickled. Every row carries its
position (an ``index`` column) and the driver puts the results back in input order, so a Ray run
gives the local run's rows.

Layout: the faces floor (it imports nothing above :mod:`interpface.faces`); the embedding side is
:mod:`interpface.evaluation.distributed`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any, Iterator, Sequence

import numpy as np

from interpface.errors import ConfigError

__all__ = [
    "RayNotInstalledError",
    "import_ray",
    "ray_session",
    "map_batches",
    "in_order",
    "cluster_cpus",
    "plain_batch",
]


class RayNotInstalledError(ConfigError):
    """--ray was given but Ray (Ray Data) is not installed."""


def import_ray():
    """The ``ray`` module with Ray Data, or RayNotInstalledError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is the part used; ray without [data] lacks pyarrow
    except ImportError as exc:
        raise RayNotInstalledError(
            f"--ray needs Ray Data: install interpface[ray] (pip install 'interpface[ray]'); {exc}"
        ) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = "auto", *, num_cpus: int | None = None, quiet: bool = True):
    """Connect to Ray for the duration of the block and yield the ``ray`` module.

    address: "auto" (a cluster this machine belongs to: $RAY_ADDRESS or the one ``ray start`` made
    here; with none, a local Ray on this machine's cores), "local" (always a new local Ray), or a
    cluster address ("HOST:6379", "ray://HOST:10001"). When Ray is already initialised in this
    process (a test, a notebook) that connection is used and left open; one this block opened is
    shut down (a local Ray and its workers end with it)."""
    ray = import_ray()
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    if ray.is_initialized():
        _quiet_data(ray, quiet)
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet}
    if num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    if address in (None, "", "auto"):
        target = None  # Ray's own rule: $RAY_ADDRESS, else the latest cluster here, else a new local one
    else:
        target = address
    if quiet:
        kwargs["logging_level"] = logging.ERROR
    try:
        ray.init(address=target, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    try:
        _quiet_data(ray, quiet)
        yield ray
    finally:
        ray.shutdown()


def _quiet_data(ray, quiet: bool) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = not quiet
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = not quiet


def cluster_cpus(ray) -> int:
    """CPUs of the connected cluster (all nodes)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def map_batches(
    rows: Sequence[dict],
    worker_cls: type,
    *,
    constructor_kwargs: dict,
    batch_size: int,
    workers: int | None = None,
    num_cpus: float = 1.0,
) -> Iterator[dict[str, np.ndarray]]:
    """Run ``worker_cls`` (a callable class: loads its detector / model once in ``__init__``, then
    maps a numpy batch ``{column: array}`` to a numpy batch) over ``rows`` with Ray Data, a fixed
    pool of ``workers`` actors (default: every CPU of the cluster), and yield the result batches as
    they finish, in no particular order (each row keeps the ``index`` column it was given: see
    :func:`in_order`). Needs an initialised Ray (:func:`ray_session`).

    Every row must be a dict of plain values (str, numbers, small numpy arrays); constructor_kwargs
    likewise (a model URI, a file path, numbers): they are what the workers receive."""
    ray = import_ray()
    if not rows:
        return
    workers = max(1, min(workers or cluster_cpus(ray), math.ceil(len(rows) / batch_size)))
    ds = ray.data.from_items(list(rows), override_num_blocks=math.ceil(len(rows) / batch_size))
    ds = ds.map_batches(
        worker_cls,
        fn_constructor_kwargs=constructor_kwargs,
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
    )
    yield from ds.iter_batches(batch_size=None, batch_format="numpy")


def plain_batch(batch: dict) -> dict:
    """A worker's result batch with its text columns as object arrays: numpy's fixed-width strings
    ('<U54') become Arrow tensors of that width, and two batches of different widths then fail to
    concatenate in one block."""
    return {k: v.astype(object) if isinstance(v, np.ndarray) and v.dtype.kind in "US" else v for k, v in batch.items()}


def in_order(batches, n: int) -> dict[str, np.ndarray]:
    """Concatenate result batches and sort them by their ``index`` column (0..n-1, each once)."""
    parts = list(batches)
    if not parts:
        return {}
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(out["index"], kind="stable")
    out = {k: v[order] for k, v in out.items()}
    if len(out["index"]) != n or not np.array_equal(out["index"], np.arange(n)):
        raise RuntimeError(f"Ray returned {len(out['index'])} rows for {n} inputs")
    return out
