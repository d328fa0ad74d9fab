"""The two file primitives every writer shares: an exclusive lock and an atomic replace.

Used by the ledger (results.tsv, runs.jsonl), the state file, `record` and the memory store. Stdlib at import
time (the hooks import the modules that use it); `filelock` is imported only when a lock is taken.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


class _FlockLock:
    """fcntl.flock with a timeout: the same exclusive lock when a bare `python3` has no filelock."""

    def __init__(self, path: str, timeout: float):
        self.path, self.timeout, self.fd = path, timeout, None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise TimeoutError(self.path) from None
                time.sleep(0.01)

    def __exit__(self, *exc):
        os.close(self.fd)  # closing the descriptor releases the flock


def lock(lock_path: str | os.PathLike, timeout: float):
    """An exclusive inter-process lock on `lock_path`; raises TimeoutError after `timeout` seconds.

    filelock when installed (the uv environment), else fcntl.flock; both are advisory flocks on the same
    file, so a script under `uv run` and a bare `python3` exclude each other.
    """
    try:
        from filelock import FileLock  # filelock.Timeout subclasses TimeoutError
    except ImportError:
        return _FlockLock(str(lock_path), timeout)
    return FileLock(str(lock_path), timeout=timeout)


def atomic_write(path: str | os.PathLike, data: bytes, tmp_dir: str | os.PathLike | None = None) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half of either.

    The temp file (per process, in `tmp_dir` or beside `path`, same filesystem) is fsynced, given the old
    file's mode, and renamed over `path`; on any failure it is removed and the old file is untouched.
    """
    path = Path(path)
    folder = Path(tmp_dir) if tmp_dir is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
