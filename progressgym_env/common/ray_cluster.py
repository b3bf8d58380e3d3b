"""Connecting to Ray: shared by the benchmark's Ray executor and ``progressgym tune`` (the ``ray`` extra)."""

from __future__ import annotations

from typing import Any

from progressgym_env.errors import MissingExtraError


def import_ray() -> Any:
    """``ray``, or :class:`MissingExtraError` naming the ``ray`` extra."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError("--executor ray", "ray", "ray") from None
    return ray


def connect_ray(address: str | None, local_cpus: int | None) -> bool:
    """Make sure this process is connected to a Ray cluster; True if this call connected it.

    An already initialised Ray (e.g. a test's cluster) is used as it is.
    :param address: None = start a local cluster on this machine; ``auto`` or an address = join that one.
    :param local_cpus: CPUs of the local cluster (None: every core).
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        ray.init(address="local", num_cpus=local_cpus, **options)
    else:
        ray.init(address=address, **options)
    return True
