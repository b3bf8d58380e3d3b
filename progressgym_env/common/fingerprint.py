"""SHA-256 fingerprints: the cache keys and checkpoint checks of the package, computed one way.

Three kinds of content are fingerprinted, each by one function:

- JSON-able data (configs, model identities): :func:`json_fingerprint`, over ``json.dumps`` with
  sorted keys, so dict order never changes a key;
- arrays (actions, history values): :func:`array_fingerprint`, over the bytes of a C-contiguous copy in
  a fixed dtype (so a float32 action and its float64 view hash alike when the dtype says so);
- rendered questions (an evaluator's prompts, the elicitation pool): :func:`questions_fingerprint`, over
  each prompt and its candidates;
- files (a saved SB3 model): :func:`file_fingerprint`, over every byte, read in 1 MiB chunks.

The byte layouts are fixed: caches written by earlier versions keep their keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

_CHUNK_BYTES = 1 << 20


class RenderedQuestion(Protocol):
    """What :func:`questions_fingerprint` reads from a question."""

    @property
    def prompt(self) -> str: ...

    @property
    def candidates(self) -> Sequence[str]: ...


def _canonical_json(data: Any) -> bytes:
    """``data`` as key-sorted JSON bytes (default separators) (non-JSON values via ``str``)."""
    return json.dumps(data, sort_keys=True, default=str).encode()


def json_fingerprint(data: Any) -> str:
    """SHA-256 hex digest of ``data`` as key-sorted JSON.

    :param data: any JSON-able value; other leaves (paths, numpy scalars) are hashed as ``str(leaf)``.
    """
    return hashlib.sha256(_canonical_json(data)).hexdigest()


def array_fingerprint(values: Any, dtype: Any, extra: Any = None) -> str:
    """SHA-256 hex digest of an array's bytes in ``dtype`` (C order), then of ``extra`` as JSON.

    :param values: array-like to hash.
    :param dtype: the dtype the bytes are taken in (part of the meaning of the digest).
    :param extra: JSON-able metadata hashed after the bytes (e.g. a history's centuries and dims);
        ``None`` adds nothing.
    """
    digest = hashlib.sha256(np.ascontiguousarray(values, dtype=dtype).tobytes())
    if extra is not None:
        digest.update(_canonical_json(extra))
    return digest.hexdigest()


def questions_fingerprint(questions: Iterable[RenderedQuestion], header: Any = None) -> str:
    """SHA-256 hex digest of rendered questions: each prompt, then its candidates joined by NUL.

    :param questions: the questions in order (order matters: it is the order scores come back in).
    :param header: JSON-able settings hashed first (e.g. an evaluator config); ``None`` adds nothing.
    """
    digest = hashlib.sha256()
    if header is not None:
        digest.update(_canonical_json(header))
    for question in questions:
        digest.update(question.prompt.encode())
        digest.update("\x00".join(question.candidates).encode())
    return digest.hexdigest()


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes (streamed, so a large file is never held in memory).

    :param path: the file.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["RenderedQuestion", "array_fingerprint", "file_fingerprint", "json_fingerprint", "questions_fingerprint"]
