"""Leaving a process that used a Temporal client.

The Temporal core can abort at interpreter shutdown (PRACTICES.md, sdk-python#300): our
entry points flush what they wrote and leave with ``os._exit``, skipping finalizers.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """Flush logs and standard streams, then end the process with ``code`` at once."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
