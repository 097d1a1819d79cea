"""Seeded random generators keyed by stable names.

Every random draw of the data layer comes from a :class:`numpy.random.Generator`
made here from a tuple of keys (a seed, a mode, an epoch, a category id, a model
name, a field name...). The keys are encoded unambiguously (type tag, length,
value) and hashed with BLAKE2b, never with Python's ``hash`` (salted per
process), so the same keys give the same stream in every process, on every
machine and whatever order the items are visited in, and different key tuples
give unrelated streams. (Feeding the integers straight to
:class:`numpy.random.SeedSequence` would not do: ``[1]`` and ``[1, 0]`` give the
same stream there.)
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["make_rng", "seed_sequence", "stable_hash"]

#: Digest size of the key hash: 256 bits of entropy for the seed sequence.
_DIGEST_BYTES = 32


def _encode(key: int | str) -> bytes:
    if isinstance(key, bool) or not isinstance(key, int | str | np.integer):
        raise TypeError(f"seed keys must be int or str, got {type(key).__name__} {key!r}")
    if isinstance(key, str):
        raw = key.encode("utf-8")
        return b"s" + len(raw).to_bytes(8, "little") + raw
    value = int(key)
    if value < 0:
        raise ValueError(f"integer seed keys must be non-negative, got {value}")
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "little")
    return b"i" + len(raw).to_bytes(8, "little") + raw


def stable_hash(*keys: int | str) -> int:
    """A non-negative 256-bit integer for the key tuple, the same in every process."""
    digest = hashlib.blake2b(b"".join(_encode(k) for k in keys), digest_size=_DIGEST_BYTES)
    return int.from_bytes(digest.digest(), "little")


def seed_sequence(*keys: int | str) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` for the key tuple ``keys``."""
    return np.random.SeedSequence(stable_hash(*keys))


def make_rng(*keys: int | str) -> np.random.Generator:
    """A PCG64 generator seeded by ``keys``, e.g. ``make_rng(seed, "train", epoch, index)``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(*keys)))
