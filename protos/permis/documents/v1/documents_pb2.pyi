from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Document(_message.Message):
    __slots__ = ("document_id", "request_number", "kind", "filename", "content_type", "size", "sha256", "object_key", "created_at", "owner_account_id")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    request_number: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    object_key: str
    created_at: str
    owner_account_id: str
    def __init__(self, document_id: _Optional[str] = ..., request_number: _Optional[str] = ..., kind: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., object_key: _Optional[str] = ..., created_at: _Optional[str] = ..., owner_account_id: _Optional[str] = ...) -> None: ...

class UploadDocumentRequest(_message.Message):
    __slots__ = ("request_number", "kind", "filename", "content", "owner_account_id", "document_id")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    kind: str
    filename: str
    content: bytes
    owner_account_id: str
    document_id: str
    def __init__(self, request_number: _Optional[str] = ..., kind: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ..., owner_account_id: _Optional[str] = ..., document_id: _Optional[str] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("document_id",)
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    def __init__(self, document_id: _Optional[str] = ...) -> None: ...

class DocumentContent(_message.Message):
    __slots__ = ("document", "content")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    document: Document
    content: bytes
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("request_number",)
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    def __init__(self, request_number: _Optional[str] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class GetDownloadUrlRequest(_message.Message):
    __slots__ = ("document_id", "ttl_seconds")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    ttl_seconds: int
    def __init__(self, document_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class DownloadUrl(_message.Message):
    __slots__ = ("url", "expires_at")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    url: str
    expires_at: str
    def __init__(self, url: _Optional[str] = ..., expires_at: _Optional[str] = ...) -> None: ...

class RenderReceiptRequest(_message.Message):
    __slots__ = ("request_number", "family_name", "given_names", "birth_date", "birth_place", "category", "motif", "department", "address_line", "submitted_at", "owner_account_id")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    BIRTH_PLACE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MOTIF_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    family_name: str
    given_names: str
    birth_date: str
    birth_place: str
    category: str
    motif: str
    department: str
    address_line: str
    submitted_at: str
    owner_account_id: str
    def __init__(self, request_number: _Optional[str] = ..., family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., birth_date: _Optional[str] = ..., birth_place: _Optional[str] = ..., category: _Optional[str] = ..., motif: _Optional[str] = ..., department: _Optional[str] = ..., address_line: _Optional[str] = ..., submitted_at: _Optional[str] = ..., owner_account_id: _Optional[str] = ...) -> None: ...

class RenderAttestationRequest(_message.Message):
    __slots__ = ("request_number", "neph", "family_name", "given_names", "birth_date", "birth_place", "category", "department", "address_line", "decided_at", "owner_account_id")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NEPH_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    BIRTH_PLACE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    neph: str
    family_name: str
    given_names: str
    birth_date: str
    birth_place: str
    category: str
    department: str
    address_line: str
    decided_at: str
    owner_account_id: str
    def __init__(self, request_number: _Optional[str] = ..., neph: _Optional[str] = ..., family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., birth_date: _Optional[str] = ..., birth_place: _Optional[str] = ..., category: _Optional[str] = ..., department: _Optional[str] = ..., address_line: _Optional[str] = ..., decided_at: _Optional[str] = ..., owner_account_id: _Optional[str] = ...) -> None: ...

class PurgeRequestDocumentsRequest(_message.Message):
    __slots__ = ("request_number",)
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    def __init__(self, request_number: _Optional[str] = ...) -> None: ...

class PurgeRequestDocumentsResponse(_message.Message):
    __slots__ = ("deleted", "already_purged", "purged_at")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PURGED_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    already_purged: bool
    purged_at: str
    def __init__(self, deleted: _Optional[int] = ..., already_purged: _Optional[bool] = ..., purged_at: _Optional[str] = ...) -> None: ...
