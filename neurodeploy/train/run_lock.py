"""One writer per run folder: an advisory lock on the run directory while a run trains into it.

Two training processes writing one folder would interleave checkpoints and metrics rows without
an error (a second ``neurodeploy train --resume`` started by mistake, or the ranks of a killed
``--nproc`` launcher that are still running). The writer (the single process, or rank 0) holds an
exclusive ``flock`` on the directory itself, so nothing is left in the folder and the kernel
releases the lock when the holder exits, however it ends (SIGKILL included).

A second writer waits up to :data:`WAIT_S` for the lock (a killed run's processes take a moment
to exit), then refuses with a :class:`~neurodeploy.errors.ConfigError`. Platforms without
``fcntl`` (Windows) run unlocked.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from neurodeploy.errors import ConfigError

#: seconds a second writer waits for the folder's lock before it refuses
WAIT_S = 10.0
_POLL_S = 0.05


class RunLock:
    """The held lock of one run directory; :meth:`release` (or the process's exit) frees it."""

    def __init__(self, run_dir: Path, fd: int | None):
        self.run_dir, self._fd = run_dir, fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self):
        self.release()


def lock_run_dir(run_dir: str | Path, wait_s: float | None = None) -> RunLock:
    """Hold ``run_dir``'s writer lock (the directory must exist), waiting up to ``wait_s``
    (default :data:`WAIT_S`) for another holder to end."""
    run_dir = Path(run_dir)
    try:
        import fcntl
    except ImportError:  # no flock on this platform
        return RunLock(run_dir, None)
    wait_s = WAIT_S if wait_s is None else wait_s
    fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return RunLock(run_dir, fd)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise ConfigError(f"{run_dir} is being written by another training process (a second "
                                  "`neurodeploy train` into this --out, or the processes of a killed run "
                                  f"still running; waited {wait_s:g} s): let it finish or stop it, or "
                                  "choose another --out") from None
            time.sleep(_POLL_S)
        except OSError as exc:  # a filesystem without flock support: run unlocked, as on Windows
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):
                return RunLock(run_dir, None)
            raise
