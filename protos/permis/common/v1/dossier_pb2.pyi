from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CivilStatus(_message.Message):
    __slots__ = ("family_name", "given_names", "birth_date", "birth_place", "birth_country", "sex", "nationality")
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    BIRTH_PLACE_FIELD_NUMBER: _ClassVar[int]
    BIRTH_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    NATIONALITY_FIELD_NUMBER: _ClassVar[int]
    family_name: str
    given_names: str
    birth_date: str
    birth_place: str
    birth_country: str
    sex: str
    nationality: str
    def __init__(self, family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., birth_date: _Optional[str] = ..., birth_place: _Optional[str] = ..., birth_country: _Optional[str] = ..., sex: _Optional[str] = ..., nationality: _Optional[str] = ...) -> None: ...

class AddressContact(_message.Message):
    __slots__ = ("street", "postal_code", "city", "department", "email", "mobile_phone")
    STREET_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    MOBILE_PHONE_FIELD_NUMBER: _ClassVar[int]
    street: str
    postal_code: str
    city: str
    department: str
    email: str
    mobile_phone: str
    def __init__(self, street: _Optional[str] = ..., postal_code: _Optional[str] = ..., city: _Optional[str] = ..., department: _Optional[str] = ..., email: _Optional[str] = ..., mobile_phone: _Optional[str] = ...) -> None: ...

class DocumentRef(_message.Message):
    __slots__ = ("document_id", "kind", "content_type", "sha256", "size", "issued_on")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_ON_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    kind: str
    content_type: str
    sha256: str
    size: int
    issued_on: str
    def __init__(self, document_id: _Optional[str] = ..., kind: _Optional[str] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., issued_on: _Optional[str] = ...) -> None: ...

class Dossier(_message.Message):
    __slots__ = ("request_number", "journey", "motif", "category", "account_id", "civil_status", "address", "photo_code", "documents", "submitted_at", "neph")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    MOTIF_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CIVIL_STATUS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PHOTO_CODE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    NEPH_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    journey: str
    motif: str
    category: str
    account_id: str
    civil_status: CivilStatus
    address: AddressContact
    photo_code: str
    documents: _containers.RepeatedCompositeFieldContainer[DocumentRef]
    submitted_at: str
    neph: str
    def __init__(self, request_number: _Optional[str] = ..., journey: _Optional[str] = ..., motif: _Optional[str] = ..., category: _Optional[str] = ..., account_id: _Optional[str] = ..., civil_status: _Optional[_Union[CivilStatus, _Mapping]] = ..., address: _Optional[_Union[AddressContact, _Mapping]] = ..., photo_code: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[DocumentRef, _Mapping]]] = ..., submitted_at: _Optional[str] = ..., neph: _Optional[str] = ...) -> None: ...
