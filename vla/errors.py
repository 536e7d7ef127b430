"""User errors and the one-line exit every entry point shares (``vla``, ``python -m vla.train``,
``python -m vla.eval``).

An error that means bad input or a missing resource derives from :class:`UserError` where it is defined
(``class DatasetError(UserError, ValueError)``); entry points end with its message on one line instead of
a traceback. This module is level 0: it imports nothing from vla but :mod:`vla.distributed`.
"""

from __future__ import annotations

import errno
import time

#: Seconds a rank other than 0 waits before it exits on a user error, so that rank 0 prints the line first.
OTHER_RANKS_EXIT_DELAY_S = 3.0


class UserError(Exception):
    """Bad input or a missing resource: shown as one line (``error: <message>``), not a traceback.

    Subclasses name the stage's own error and keep their standard base (``ValueError``, ``OSError``,
    ``RuntimeError``) so ``except ValueError`` still catches them."""


class TrainingStopped(RuntimeError, UserError):
    """A training subprocess (``vla experiment``, ``make demo``) ended with a non-zero status: its own output
    has said why, so the caller adds one line on how to continue instead of a traceback."""


#: Standard errors that are also the user's to fix (a path that does not exist, or exists already).
BUILTIN_USER_ERRORS: tuple[type[BaseException], ...] = (FileExistsError, FileNotFoundError)


def is_user_error(err: BaseException) -> bool:
    return isinstance(err, (UserError, *BUILTIN_USER_ERRORS))


def disk_full_message(err: OSError) -> str | None:
    """One line for a full disk (ENOSPC/EDQUOT), naming the file; None for any other OSError."""
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = f" writing {err.filename}" if err.filename else ""
    return (
        f"the disk is full{where} ({err.strerror}); free some space and rerun the same command: finished "
        "work (staged episodes, checkpoints, evaluated episodes) is kept and resumed"
    )


def exit_on_user_error(err: Exception) -> None:
    """Bad input, a missing resource or a full disk ends the program with one line, printed by rank 0 only
    under accelerate launch (the other ranks exit 1 silently); any other error returns for a traceback."""
    from vla.distributed import is_launch_rank_zero

    message = str(err) if is_user_error(err) else None
    if message is None and isinstance(err, OSError):
        message = disk_full_message(err)
    if message is None:
        return
    if not is_launch_rank_zero():
        # rank 0 meets the same error and prints it: exiting at once lets the launcher stop rank 0 (SIGTERM)
        # before its line is out, which a loaded machine showed; once rank 0 exits, the launcher stops this one
        time.sleep(OTHER_RANKS_EXIT_DELAY_S)
        raise SystemExit(1) from None
    raise SystemExit(f"error: {message}") from None
