"""Leaving a process that used a Temporal client.

The Temporal core can abort at interpreter shutdown (PRACTICES.md, sdk-python#300): our
entry points flush what they wrote and leave with ``os._exit``, skipping finalizers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Any, NoReturn


def leave(code: int) -> NoReturn:
    """Flush logs and standard streams, then end the process with ``code`` at once."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_then_leave(main: Coroutine[Any, Any, int | None]) -> NoReturn:
    """A command-line entry point: run ``main``, leave with the code it returns (None is
    0), or with 1 after printing the traceback if it raised (an interrupt included)."""
    try:
        code = asyncio.run(main) or 0
    except BaseException:
        traceback.print_exc()
        code = 1
    leave(code)
