"""Random 32-bit words of a JAX key for a compiled step: JAX's own Threefry-2x32, unrolled.

A step of the twin needs a few words per env (a reset's history, fine-tuning noise, answers). JAX
lowers its Threefry hash on CPUs as a rolled loop (five iterations of four rounds), which XLA
cannot fuse with the step around it: at N = 4,096 envs that costs ~5-10 ns a word, most of a step.
:func:`key_words` traces the *same* hash in JAX's unrolled form (the one JAX uses on GPUs,
``jax._src.random.threefry2x32._threefry2x32_lowering``), two words per hash call, laid out as
``jax.random.bits(key, (count,), uint32)`` lays them out with ``jax_threefry_partitionable`` off,
so the words are exactly those (``tests/test_functional_binomial.py`` checks it). The words are then
materialised (``lax.optimization_barrier``): otherwise XLA copies the whole unrolled hash into every
fusion that reads a word (measured 2.5x slower than materialising them). Where that function
is missing (another JAX) or the key is not a Threefry key, it is ``jax.random.bits``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

_threefry_hash: Callable[..., tuple[jax.Array, jax.Array]] | None
try:  # JAX's own hash, as lax operations (a private function: guarded, and pinned by a test)
    from jax._src.random.threefry2x32 import _threefry2x32_lowering as _threefry_hash
except ImportError:  # pragma: no cover - another JAX layout
    _threefry_hash = None


def key_words(key: Any, count: int) -> jax.Array:
    """``count`` (>= 1) uint32 words of ``key``: the words of ``jax.random.bits(key, (count,), jnp.uint32)``
    with ``jax_threefry_partitionable`` off, computed by an unrolled hash."""
    count = max(int(count), 1)
    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    if _threefry_hash is None or data.shape != (2,) or data.dtype != jnp.uint32:
        return jax.random.bits(key, (count,), jnp.uint32)
    half = (count + 1) // 2
    counters = jnp.arange(2 * half, dtype=jnp.uint32)
    if count % 2:  # an odd count's last counter is 0, as jax.random.bits pads it
        counters = counters.at[-1].set(0)
    first, second = _threefry_hash(data[0], data[1], counters[:half], counters[half:], use_rolled_loops=False)
    return jax.lax.optimization_barrier(jnp.concatenate([first, second])[:count])
