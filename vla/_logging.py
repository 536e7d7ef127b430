"""Silence known-harmless library messages that would bury our own output."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

_DROPPED = (
    # lerobot probes torchcodec's FFmpeg libraries and prints a long traceback when the system has none;
    # our datasets store PNG frames, and videos decode with PyAV.
    ("lerobot.utils.import_utils", "torchcodec"),
    # SmolVLMProcessor.apply_chat_template forwards its own video defaults as kwargs and trips this.
    ("transformers.processing_utils", "have to be in `processor_kwargs`"),
)


class _DropMessages(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def quiet_known_noise() -> None:
    for logger_name, fragment in _DROPPED:
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, _DropMessages) and f.fragment == fragment for f in logger.filters):
            logger.addFilter(_DropMessages(fragment))
    warnings.filterwarnings("ignore", message=r"(?s).*torchcodec.*")


@contextlib.contextmanager
def library_progress_bars_off() -> Iterator[None]:
    """Hugging Face ``datasets`` and ``transformers`` progress bars off inside, restored to what they were
    after: lerobot's per-episode ``Map`` bars and a ``Writing model shards`` bar per checkpoint would bury
    our own bars."""
    from datasets.utils import logging as datasets_logging
    from transformers.utils import logging as transformers_logging

    libraries = [lib for lib in (datasets_logging, transformers_logging) if lib.is_progress_bar_enabled()]
    for lib in libraries:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib in libraries:
            lib.enable_progress_bar()


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (a redirected or captured stream too), not the one at setup."""

    @property
    def stream(self):
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """Show vla's own log lines (attention implementation, ...) on stderr from the entry points; library
    loggers keep their levels. Under ``accelerate launch`` only rank 0 logs below WARNING."""

    logger = logging.getLogger("vla")
    if any(getattr(h, "_vla_handler", False) for h in logger.handlers):
        return
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._vla_handler = True
    logger.addHandler(handler)
    from vla.distributed import is_launch_rank_zero

    logger.setLevel(level if is_launch_rank_zero() else logging.WARNING)
    logger.propagate = False
    if not is_launch_rank_zero():  # one "Loading weights" / download bar per run, not one per process
        # read once, when huggingface_hub and transformers are first imported: the entry points call this
        # before they load either (tests/test_train_modes.py checks the bars under accelerate launch)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
