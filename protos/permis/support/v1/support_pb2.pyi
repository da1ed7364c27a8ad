from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FindRequestsRequest(_message.Message):
    __slots__ = ("email", "account_id", "request_number")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    email: str
    account_id: str
    request_number: str
    def __init__(self, email: _Optional[str] = ..., account_id: _Optional[str] = ..., request_number: _Optional[str] = ...) -> None: ...

class RequestSummary(_message.Message):
    __slots__ = ("request_number", "journey", "motif", "category", "stage", "stage_label", "created_at", "account_id", "workflow_id", "running")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    MOTIF_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_LABEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    journey: str
    motif: str
    category: str
    stage: str
    stage_label: str
    created_at: str
    account_id: str
    workflow_id: str
    running: bool
    def __init__(self, request_number: _Optional[str] = ..., journey: _Optional[str] = ..., motif: _Optional[str] = ..., category: _Optional[str] = ..., stage: _Optional[str] = ..., stage_label: _Optional[str] = ..., created_at: _Optional[str] = ..., account_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., running: _Optional[bool] = ...) -> None: ...

class FindRequestsResponse(_message.Message):
    __slots__ = ("requests", "account_id")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RequestSummary]
    account_id: str
    def __init__(self, requests: _Optional[_Iterable[_Union[RequestSummary, _Mapping]]] = ..., account_id: _Optional[str] = ...) -> None: ...

class CancelRequestRequest(_message.Message):
    __slots__ = ("request_number", "operator_id", "reason")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    operator_id: str
    reason: str
    def __init__(self, request_number: _Optional[str] = ..., operator_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class OperatorAction(_message.Message):
    __slots__ = ("id", "kind", "request_number", "workflow_id", "operator_id", "reason", "recorded_at", "delivered_at", "outcome", "error_code")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    request_number: str
    workflow_id: str
    operator_id: str
    reason: str
    recorded_at: str
    delivered_at: str
    outcome: str
    error_code: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., request_number: _Optional[str] = ..., workflow_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., reason: _Optional[str] = ..., recorded_at: _Optional[str] = ..., delivered_at: _Optional[str] = ..., outcome: _Optional[str] = ..., error_code: _Optional[str] = ...) -> None: ...

class CancelRequestResponse(_message.Message):
    __slots__ = ("action", "stage")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    action: OperatorAction
    stage: str
    def __init__(self, action: _Optional[_Union[OperatorAction, _Mapping]] = ..., stage: _Optional[str] = ...) -> None: ...

class ListActionsRequest(_message.Message):
    __slots__ = ("request_number", "operator_id", "limit")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    operator_id: str
    limit: int
    def __init__(self, request_number: _Optional[str] = ..., operator_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListActionsResponse(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[OperatorAction]
    def __init__(self, actions: _Optional[_Iterable[_Union[OperatorAction, _Mapping]]] = ...) -> None: ...
