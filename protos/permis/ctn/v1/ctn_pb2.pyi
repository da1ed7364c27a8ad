from permis.common.v1 import dossier_pb2 as _dossier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckDossierRequest(_message.Message):
    __slots__ = ("dossier", "workflow_id")
    DOSSIER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    dossier: _dossier_pb2.Dossier
    workflow_id: str
    def __init__(self, dossier: _Optional[_Union[_dossier_pb2.Dossier, _Mapping]] = ..., workflow_id: _Optional[str] = ...) -> None: ...

class MarkNonCompliantRequest(_message.Message):
    __slots__ = ("request_number", "agent_id", "findings")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    agent_id: str
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, request_number: _Optional[str] = ..., agent_id: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("request_number",)
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    def __init__(self, request_number: _Optional[str] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class PreCheckResult(_message.Message):
    __slots__ = ("request_number", "compliant", "findings", "checked_at", "decided_by")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    COMPLIANT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    compliant: bool
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    checked_at: str
    decided_by: str
    def __init__(self, request_number: _Optional[str] = ..., compliant: _Optional[bool] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., checked_at: _Optional[str] = ..., decided_by: _Optional[str] = ...) -> None: ...
