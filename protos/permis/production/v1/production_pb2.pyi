from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartnerEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTNER_EVENT_TYPE_UNSPECIFIED: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_MANUFACTURED: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_POSTED: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_PICKUP_NOTICE_LEFT: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_DELIVERED: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_COLLECTED: _ClassVar[PartnerEventType]
    PARTNER_EVENT_TYPE_RETURNED: _ClassVar[PartnerEventType]
PARTNER_EVENT_TYPE_UNSPECIFIED: PartnerEventType
PARTNER_EVENT_TYPE_MANUFACTURED: PartnerEventType
PARTNER_EVENT_TYPE_POSTED: PartnerEventType
PARTNER_EVENT_TYPE_PICKUP_NOTICE_LEFT: PartnerEventType
PARTNER_EVENT_TYPE_DELIVERED: PartnerEventType
PARTNER_EVENT_TYPE_COLLECTED: PartnerEventType
PARTNER_EVENT_TYPE_RETURNED: PartnerEventType

class PartnerEvent(_message.Message):
    __slots__ = ("event_id", "request_number", "type", "tracking_number", "occurred_at", "partner")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    request_number: str
    type: PartnerEventType
    tracking_number: str
    occurred_at: str
    partner: str
    def __init__(self, event_id: _Optional[str] = ..., request_number: _Optional[str] = ..., type: _Optional[_Union[PartnerEventType, str]] = ..., tracking_number: _Optional[str] = ..., occurred_at: _Optional[str] = ..., partner: _Optional[str] = ...) -> None: ...

class TitleEvent(_message.Message):
    __slots__ = ("type", "occurred_at", "tracking_number", "partner")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    type: PartnerEventType
    occurred_at: str
    tracking_number: str
    partner: str
    def __init__(self, type: _Optional[_Union[PartnerEventType, str]] = ..., occurred_at: _Optional[str] = ..., tracking_number: _Optional[str] = ..., partner: _Optional[str] = ...) -> None: ...

class Title(_message.Message):
    __slots__ = ("request_number", "workflow_id", "neph", "category", "state", "tracking_number", "ordered_at", "events", "shipments", "family_name", "given_names", "address_line", "first_licence")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NEPH_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ORDERED_AT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE_FIELD_NUMBER: _ClassVar[int]
    FIRST_LICENCE_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    workflow_id: str
    neph: str
    category: str
    state: str
    tracking_number: str
    ordered_at: str
    events: _containers.RepeatedCompositeFieldContainer[TitleEvent]
    shipments: int
    family_name: str
    given_names: str
    address_line: str
    first_licence: bool
    def __init__(self, request_number: _Optional[str] = ..., workflow_id: _Optional[str] = ..., neph: _Optional[str] = ..., category: _Optional[str] = ..., state: _Optional[str] = ..., tracking_number: _Optional[str] = ..., ordered_at: _Optional[str] = ..., events: _Optional[_Iterable[_Union[TitleEvent, _Mapping]]] = ..., shipments: _Optional[int] = ..., family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., address_line: _Optional[str] = ..., first_licence: _Optional[bool] = ...) -> None: ...

class OrderTitleRequest(_message.Message):
    __slots__ = ("request_number", "workflow_id", "neph", "category", "family_name", "given_names", "address_line", "first_licence")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NEPH_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_LINE_FIELD_NUMBER: _ClassVar[int]
    FIRST_LICENCE_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    workflow_id: str
    neph: str
    category: str
    family_name: str
    given_names: str
    address_line: str
    first_licence: bool
    def __init__(self, request_number: _Optional[str] = ..., workflow_id: _Optional[str] = ..., neph: _Optional[str] = ..., category: _Optional[str] = ..., family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., address_line: _Optional[str] = ..., first_licence: _Optional[bool] = ...) -> None: ...

class GetTitleRequest(_message.Message):
    __slots__ = ("request_number",)
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    def __init__(self, request_number: _Optional[str] = ...) -> None: ...

class ListTitlesRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTitlesResponse(_message.Message):
    __slots__ = ("titles", "next_page_token")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    next_page_token: str
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RequestResendRequest(_message.Message):
    __slots__ = ("request_number", "agent_id")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    agent_id: str
    def __init__(self, request_number: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ShipAgainRequest(_message.Message):
    __slots__ = ("request_number", "attempt")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    attempt: int
    def __init__(self, request_number: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class DestroyTitleRequest(_message.Message):
    __slots__ = ("request_number", "reason")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    reason: str
    def __init__(self, request_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
