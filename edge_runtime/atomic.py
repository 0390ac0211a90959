"""Atomic writes: a file or folder appears whole, or the previous one stays.

Every stage writes its artifacts through these helpers, so a crash, a kill or
a bad input never leaves a half-written model, bundle or report behind: the
new content is built in a temporary sibling (``.<name>.<pid>.<random>.tmp``)
and renamed into place. A folder that already exists is swapped with the new
one in a single ``renameat2(RENAME_EXCHANGE)`` call on Linux, so there is no
moment without it either. After the rename the parent folder is synced too,
so the new entry survives a power cut (a Pi on an SD card). Temporary
siblings left by a killed process are removed by the next write to the same
path. Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _remove_stale(path: Path) -> None:
    """Removes temporary siblings of ``path`` whose writing process has died."""
    for sibling in path.parent.glob(f".{glob.escape(path.name)}.*"):
        pid = sibling.name[len(path.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or sibling.suffix not in (".tmp", ".old"):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    sibling.unlink()
        except PermissionError:  # alive, another user's
            pass


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths in one step (Linux ``renameat2``); ``False`` where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(error, os.strerror(error), str(a))


def _sync_folder(folder: Path) -> None:
    """Flushes a folder's entries to disk, so a rename in it survives a power cut (an SD card's, say).

    A no-op where folders cannot be opened for syncing (Windows).
    """
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync a folder; the rename itself stands
    finally:
        os.close(fd)


@contextlib.contextmanager
def file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` that replaces it when the block succeeds.

    The caller writes (and may check) the temporary file; if the block raises,
    the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
    try:
        yield Path(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _sync_folder(path.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to a temporary file beside ``path``, then renames it into place.

    Returns:
        The final path.
    """
    with file(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Writes ``payload`` as indented JSON, atomically (see ``write_bytes``)."""
    return write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())


@contextlib.contextmanager
def directory(path: str | os.PathLike[str], keep_previous: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Yields an empty temporary folder that replaces ``path`` when the block succeeds.

    If the block raises, the temporary folder is removed and ``path`` is left
    as it was. With ``keep_previous``, the folder that ``path`` held before
    is moved there (replacing what that held), so the previous version can be
    restored; otherwise it is deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; give it a normal folder's mode
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists() and _exchange(tmp, path):
        _retire(tmp, keep_previous)  # tmp now holds the previous content
    elif path.exists():  # no atomic exchange here: a short window without `path`
        old = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".old", dir=path.parent))
        os.rename(path, old / path.name)
        os.rename(tmp, path)
        _retire(old / path.name, keep_previous)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)
    _sync_folder(path.parent)


def _retire(previous: Path, keep: str | os.PathLike[str] | None) -> None:
    """Deletes the replaced folder ``previous``, or swaps it into ``keep`` (whose old content goes)."""
    if keep is None:
        shutil.rmtree(previous, ignore_errors=True)
        return
    keep = Path(keep)
    if keep.exists() and _exchange(previous, keep):
        shutil.rmtree(previous, ignore_errors=True)
    else:
        shutil.rmtree(keep, ignore_errors=True)
        os.rename(previous, keep)
