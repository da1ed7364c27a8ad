"""A local SMTP server that keeps every message it receives, for people and tests to read.

Each message is written to ``<dir>/<received-at>-<n>.eml``, readable with any mail
client or a text editor; ``index.jsonl`` lists them with sender, recipients and subject.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from itertools import count
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class KeepEverything:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = datetime.now(UTC)
        raw: bytes = envelope.original_content or envelope.content
        name = f"{received:%Y%m%dT%H%M%S%f}-{next(self._counter):05d}.eml"
        (self.directory / name).write_bytes(raw)
        message = message_from_bytes(raw)
        entry = {
            "file": name,
            "received_at": received.isoformat(),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(make_header(decode_header(message.get("Subject", "")))),
            "message_id": message.get("Message-ID", ""),
        }
        with (self.directory / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return "250 Message accepted for delivery"


async def run(port: int, directory: Path) -> None:
    controller = Controller(KeepEverything(directory), hostname="127.0.0.1", port=port)
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail sink on 127.0.0.1:{port}, writing to {directory}", flush=True)
    await stop.wait()
    controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("data/mail"))
    args = parser.parse_args()
    asyncio.run(run(args.port, args.dir))


if __name__ == "__main__":
    main()
