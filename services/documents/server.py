"""DocumentService: supporting documents, the attestation d'inscription and the récépissé.

Bytes go to S3 first, then the row; a row that cannot be written takes its object
with it, so nothing half-written is ever visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from permis.documents.v1 import documents_pb2, documents_pb2_grpc
from services.common import migrations
from services.common.auth import CTN_AGENT, GATEWAY, INSTRUCTION_SERVICE, WORKER, AccessTable, roles
from services.common.db import is_unique_violation, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition, not_found_if_missing
from services.common.settings import Settings
from services.documents import rules
from services.documents.storage import (
    DocumentRow,
    ObjectStore,
    PurgeRow,
    find_generated,
    get_document,
    insert_document,
    list_documents,
)

log = logging.getLogger(__name__)

SERVICE_NAME = documents_pb2.DESCRIPTOR.services_by_name["DocumentService"].full_name

Data = TypeVar("Data")


def to_proto(row: DocumentRow) -> documents_pb2.Document:
    return documents_pb2.Document(
        document_id=row.id,
        request_number=row.request_number,
        kind=row.kind,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        object_key=row.object_key,
        created_at=row.created_at.isoformat(),
        owner_account_id=row.owner_account_id,
    )


def new_row(
    *,
    request_number: str,
    kind: str,
    filename: str,
    content_type: str,
    content: bytes,
    owner_account_id: str,
    generated: bool = False,
    document_id: str = "",
) -> DocumentRow:
    sha256 = hashlib.sha256(content).hexdigest()
    if document_id:
        # A caller-chosen id may come again with other bytes: the key names the content
        # too, so a refused repeat never overwrites the stored document's object.
        object_key = rules.object_key(request_number, f"{document_id}-{sha256[:16]}")
    else:
        document_id = str(uuid.uuid4())
        object_key = rules.object_key(request_number, document_id)
    return DocumentRow(
        id=document_id,
        request_number=request_number,
        kind=kind,
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=sha256,
        object_key=object_key,
        owner_account_id=owner_account_id,
        generated=generated,
        created_at=datetime.now(UTC),
    )


def same_upload(stored: DocumentRow, attempt: DocumentRow) -> DocumentRow:
    """The stored document, when an upload with its id repeats it; else a refusal (the
    caller reused the id for another file, request or account)."""
    same = (stored.request_number, stored.kind, stored.sha256, stored.owner_account_id) == (
        attempt.request_number,
        attempt.kind,
        attempt.sha256,
        attempt.owner_account_id,
    )
    if stored.generated or not same:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Cet identifiant de dépôt a déjà servi pour une autre pièce.",
            {"field": "document_id"},
        )
    return stored


class DocumentServicer(documents_pb2_grpc.DocumentServiceServicer):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        objects: ObjectStore,
        max_upload_bytes: int,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.objects = objects
        self.max_upload_bytes = max_upload_bytes
        self._storing: set[asyncio.Task[None]] = set()  # stores outliving their call

    async def _store(self, row: DocumentRow, content: bytes) -> None:
        """Object first, then row; if the row fails, the object goes too, unless a row
        that won a race for the same id already uses that very object.

        Shielded from the call's cancellation (a caller that gave up or died, as a killed
        worker does): the bytes are written by a thread that finishes anyway, so a store
        cut short would leave an object no row names (personal data the retention purge
        never finds). Finished, its row lets the caller's retry find the document.
        """
        task = asyncio.ensure_future(self._write(row, content))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)
        await asyncio.shield(task)

    async def finish_stores(self, within: float) -> None:
        """On stop, after the last call: let stores that outlived their call end (their
        rows), for up to ``within`` seconds, before the database goes away."""
        pending = set(self._storing)
        if not pending:
            return
        log.info("stopping: %d document store(s) still writing", len(pending))
        _, unfinished = await asyncio.wait(pending, timeout=within)
        if unfinished:
            log.warning("stopping with %d document store(s) unfinished", len(unfinished))

    async def _write(self, row: DocumentRow, content: bytes) -> None:
        await self.objects.put(row.object_key, content, row.content_type, row.sha256)
        try:
            await insert_document(self.sessionmaker, row)
        except BaseException:
            with contextlib.suppress(Exception):
                winner = await self._row_or_none(row.id)
                if winner is None or winner.object_key != row.object_key:
                    await self.objects.remove(row.object_key)
            raise

    async def _row_or_none(self, document_id: str) -> DocumentRow | None:
        async with self.sessionmaker() as session:
            return await get_document(session, document_id)

    async def _row(self, document_id: str) -> DocumentRow:
        if not document_id:
            raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "document_id"})
        async with self.sessionmaker() as session:
            row: DocumentRow = not_found_if_missing(
                await get_document(session, document_id), ErrorCode.DOCUMENT_NOT_FOUND
            )
            return row

    async def UploadDocument(
        self, request: documents_pb2.UploadDocumentRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        rules.check_request_number(request.request_number)
        rules.check_uploadable_kind(request.kind)
        content = bytes(request.content)
        content_type = rules.check_upload(content, self.max_upload_bytes)
        rules.check_structure(content, content_type)
        row = new_row(
            request_number=request.request_number,
            kind=request.kind,
            filename=rules.sanitise_filename(request.filename, content_type),
            content_type=content_type,
            content=content,
            owner_account_id=request.owner_account_id,
            document_id=rules.check_document_id(request.document_id),
        )
        if request.document_id:  # a retried upload finds its first attempt's document
            stored = await self._row_or_none(row.id)
            if stored is not None:
                return to_proto(same_upload(stored, row))
        try:
            await self._store(row, content)
        except IntegrityError as error:
            winner = await self._row_or_none(row.id) if request.document_id else None
            if not is_unique_violation(error) or winner is None:
                raise
            return to_proto(same_upload(winner, row))  # a concurrent retry stored it first
        log.info("stored %s %s for %s", row.kind, row.id, row.request_number)
        return to_proto(row)

    async def GetDocument(
        self, request: documents_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        return to_proto(await self._row(request.document_id))

    async def DownloadDocument(
        self, request: documents_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.DocumentContent:
        row = await self._row(request.document_id)
        content = await self.objects.get(row.object_key)
        return documents_pb2.DocumentContent(document=to_proto(row), content=content)

    async def ListDocuments(
        self, request: documents_pb2.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.ListDocumentsResponse:
        rules.check_request_number(request.request_number)
        async with self.sessionmaker() as session:
            rows = await list_documents(session, request.request_number)
        return documents_pb2.ListDocumentsResponse(documents=[to_proto(row) for row in rows])

    async def DeleteDocument(
        self, request: documents_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.DeleteDocumentResponse:
        """Idempotent: deleting an unknown (or already deleted) document answers False."""
        if not request.document_id:
            raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "document_id"})
        async with self.sessionmaker.begin() as session:
            row = await get_document(session, request.document_id)
            if row is None:
                return documents_pb2.DeleteDocumentResponse(deleted=False)
            await session.delete(row)
            await session.flush()
            # Inside the transaction: if S3 refuses, the row stays and both remain in place.
            await self.objects.remove(row.object_key)
        log.info("deleted %s %s of %s", row.kind, row.id, row.request_number)
        return documents_pb2.DeleteDocumentResponse(deleted=True)

    async def GetDownloadUrl(
        self, request: documents_pb2.GetDownloadUrlRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.DownloadUrl:
        row = await self._row(request.document_id)
        ttl = timedelta(seconds=rules.url_ttl_seconds(request.ttl_seconds))
        expires_at = datetime.now(UTC) + ttl
        url = await self.objects.presigned_get(row.object_key, ttl, row.content_type, row.filename)
        return documents_pb2.DownloadUrl(url=url, expires_at=expires_at.isoformat())

    async def RenderAttestation(
        self, request: documents_pb2.RenderAttestationRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        data = rules.parse_attestation(
            request_number=request.request_number,
            neph=request.neph,
            family_name=request.family_name,
            given_names=request.given_names,
            birth_date=request.birth_date,
            birth_place=request.birth_place,
            category=request.category,
            department=request.department,
            decided_at=request.decided_at,
            address_line=request.address_line,
        )
        return await self._render_once(
            data,
            request_number=data.request_number,
            kind=rules.ATTESTATION_KIND,
            filename=f"attestation-inscription-{data.neph}.pdf",
            render=rules.render_attestation,
            owner_account_id=request.owner_account_id,
        )

    async def RenderReceipt(
        self, request: documents_pb2.RenderReceiptRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.Document:
        data = rules.parse_receipt(
            request_number=request.request_number,
            family_name=request.family_name,
            given_names=request.given_names,
            birth_date=request.birth_date,
            birth_place=request.birth_place,
            category=request.category,
            motif=request.motif,
            department=request.department,
            submitted_at=request.submitted_at,
            address_line=request.address_line,
        )
        return await self._render_once(
            data,
            request_number=data.request_number,
            kind=rules.RECEIPT_KIND,
            filename=f"recepisse-depot-{data.request_number}.pdf",
            render=rules.render_receipt,
            owner_account_id=request.owner_account_id,
        )

    async def _render_once(
        self,
        data: Data,
        *,
        request_number: str,
        kind: str,
        filename: str,
        render: Callable[[Data], bytes],
        owner_account_id: str,
    ) -> documents_pb2.Document:
        """One generated document per (request, kind): a repeat returns the stored one.

        A workflow retries its activity; the first document produced stays the one the
        candidate downloads, even if the retry carried different data.
        """
        existing = await self._generated(request_number, kind)
        if existing is not None:
            return to_proto(existing)
        content = await asyncio.to_thread(render, data)
        row = new_row(
            request_number=request_number,
            kind=kind,
            filename=filename,
            content_type=rules.PDF,
            content=content,
            owner_account_id=owner_account_id,
            generated=True,
        )
        try:
            await self._store(row, content)
        except IntegrityError as error:
            # A concurrent call won the race: its document is the one.
            winner = await self._generated(request_number, kind)
            if not is_unique_violation(error) or winner is None:
                raise
            return to_proto(winner)
        log.info("%s %s rendered for %s", kind, row.id, row.request_number)
        return to_proto(row)

    async def _generated(self, request_number: str, kind: str) -> DocumentRow | None:
        async with self.sessionmaker() as session:
            return await find_generated(session, request_number, kind)

    async def PurgeRequestDocuments(
        self,
        request: documents_pb2.PurgeRequestDocumentsRequest,
        context: grpc.aio.ServicerContext,
    ) -> documents_pb2.PurgeRequestDocumentsResponse:
        """Retention: every document of the request goes, bytes first, then its row (a
        failure leaves the row, so a retry finds it again); then the purge log."""
        rules.check_request_number(request.request_number)
        async with self.sessionmaker() as session:
            rows = await list_documents(session, request.request_number)
        for row in rows:
            await self.objects.remove(row.object_key)  # a missing object is no error
            async with self.sessionmaker.begin() as session:
                current = await get_document(session, row.id)
                if current is not None:
                    await session.delete(current)
        now = datetime.now(UTC)
        try:
            async with self.sessionmaker.begin() as session:
                logged = await session.get(PurgeRow, request.request_number)
                already = logged is not None
                if logged is None:
                    logged = PurgeRow(
                        request_number=request.request_number, deleted=len(rows), purged_at=now
                    )
                    session.add(logged)
                else:
                    logged.deleted += len(rows)
                purged_at = logged.purged_at
        except IntegrityError as error:  # a concurrent purge logged it first
            if not is_unique_violation(error):
                raise
            already, purged_at = True, now
        log.info("purged %d documents of %s", len(rows), request.request_number)
        return documents_pb2.PurgeRequestDocumentsResponse(
            deleted=len(rows), already_purged=already, purged_at=purged_at.isoformat()
        )


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    # Candidates' documents: only through the gateway, which checks ownership.
    "UploadDocument": roles(GATEWAY),
    "GetDocument": roles(GATEWAY, WORKER),
    "DownloadDocument": roles(GATEWAY),
    "ListDocuments": roles(GATEWAY, WORKER),
    "DeleteDocument": roles(GATEWAY),
    # Short-lived links for the agents who review a dossier.
    "GetDownloadUrl": roles(INSTRUCTION_SERVICE, CTN_AGENT),
    "RenderAttestation": roles(WORKER),
    "RenderReceipt": roles(WORKER),
    "PurgeRequestDocuments": roles(WORKER),
}


def definition(servicer: DocumentServicer) -> ServiceDefinition:
    return ServiceDefinition(
        SERVICE_NAME,
        lambda server: documents_pb2_grpc.add_DocumentServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )


async def build(settings: Settings) -> tuple[DocumentServicer, AsyncEngine]:
    """The servicer on its database (schema migrated to head) and its bucket (created if
    absent)."""
    engine = make_engine(settings.database_url_for("documents"))
    try:
        await migrations.upgrade(engine, "documents")
        objects = ObjectStore.from_settings(settings)
        await objects.ensure_bucket()
    except BaseException:
        await engine.dispose()
        raise
    return DocumentServicer(make_sessionmaker(engine), objects, settings.max_upload_bytes), engine
