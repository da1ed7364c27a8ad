"""Pure rules of the document service: what a file is, what it may be called, how long a
link lives, and the papers it produces itself, the attestation d'inscription and the
récépissé de dépôt (rendered in memory, no I/O).

The type of a file is read from its first bytes, never from its name or from the
content type the browser sent: a renamed executable stays refused. Its structure is
then checked cheaply, by hand and without decoding anything (see ``check_structure``):
a truncated PDF or PNG, a JPEG without a frame header, or an image whose declared
dimensions exceed ``MAX_IMAGE_SIDE`` / ``MAX_IMAGE_PIXELS`` is refused before any
byte is stored.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import PureWindowsPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from services.common.errors import ErrorCode, PermisError
from services.common.requirements import MOTIF_LABELS
from workflows.models import Category, DocumentKind, Motif
from workflows.request_numbers import is_request_number

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

# (magic prefix, content type); the notice accepts files, scans or photos in these formats.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
EXTENSIONS: dict[str, str] = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}

# Documents the service produces itself: one per request and kind, never uploaded.
ATTESTATION_KIND = "attestation_inscription"
RECEIPT_KIND = "recepisse_depot"
GENERATED_KINDS = frozenset({ATTESTATION_KIND, RECEIPT_KIND})
UPLOADABLE_KINDS = frozenset(kind.value for kind in DocumentKind)

DEFAULT_URL_TTL_SECONDS = 300
MAX_URL_TTL_SECONDS = 3600
MAX_FILENAME_CHARS = 120

_UNSAFE_FILENAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
# Characters that look like a slash or a backslash, or that reorder/hide text (bidi
# overrides turn "photo\u202egpj.exe" into what reads as "photoexe.jpg").
_LOOKALIKE_SEPARATORS = frozenset("\u2044\u2215\u29f8\u29f9\ufe68\uff0f\uff3c")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})

# Images are refused on their declared size, read from the header, never decoded: a
# 50,000 x 50,000 PNG of one colour is a few kilobytes that would take 7.5 GB to open.
MAX_IMAGE_SIDE = 10_000
MAX_IMAGE_PIXELS = 40_000_000
# A PDF ends with "startxref <offset> %%EOF"; a few bytes of junk after it are common.
PDF_TAIL_BYTES = 1024
_STARTXREF = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF")
_XREF_AT = re.compile(rb"\s*(?:xref\b|\d{1,10}\s+\d{1,5}\s+obj\b)")
# Producers that miscount line ends point a few bytes off; readers tolerate it, so do we.
_XREF_SLACK = 16
_PNG_IEND = b"IEND\xaeB`\x82"
# JPEG start-of-frame markers (C0-CF except DHT C4, JPG C8, DAC CC) hold the dimensions.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
NEPH_PATTERN = re.compile(r"^\d{12}$")


def detect_content_type(content: bytes) -> str | None:
    """The content type given by the magic bytes, or None for anything else."""
    for magic, content_type in _MAGIC:
        if content.startswith(magic):
            return content_type
    return None


def check_upload(content: bytes, max_bytes: int) -> str:
    """The detected content type of an acceptable upload; raises the refusal otherwise."""
    if not content:
        raise PermisError(ErrorCode.EMPTY_FILE)
    if len(content) > max_bytes:
        raise PermisError(
            ErrorCode.FILE_TOO_LARGE,
            f"Le fichier est trop volumineux (maximum {max_bytes // (1024 * 1024) or 1} Mo).",
            {"max_bytes": str(max_bytes)},
        )
    content_type = detect_content_type(content)
    if content_type is None:
        raise PermisError(ErrorCode.UNSUPPORTED_FILE_TYPE)
    return content_type


def check_structure(content: bytes, content_type: str) -> None:
    """Refuses a file whose type is right but whose body is not usable.

    Checked by hand, without pypdf or Pillow at run time (DECISIONS: « Hostile
    uploads »): a PDF must end with its ``startxref``/``%%EOF`` trailer and the offset
    must point at a cross-reference table or stream; a PNG must start with its IHDR
    and keep its IEND; a JPEG must carry a frame header (SOF) before its scan data.
    """
    if content_type == PDF:
        _check_pdf(content)
    elif content_type == PNG:
        _check_image_size(*_png_size(content))
    elif content_type == JPEG:
        _check_image_size(*_jpeg_size(content))


def _corrupted(detail: str) -> PermisError:
    return PermisError(ErrorCode.CORRUPTED_FILE, details={"reason": detail})


def _check_pdf(content: bytes) -> None:
    tail = content[-PDF_TAIL_BYTES:]
    matches = list(_STARTXREF.finditer(tail))
    if not matches:
        raise _corrupted("pdf_trailer_missing")
    offset = int(matches[-1].group(1))
    if offset >= len(content):
        raise _corrupted("pdf_xref_offset")
    start = max(offset - _XREF_SLACK, 0)
    window = content[start : offset + _XREF_SLACK + 32]
    if not any(_XREF_AT.match(window, i) for i in range(min(len(window), 2 * _XREF_SLACK))):
        raise _corrupted("pdf_xref_missing")


def _png_size(content: bytes) -> tuple[int, int]:
    # Signature (8), then the IHDR chunk: length 13, "IHDR", width, height, ...
    if len(content) < 33 or content[12:16] != b"IHDR" or content[8:12] != b"\x00\x00\x00\r":
        raise _corrupted("png_header")
    width, height = struct.unpack(">II", content[16:24])
    if width == 0 or height == 0:
        raise _corrupted("png_header")
    _check_image_size(width, height)  # before looking further: the size is what matters
    if _PNG_IEND not in content[-PDF_TAIL_BYTES:]:
        raise _corrupted("png_truncated")
    return width, height


def _jpeg_size(content: bytes) -> tuple[int, int]:
    """Width and height from the first SOF segment, walking the marker segments.

    The end (EOI) is not required: phones append data after it (motion photos)."""
    position, end = 2, len(content)
    while position < end:
        if content[position] != 0xFF:
            raise _corrupted("jpeg_marker")
        while position < end and content[position] == 0xFF:  # fill bytes
            position += 1
        if position >= end:
            break
        marker = content[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            break
        if position + 2 > end:
            break
        (length,) = struct.unpack(">H", content[position : position + 2])
        if length < 2:
            raise _corrupted("jpeg_marker")
        if marker in _JPEG_SOF:
            if position + 7 > end:
                break
            height, width = struct.unpack(">HH", content[position + 3 : position + 7])
            if width == 0 or height == 0:
                raise _corrupted("jpeg_frame")
            return width, height
        position += length
    raise _corrupted("jpeg_frame")


def _check_image_size(width: int, height: int) -> None:
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise PermisError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"L'image est trop grande ({width} x {height} pixels) : "
            f"{MAX_IMAGE_SIDE} pixels de côté et {MAX_IMAGE_PIXELS // 1_000_000} "
            "mégapixels au plus.",
            {"width": str(width), "height": str(height)},
        )


def check_request_number(request_number: str) -> str:
    # The request number becomes part of the object key: only well-formed ones get there.
    if not request_number:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "request_number"})
    if not is_request_number(request_number):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Numéro de demande invalide.", {"field": "request_number"}
        )
    return request_number


def check_uploadable_kind(kind: str) -> str:
    if kind not in UPLOADABLE_KINDS:
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Type de pièce justificative inconnu.", {"field": "kind"}
        )
    return kind


def sanitise_filename(filename: str, content_type: str) -> str:
    """A display name without any path part or control character, ending like its type.

    Both separators are stripped whatever the client's OS; an empty result falls back
    to ``document.<ext>``. The extension follows the detected type, so a file named
    ``photo.exe`` that is really a JPEG is shown as ``photo.exe.jpg``.
    """
    extension = EXTENSIONS[content_type]
    name = PureWindowsPath(filename.replace("/", "\\")).name  # drops C:\, ../ and dirs
    if len(name) > 4 * MAX_FILENAME_CHARS:  # the stem is cut anyway; keep the extension
        name = name[: 2 * MAX_FILENAME_CHARS] + name[-2 * MAX_FILENAME_CHARS :]
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        "_" if c in _LOOKALIKE_SEPARATORS or unicodedata.category(c) in _HIDDEN_CATEGORIES else c
        for c in name
    )
    name = _UNSAFE_FILENAME_CHARS.sub("_", name).strip().lstrip(".").strip()
    stem = name
    if name.lower().endswith(extension) or (
        content_type == JPEG and name.lower().endswith(".jpeg")
    ):
        stem, extension = name[: name.rfind(".")], name[name.rfind(".") :]
    stem = stem[: MAX_FILENAME_CHARS - len(extension)].rstrip(" .")
    return f"{stem or 'document'}{extension}"


def check_document_id(document_id: str) -> str:
    """A caller-chosen document id (idempotent upload) must be a UUID; empty: none."""
    if not document_id:
        return ""
    try:
        return str(uuid.UUID(document_id))
    except ValueError:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Identifiant de dépôt invalide.",
            {"field": "document_id"},
        ) from None


def object_key(request_number: str, document_id: str) -> str:
    return f"requests/{request_number}/{document_id}"


def url_ttl_seconds(requested: int) -> int:
    """Unset or non-positive means the default; longer than an hour is cut to an hour."""
    if requested <= 0:
        return DEFAULT_URL_TTL_SECONDS
    return min(requested, MAX_URL_TTL_SECONDS)


# ---- the attestation d'inscription ---------------------------------------------------


@dataclass(frozen=True)
class AttestationData:
    request_number: str
    neph: str
    family_name: str
    given_names: str
    birth_date: date
    birth_place: str
    category: str
    department: str
    decided_at: datetime
    address_line: str = ""


def parse_attestation(
    *,
    request_number: str,
    neph: str,
    family_name: str,
    given_names: str,
    birth_date: str,
    birth_place: str,
    category: str,
    department: str,
    decided_at: str,
    address_line: str = "",
) -> AttestationData:
    """Validated attestation content; MISSING_FIELDS / INVALID_FIELD name the faulty field."""
    check_request_number(request_number)
    _require_all(
        neph=neph,
        family_name=family_name,
        given_names=given_names,
        birth_date=birth_date,
        birth_place=birth_place,
        category=category,
        department=department,
        decided_at=decided_at,
    )
    if not NEPH_PATTERN.match(neph):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "NEPH invalide (12 chiffres).", {"field": "neph"}
        )
    return AttestationData(
        request_number=request_number,
        neph=neph,
        family_name=family_name.strip(),
        given_names=given_names.strip(),
        birth_date=_parse_date(birth_date, "birth_date", "Date de naissance invalide."),
        birth_place=birth_place.strip(),
        category=category.strip(),
        department=department.strip(),
        decided_at=_parse_moment(decided_at, "decided_at", "Date de décision invalide."),
        address_line=address_line.strip(),
    )


def _require_all(**values: str) -> None:
    """MISSING_FIELDS naming every blank field at once, so the caller fixes them together."""
    missing = [name for name, value in values.items() if not value.strip()]
    if missing:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"fields": ",".join(missing)})


def _parse_date(value: str, field: str, message: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PermisError(ErrorCode.INVALID_FIELD, message, {"field": field}) from None


def _parse_moment(value: str, field: str, message: str) -> datetime:
    """An aware datetime; a naive one is taken as UTC (what every service stores)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PermisError(ErrorCode.INVALID_FIELD, message, {"field": field}) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _french_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _paris(moment: datetime) -> datetime:
    # Shown as the prefecture would date it: metropolitan French time.
    try:
        return moment.astimezone(ZoneInfo("Europe/Paris"))
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC)


def _decision_day(decided_at: datetime) -> date:
    return _paris(decided_at).date()


# The notice's instructions, one paragraph each; "- " marks an indented item.
VERSO_INSTRUCTIONS: tuple[str, ...] = (
    "Imprimez ce document en recto/verso sur une seule feuille.",
    "Le jour de l'examen, présentez-le obligatoirement à l'inspecteur du permis de conduire "
    "chargé de l'évaluation, en plus des pièces habituelles :",
    "- une pièce d'identité en cours de validité ;",
    "- pour l'apprentissage anticipé de la conduite (AAC), le livret d'apprentissage ;",
    "- le cas échéant, votre permis de conduire.",
    "L'absence de l'attestation d'inscription entraînera le report de l'examen.",
    "Le numéro NEPH figurant au recto est votre numéro d'enregistrement : il deviendra le "
    "numéro de votre permis de conduire. Conservez-le.",
)


def _wrapped(text: str, font: str, size: float, width: float) -> list[str]:
    return simpleSplit(text, font, size, width) or [""]


def render_attestation(data: AttestationData) -> bytes:
    """The two-page PDF (recto: who and what; verso: the notice's instructions).

    ``invariant`` makes the bytes depend on the content only, so rendering twice gives
    the same file and the same sha256.
    """
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle("Attestation d'inscription au permis de conduire")
    pdf.setAuthor("Agence Nationale des Titres Sécurisés")
    pdf.setSubject(f"NEPH {data.neph}")
    width, height = A4
    left = 20 * mm

    # Recto
    pdf.setFont("Helvetica", 10)
    pdf.drawString(left, height - 20 * mm, "RÉPUBLIQUE FRANÇAISE")
    pdf.drawString(left, height - 25 * mm, f"Préfecture - département {data.department}")
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawCentredString(width / 2, height - 45 * mm, "Attestation d'inscription")
    pdf.drawCentredString(width / 2, height - 53 * mm, "au permis de conduire")
    pdf.setFont("Helvetica", 11)
    pdf.drawCentredString(
        width / 2, height - 70 * mm, "NEPH (numéro d'enregistrement préfectoral harmonisé)"
    )
    pdf.setFont("Helvetica-Bold", 30)
    pdf.drawCentredString(width / 2, height - 85 * mm, data.neph)

    rows = [
        ("Nom de famille", data.family_name.upper()),
        ("Prénom(s)", data.given_names),
        ("Né(e) le", _french_date(data.birth_date)),
        ("à", data.birth_place),
        ("Catégorie demandée", data.category),
        ("Département", data.department),
        ("Date de la décision", _french_date(_decision_day(data.decided_at))),
        ("Numéro de demande", data.request_number),
    ]
    if data.address_line:
        rows.insert(4, ("Adresse", data.address_line))
    y = height - 110 * mm
    value_x = left + 55 * mm
    for label, value in rows:
        pdf.setFont("Helvetica", 12)
        pdf.drawString(left, y, f"{label} :")
        pdf.setFont("Helvetica-Bold", 12)
        for line in _wrapped(value, "Helvetica-Bold", 12, width - left - value_x):
            pdf.drawString(value_x, y, line)
            y -= 6 * mm
        y -= 3 * mm
    pdf.setFont("Helvetica-Oblique", 9)
    pdf.drawString(
        left, 20 * mm, "Document à imprimer en recto/verso - voir les consignes au verso."
    )
    pdf.showPage()

    # Verso
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(left, height - 30 * mm, "Consignes")
    pdf.setFont("Helvetica", 11)
    y = height - 45 * mm
    for paragraph in VERSO_INSTRUCTIONS:
        x = left + 6 * mm if paragraph.startswith("- ") else left
        for line in _wrapped(paragraph, "Helvetica", 11, width - left - x):
            pdf.drawString(x, y, line)
            y -= 5.5 * mm
        y -= 3 * mm
    pdf.setFont("Helvetica-Oblique", 9)
    pdf.drawString(left, 20 * mm, f"NEPH {data.neph} - demande {data.request_number}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# ---- the récépissé de dépôt ----------------------------------------------------------

# Only a category-B inscription gets a récépissé at submission (the notice).
RECEIPT_CATEGORY = Category.B.value
RECEIPT_LEARNING_TEXT = (
    "Ce document vous permet d'entamer votre apprentissage sur les voies ouvertes "
    "à la circulation publique."
)
RECEIPT_NOT_A_LICENCE_TEXT = "Ce récépissé n'est pas un permis de conduire."
RECEIPT_NOTES: tuple[str, ...] = (
    RECEIPT_LEARNING_TEXT,
    RECEIPT_NOT_A_LICENCE_TEXT,
    "Il atteste seulement du dépôt de votre demande d'inscription, qui sera examinée par "
    "le service instructeur de votre département. Une attestation d'inscription portant "
    "votre numéro NEPH vous sera délivrée si votre demande est acceptée.",
)


@dataclass(frozen=True)
class ReceiptData:
    request_number: str
    family_name: str
    given_names: str
    birth_date: date
    birth_place: str
    category: str
    motif: Motif
    department: str
    submitted_at: datetime
    address_line: str = ""

    @property
    def motif_label(self) -> str:
        label = MOTIF_LABELS[self.motif]
        return label[:1].upper() + label[1:]


def parse_receipt(
    *,
    request_number: str,
    family_name: str,
    given_names: str,
    birth_date: str,
    birth_place: str,
    category: str,
    motif: str,
    department: str,
    submitted_at: str,
    address_line: str = "",
) -> ReceiptData:
    """Validated récépissé content: a category-B inscription (any inscription motif)."""
    check_request_number(request_number)
    _require_all(
        family_name=family_name,
        given_names=given_names,
        birth_date=birth_date,
        birth_place=birth_place,
        category=category,
        motif=motif,
        department=department,
        submitted_at=submitted_at,
    )
    if category.strip() != RECEIPT_CATEGORY:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Le récépissé de dépôt n'est délivré que pour une inscription en catégorie B.",
            {"field": "category"},
        )
    try:
        inscription_motif = Motif(motif.strip())
    except ValueError:
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Motif d'inscription inconnu.", {"field": "motif"}
        ) from None
    return ReceiptData(
        request_number=request_number,
        family_name=family_name.strip(),
        given_names=given_names.strip(),
        birth_date=_parse_date(birth_date, "birth_date", "Date de naissance invalide."),
        birth_place=birth_place.strip(),
        category=RECEIPT_CATEGORY,
        motif=inscription_motif,
        department=department.strip(),
        submitted_at=_parse_moment(submitted_at, "submitted_at", "Date de dépôt invalide."),
        address_line=address_line.strip(),
    )


def render_receipt(data: ReceiptData) -> bytes:
    """The one-page récépissé de dépôt; like the attestation, the same data gives the
    same bytes (``invariant``)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle("Récépissé de dépôt d'une demande d'inscription au permis de conduire")
    pdf.setAuthor("Agence Nationale des Titres Sécurisés")
    pdf.setSubject(f"Demande {data.request_number}")
    width, height = A4
    left = 20 * mm

    pdf.setFont("Helvetica", 10)
    pdf.drawString(left, height - 20 * mm, "RÉPUBLIQUE FRANÇAISE")
    pdf.drawString(left, height - 25 * mm, "Agence Nationale des Titres Sécurisés")
    pdf.setFont("Helvetica-Bold", 17)
    pdf.drawCentredString(width / 2, height - 45 * mm, "Récépissé de dépôt d'une demande")
    pdf.drawCentredString(width / 2, height - 53 * mm, "d'inscription au permis de conduire")

    submitted = _paris(data.submitted_at)
    rows = [
        ("Numéro de demande", data.request_number),
        ("Nom de famille", data.family_name.upper()),
        ("Prénom(s)", data.given_names),
        ("Né(e) le", _french_date(data.birth_date)),
        ("à", data.birth_place),
        ("Catégorie demandée", data.category),
        ("Motif", data.motif_label),
        ("Département", data.department),
        ("Date de dépôt", f"{_french_date(submitted.date())} à {submitted:%H:%M}"),
    ]
    if data.address_line:
        rows.insert(5, ("Adresse", data.address_line))
    y = height - 75 * mm
    value_x = left + 55 * mm
    for label, value in rows:
        pdf.setFont("Helvetica", 12)
        pdf.drawString(left, y, f"{label} :")
        pdf.setFont("Helvetica-Bold", 12)
        for line in _wrapped(value, "Helvetica-Bold", 12, width - left - value_x):
            pdf.drawString(value_x, y, line)
            y -= 6 * mm
        y -= 3 * mm

    y -= 6 * mm
    for index, paragraph in enumerate(RECEIPT_NOTES):
        # The first two are what the candidate must not miss: in bold.
        font = "Helvetica-Bold" if index < 2 else "Helvetica"
        pdf.setFont(font, 11)
        for line in _wrapped(paragraph, font, 11, width - 2 * left):
            pdf.drawString(left, y, line)
            y -= 5.5 * mm
        y -= 3 * mm
    pdf.setFont("Helvetica-Oblique", 9)
    pdf.drawString(left, 20 * mm, f"Récépissé de dépôt - demande {data.request_number}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
