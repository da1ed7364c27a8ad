from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PhotoCode(_message.Message):
    __slots__ = ("code", "booth_id", "issued_at", "expires_at", "consumed_by", "consumed_at", "photo_sha256")
    CODE_FIELD_NUMBER: _ClassVar[int]
    BOOTH_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_BY_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_AT_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    code: str
    booth_id: str
    issued_at: str
    expires_at: str
    consumed_by: str
    consumed_at: str
    photo_sha256: str
    def __init__(self, code: _Optional[str] = ..., booth_id: _Optional[str] = ..., issued_at: _Optional[str] = ..., expires_at: _Optional[str] = ..., consumed_by: _Optional[str] = ..., consumed_at: _Optional[str] = ..., photo_sha256: _Optional[str] = ...) -> None: ...

class IssueCodeRequest(_message.Message):
    __slots__ = ("booth_id", "photo", "signature")
    BOOTH_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    booth_id: str
    photo: bytes
    signature: bytes
    def __init__(self, booth_id: _Optional[str] = ..., photo: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class CheckCodeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ConsumeCodeRequest(_message.Message):
    __slots__ = ("code", "request_number")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    code: str
    request_number: str
    def __init__(self, code: _Optional[str] = ..., request_number: _Optional[str] = ...) -> None: ...

class Portrait(_message.Message):
    __slots__ = ("code", "photo", "photo_content_type", "signature", "signature_content_type")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    PHOTO_CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    code: str
    photo: bytes
    photo_content_type: str
    signature: bytes
    signature_content_type: str
    def __init__(self, code: _Optional[str] = ..., photo: _Optional[bytes] = ..., photo_content_type: _Optional[str] = ..., signature: _Optional[bytes] = ..., signature_content_type: _Optional[str] = ...) -> None: ...
