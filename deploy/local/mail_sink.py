"""A local SMTP server that keeps every message it receives, for people and tests to read.

Each message is written to ``<dir>/<received-at>-<n>.eml``, readable with any mail
client or a text editor; ``index.jsonl`` lists them with sender, recipients, subject and
Message-ID.

The Message-ID is a message's idempotency key (docs/DECISIONS.md, "Emails: at least
once, delivered once"): a message whose Message-ID was already delivered is a retried
send of it, so it is accepted (250) but not delivered again, and listed in
``duplicates.jsonl`` instead (with whether its body matches the first). Mailpit does the
same with ``MP_IGNORE_DUPLICATE_IDS`` (docker-compose.yml); a production relay must too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from itertools import count
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

INDEX = "index.jsonl"
DUPLICATES = "duplicates.jsonl"


def body_of(message: Message) -> bytes:
    """The decoded payload of the first text part (what the recipient reads)."""
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""


class KeepEveryMessageOnce:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = count(1)
        # Message-ID -> file of its delivery; read back so a restart keeps deduplicating.
        self._delivered: dict[str, str] = {}
        index = directory / INDEX
        if index.exists():
            for line in index.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                if entry.get("message_id"):
                    self._delivered.setdefault(entry["message_id"], entry["file"])

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = datetime.now(UTC)
        raw: bytes = envelope.original_content or envelope.content
        message = message_from_bytes(raw)
        message_id = message.get("Message-ID", "").strip()
        entry: dict[str, Any] = {
            "received_at": received.isoformat(),
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(make_header(decode_header(message.get("Subject", "")))),
            "message_id": message_id,
        }
        first = self._delivered.get(message_id) if message_id else None
        if first is not None:
            kept = message_from_bytes((self.directory / first).read_bytes())
            entry |= {"first_file": first, "same_body": body_of(kept) == body_of(message)}
            self._append(DUPLICATES, entry)
            return "250 Message already delivered under this Message-ID: not delivered again"
        name = f"{received:%Y%m%dT%H%M%S%f}-{next(self._counter):05d}.eml"
        (self.directory / name).write_bytes(raw)
        self._append(INDEX, {"file": name, **entry})
        if message_id:
            self._delivered[message_id] = name
        return "250 Message accepted for delivery"

    def _append(self, name: str, entry: dict[str, Any]) -> None:
        with (self.directory / name).open("a", encoding="utf-8") as index:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")


async def run(port: int, directory: Path) -> None:
    controller = Controller(KeepEveryMessageOnce(directory), hostname="127.0.0.1", port=port)
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
