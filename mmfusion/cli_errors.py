"""One error style for every ``mmfusion`` command: user errors exit 2 with ``mmfusion: error: ...``.

argparse already reports bad options that way; this module does the same for everything a user
can get wrong after parsing -- bad data (:class:`~mmfusion.errors.MMFusionError`: a malformed
file, a bad config, a corrupt checkpoint, a folder locked by another writer) and the file
system (:class:`OSError`: a read-only or full disk, a missing file, a path that is a file where
a folder is needed, no permission) -- instead of a traceback or a half-written output::

    @cli_main("mmfusion")
    def main(argv=None) -> int: ...

    with cli_errors("prepare_ntu"):
        return run(args)

    return run_command(lambda: run(args), "mmfusion")   # returns 2 instead of raising SystemExit

Programming errors (anything else) still raise with their traceback. Ctrl-C exits 130 with one line.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TextIO

from .errors import MMFusionError

USER_ERROR = 2
INTERRUPTED = 130

_P = ParamSpec("_P")

#: errno -> what it means for the user, in words
_OS_WORDS = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
}


def describe_os_error(exc: OSError) -> str:
    """One line naming the path(s) and the problem of an :class:`OSError`."""
    what = _OS_WORDS.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if paths:
        return f"{' -> '.join(paths)}: {what}"
    if exc.errno in _OS_WORDS or exc.strerror:
        return what
    return f"{what} ({exc})" if str(exc) and str(exc) != what else what


def error_message(exc: BaseException) -> str | None:
    """The one-line message for a user error, or None when ``exc`` is not one."""
    if isinstance(exc, MMFusionError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return None


@contextmanager
def cli_errors(prog: str = "mmfusion", stream: TextIO | None = None) -> Iterator[None]:
    """Turn user errors raised inside the block into ``prog: error: ...`` on stderr and ``SystemExit(2)``."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=stream or sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    except (MMFusionError, OSError) as exc:
        print(f"{prog}: error: {error_message(exc)}", file=stream or sys.stderr)
        raise SystemExit(USER_ERROR) from None


def run_command(func: Callable[[], int | None], prog: str = "mmfusion", stream: TextIO | None = None) -> int:
    """``func()`` as an exit code: its own (0 for None), or 2 after one ``prog: error: ...`` line for a
    user error (130 for Ctrl-C). For ``main`` functions that return their code instead of exiting."""
    try:
        with cli_errors(prog, stream):
            return int(func() or 0)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else USER_ERROR


def cli_main(prog: str = "mmfusion") -> Callable[[Callable[_P, int]], Callable[_P, int]]:
    """Decorator for a command's ``main``: user errors exit 2 with one line (see :func:`cli_errors`)."""
    def wrap(func: Callable[_P, int]) -> Callable[_P, int]:
        @functools.wraps(func)
        def inner(*args: _P.args, **kwargs: _P.kwargs) -> int:
            with cli_errors(prog):
                return func(*args, **kwargs)
            raise AssertionError("unreachable")  # pragma: no cover - cli_errors re-raises or returns

        return inner

    return wrap
