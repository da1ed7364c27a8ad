"""Small but real sample files (PDF, PNG, JPEG) for the demo journey and the tests."""

from __future__ import annotations

import io
import struct
import zlib


def pdf(title: str, lines: list[str] | None = None) -> bytes:
    """A one-page PDF with a title and a few lines, as a scanned document would be.

    Invariant mode leaves out the creation date and random document id, so the same
    arguments always give the same bytes (tests compare stored sha256 with them)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    page.setFont("Helvetica-Bold", 16)
    page.drawString(72, 770, title)
    page.setFont("Helvetica", 11)
    for index, line in enumerate(lines or []):
        page.drawString(72, 740 - 16 * index, line)
    page.showPage()
    page.save()
    return buffer.getvalue()


def png(width: int = 35, height: int = 45, rgb: tuple[int, int, int] = (200, 180, 160)) -> bytes:
    """A solid-colour PNG (the size of an ID photo, in pixels/10)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A minimal baseline JPEG: one grey pixel."""
    return bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c"
        "140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27"
        "393d38323c2e333432ffc0000b080001000101011100ffc4001f000001050101010101010000000000"
        "0000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411"
        "05122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a252627"
        "28292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a"
        "838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8"
        "c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fb"
        "d3ffd9"
    )
