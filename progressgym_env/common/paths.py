"""Tell a filesystem path from a Hugging Face hub id, by its spelling alone.

Wherever a model (or tokenizer) may be named by a local folder or by a hub id, a name that does not
exist on disk is either a typo'd path (which must fail with "does not exist") or a hub id (which is
left to ``from_pretrained``). :func:`looks_like_path` draws that line. A hub id is ``name`` or
``org/name``, whose parts never start with a dot, never hold a backslash and never end with a slash;
so a string is a path when any of these holds:

- it starts with ``/``, ``~`` or ``.`` (absolute, home, ``.``, ``..``, ``./x``, ``../x``, ``.cache/x``);
- it holds a backslash (a Windows separator);
- it holds more than one ``/`` (``runs/follow/model``);
- it ends with ``/`` (``ckpt/``);
- the platform calls it absolute (``C:/models`` on Windows).

Anything else (``gpt2``, ``HuggingFaceTB/SmolLM2-135M``, ``ckpt``) may be a hub id. A bare relative
name such as ``ckpt`` that exists on disk is a path for every caller, which checks existence first.
"""

from __future__ import annotations

import os


def looks_like_path(text: str) -> bool:
    """Whether ``text`` can only be a filesystem path, never a hub id (rules in the module docstring).

    :param text: a model or tokenizer reference as the user wrote it.
    """
    return (
        text.startswith(("/", "~", "."))
        or "\\" in text
        or text.count("/") > 1
        or text.endswith("/")
        or os.path.isabs(text)
    )


__all__ = ["looks_like_path"]
