"""``accelerate launch`` with one line instead of the launcher's traceback.

    python -m vla.launch --config_file recipes/accelerate/cpu2.yaml -m vla.train recipes/tiny_cpu.yaml

Takes exactly ``accelerate launch``'s arguments and runs its launcher. When a rank stops on bad input or on
SIGINT/SIGTERM it has already printed its one line (``error: ...`` or ``interrupted by ...: checkpoint saved
to ...``); accelerate's launcher would then add a ``ChildFailedError`` or ``SignalException`` traceback of
its own. Here the launcher exits with the rank's status instead (128 + n for signal n), quietly.
``vla experiment`` and ``vla demo`` launch their training through it.
"""

from __future__ import annotations

import logging
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = launch_command_parser().parse_args(sys.argv[1:] if argv is None else argv)
    # the agent's own lines ("Received 15 death signal", "failed (exitcode: 1) local_rank: 0") repeat what
    # the ranks say; a rank killed without a word is reported below
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    # one machine whose default port is taken (another training runs): accelerate finds a free port itself
    # and says so in a 5-line warning before the ranks' lines; the run is the same either way
    warnings.filterwarnings("ignore", message=r"Port `\d+` is already in use", category=UserWarning)
    try:
        launch_command(args)
    except SignalException as stop:  # the ranks got the signal too: they save and say where
        return 128 + int(stop.sigval)
    except ChildFailedError as failed:  # a rank that exits on its own has printed its line or traceback
        rank, failure = failed.get_first_failure()
        if failure.exitcode >= 0:
            return failure.exitcode or 1
        name = failure.signal_name()
        hint = ": the kernel's out-of-memory killer sends SIGKILL" if name == "SIGKILL" else ""
        print(f"error: rank {rank} (pid {failure.pid}) was killed by {name} before it could say why{hint}",
              file=sys.stderr)  # fmt: skip
        return 128 - failure.exitcode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
