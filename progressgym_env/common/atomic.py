"""Atomic writes: a file or folder appears complete at its final path, or not at all.

Every result, cache and checkpoint of the package is written through this module. A write goes to a
uniquely named temporary sibling (same folder, hence same filesystem), is flushed to disk, and is then
renamed over the target (``os.replace``, atomic on POSIX and Windows), so a crash, a kill or a full
disk leaves either the previous complete file or the new one, never a partial one.

Two rules hold for every write:

- **permissions follow the user's umask** (usually ``0o644`` files and ``0o755`` folders), exactly as
  a plain ``open(path, "w")`` / ``mkdir`` would give; ``tempfile.mkstemp`` would make them private
  (``0o600``), so colleagues could not read shared results;
- **a symbolic link at the target is refused** with :class:`SymlinkTargetError`: replacing it would
  silently swap the link for a regular file while whatever it pointed to stays stale. Point the write
  at the link's target instead (``Path.resolve()``) if that is what you mean.

Four entry points, one job each:

- :func:`atomic_write_text` / :func:`atomic_write_bytes`: the whole content is in memory;
- :func:`atomic_path`: a library writes the file itself from a path (``np.savez``, ``PIL``,
  ``model.save``): the context manager yields the temporary path and commits it on a clean exit;
- :func:`atomic_folder`: a folder filled by a library (``save_pretrained``), moved into place whole.

**Interruptions.** Each entry point removes its temporary file or folder on any exception, Ctrl-C
(``KeyboardInterrupt``) included, and the ``progressgym`` command turns SIGTERM into the same
interruption (:mod:`~progressgym_env.common.signals`), so ``kill`` leaves nothing behind either. Only
SIGKILL or a power cut can leave a temporary sibling; :func:`is_temp_file` is the one test by which
every folder reader skips (and reports, :func:`warn_leftover_temp_files`) such files, and writers
sweep those of dead processes from the folders they write (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from progressgym_env.errors import ProgressGymError

_FILE_MODE = 0o666
"""Requested mode of new files; the kernel removes the umask bits (as for any ``open``)."""

_FOLDER_MODE = 0o777
"""Requested mode of new folders; the umask applies likewise."""


class SymlinkTargetError(ProgressGymError, OSError):
    """An atomic write was aimed at a symbolic link, which it refuses to replace silently."""


def _check_target(path: Path, *, folder: bool) -> None:
    """Refuse targets an atomic write must not replace: symlinks, and the wrong kind of entry."""
    if path.is_symlink():
        raise SymlinkTargetError(
            f"refusing to write {path}: it is a symbolic link (to {os.readlink(path)!r}) and an atomic write "
            "would replace the link itself with a regular file. Write to the link's target "
            "(Path.resolve()) or remove the link first."
        )
    if not folder and path.is_dir():
        raise IsADirectoryError(f"cannot write the file {path}: a folder of that name exists")
    if folder and path.exists() and not path.is_dir():
        raise NotADirectoryError(f"cannot write the folder {path}: a file of that name exists")


def _temp_name(path: Path, kind: str) -> Path:
    """A unique hidden sibling of ``path`` that keeps its suffix (libraries pick formats from it).

    Every temporary name matches :data:`_TEMP_NAME`, so :func:`is_temp_file` recognises it.
    """
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}{path.suffix}")


_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp(\.[^./]*)?$")
"""A temporary sibling of :func:`_temp_name` (a file or staged folder)."""
_ASIDE_NAME = re.compile(r"^\..+\.old-(?P<pid>\d+)-\d+$")
"""A replaced folder renamed aside by :func:`_move_folder_into_place`, before its removal."""


class LeftoverTempFileWarning(UserWarning):
    """A folder reader met temporary files of an interrupted atomic write; they were ignored."""


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a temporary file or folder of an atomic write (never a result to read).

    The one test every folder reader applies: a writer killed with SIGKILL (or a power cut) leaves its
    hidden temporary sibling (``.NAME.<pid>-<hex>.tmp.json``) or a folder renamed aside
    (``.NAME.old-<pid>-<ns>``) behind; reading one back would count a half-written or stale file.
    """
    name = Path(path).name
    return bool(_TEMP_NAME.match(name) or _ASIDE_NAME.match(name))


def split_temp_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """``(kept, temporary)``: ``paths`` without the temporary files of atomic writes, and those files."""
    kept: list[Path] = []
    temporary: list[Path] = []
    for path in paths:
        (temporary if is_temp_file(path) else kept).append(path)
    return kept, temporary


def warn_leftover_temp_files(temporary: list[Path], where: str) -> None:
    """Report (:class:`LeftoverTempFileWarning`) that ``temporary`` files in ``where`` were ignored."""
    if temporary:
        names = ", ".join(p.name for p in temporary[:3]) + (f" and {len(temporary) - 3} more" if len(temporary) > 3 else "")
        warnings.warn(
            f"{where}: ignored {len(temporary)} temporary file(s) left by an interrupted write ({names}); "
            "they are not results. Delete them once no writer is running.",
            LeftoverTempFileWarning, stacklevel=3,
        )


def remove_stale_temp_files(folder: str | os.PathLike[str], min_age_s: float = 60.0) -> list[Path]:
    """Delete the temporary files of atomic writes in ``folder`` whose writer is gone; return them.

    A file counts as stale when the process that made it (the pid in its name) no longer runs on this
    machine and it has not changed for ``min_age_s`` seconds (a writer on another machine sharing the
    folder keeps its file fresh while it writes). Writers call this on the folder they write into, so a
    killed writer's leftovers do not stay forever.
    """
    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    now = time.time()
    for entry in root.iterdir():
        match = _TEMP_NAME.match(entry.name) or _ASIDE_NAME.match(entry.name)
        if match is None or _process_alive(int(match.group("pid"))):
            continue
        try:
            if now - entry.lstat().st_mtime < min_age_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # another user's process, or a pid we cannot check: assume it runs
    return True


def _create_temp_file(path: Path) -> tuple[int, Path]:
    """Create an empty, exclusive temporary sibling of ``path`` (umask permissions); return (fd, path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temp_name(path, "tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), _FILE_MODE), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _commit_file(tmp: Path, path: Path) -> None:
    """Rename the finished temporary file over ``path`` (checked again: a link may have appeared)."""
    _check_target(path, folder=False)
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def _remove_quietly(tmp: Path) -> None:
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); return the path.

    :param path: the target file; missing parent folders are created.
    :param data: the complete new content.
    :raises SymlinkTargetError: ``path`` is a symbolic link.
    :raises IsADirectoryError: ``path`` is a folder.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see the module docstring); return the path.

    :param path: the target file; missing parent folders are created.
    :param text: the complete new content (written as is: no newline translation).
    :param encoding: text encoding.
    :raises SymlinkTargetError: ``path`` is a symbolic link.
    :raises IsADirectoryError: ``path`` is a folder.
    """
    return atomic_write_bytes(path, text.encode(encoding))


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; it replaces ``path`` on a clean exit.

    For libraries that open the file themselves. The temporary file exists (empty, umask permissions)
    and ends with ``path``'s suffix, so ``np.savez``, ``PIL.Image.save`` or ``model.save`` keep the
    name they are given. On an exception it is removed and ``path`` is left as it was.

    :param path: the target file; missing parent folders are created.
    :raises SymlinkTargetError: ``path`` is a symbolic link.
    :raises IsADirectoryError: ``path`` is a folder.
    """
    path = Path(path)
    _check_target(path, folder=False)
    fd, tmp = _create_temp_file(path)
    try:
        os.close(fd)
        yield tmp
        with open(tmp, "rb+") as handle:  # the library closed it; make its bytes durable
            os.fsync(handle.fileno())
        _commit_file(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


class StagedFolder:
    """The temporary folder of an :func:`atomic_folder` write.

    :param path: the temporary folder, beside the target; fill it, then leave the ``with`` block.
    :param target: where it will be moved.
    """

    def __init__(self, path: Path, target: Path) -> None:
        self.path = path
        self.target = target
        self.discarded = False

    def discard(self) -> None:
        """Drop the staged folder at the end of the block instead of moving it into place."""
        self.discarded = True


def _move_folder_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing target is renamed aside first, then removed.

    :raises FileExistsError: a concurrent writer put a folder at ``target`` in between.
    """
    _check_target(target, folder=True)
    stale: Path | None = None
    try:
        if target.exists():
            aside = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
            try:
                target.rename(aside)
                stale = aside
            except FileNotFoundError:  # a concurrent writer moved it already
                pass
        tmp.rename(target)
    except OSError as exc:
        if target.exists():
            raise FileExistsError(f"cannot move the new folder into {target}: another writer created it") from exc
        raise
    finally:
        if stale is not None:
            if target.exists():
                shutil.rmtree(stale, ignore_errors=True)
            else:  # interrupted (a signal) between the two renames: put the previous folder back
                try:
                    stale.rename(target)
                except OSError:  # pragma: no cover - left aside, under a name every reader skips
                    pass
    _fsync_folder(target.parent)


@contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[StagedFolder]:
    """Stage a folder beside ``target`` and move it into place whole on a clean exit.

    An existing folder at ``target`` is replaced (renamed aside, then deleted). On an exception, or
    after :meth:`StagedFolder.discard`, the staged folder is deleted and ``target`` is left as it was.
    The staged folder is created with umask permissions; files the caller writes into it get theirs.

    :param target: the final folder; missing parent folders are created.
    :raises SymlinkTargetError: ``target`` is a symbolic link.
    :raises NotADirectoryError: ``target`` is a file.
    :raises FileExistsError: a concurrent writer created ``target`` while it was being replaced.
    """
    target = Path(target)
    _check_target(target, folder=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temp_name(target, "tmp")
        try:
            os.mkdir(tmp, _FOLDER_MODE)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    staged = StagedFolder(tmp, target)
    try:
        yield staged
        if not staged.discarded:
            _move_folder_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = [
    "LeftoverTempFileWarning",
    "StagedFolder",
    "SymlinkTargetError",
    "atomic_folder",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_file",
    "remove_stale_temp_files",
    "split_temp_files",
    "warn_leftover_temp_files",
]
