from permis.common.v1 import dossier_pb2 as _dossier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_ACCEPTED: _ClassVar[Outcome]
    OUTCOME_REJECTED: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_ACCEPTED: Outcome
OUTCOME_REJECTED: Outcome

class Decision(_message.Message):
    __slots__ = ("request_number", "outcome", "instructor_id", "reason_code", "reason_text", "decided_at", "neph")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    NEPH_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    outcome: Outcome
    instructor_id: str
    reason_code: str
    reason_text: str
    decided_at: str
    neph: str
    def __init__(self, request_number: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., instructor_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., reason_text: _Optional[str] = ..., decided_at: _Optional[str] = ..., neph: _Optional[str] = ...) -> None: ...

class InstructionCase(_message.Message):
    __slots__ = ("request_number", "workflow_id", "department", "dossier", "state", "enqueued_at", "decision", "delivered_at", "claimed_by", "claimed_at", "documents", "reminders", "last_reminded_at", "withdrawn_reason")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    DOSSIER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_BY_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    REMINDERS_FIELD_NUMBER: _ClassVar[int]
    LAST_REMINDED_AT_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_REASON_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    workflow_id: str
    department: str
    dossier: _dossier_pb2.Dossier
    state: str
    enqueued_at: str
    decision: Decision
    delivered_at: str
    claimed_by: str
    claimed_at: str
    documents: _containers.RepeatedCompositeFieldContainer[CaseDocument]
    reminders: int
    last_reminded_at: str
    withdrawn_reason: str
    def __init__(self, request_number: _Optional[str] = ..., workflow_id: _Optional[str] = ..., department: _Optional[str] = ..., dossier: _Optional[_Union[_dossier_pb2.Dossier, _Mapping]] = ..., state: _Optional[str] = ..., enqueued_at: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., delivered_at: _Optional[str] = ..., claimed_by: _Optional[str] = ..., claimed_at: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[CaseDocument, _Mapping]]] = ..., reminders: _Optional[int] = ..., last_reminded_at: _Optional[str] = ..., withdrawn_reason: _Optional[str] = ...) -> None: ...

class CaseDocument(_message.Message):
    __slots__ = ("document", "download_url", "url_expires_at")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    URL_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    document: _dossier_pb2.DocumentRef
    download_url: str
    url_expires_at: str
    def __init__(self, document: _Optional[_Union[_dossier_pb2.DocumentRef, _Mapping]] = ..., download_url: _Optional[str] = ..., url_expires_at: _Optional[str] = ...) -> None: ...

class ClaimCaseRequest(_message.Message):
    __slots__ = ("request_number", "instructor_id", "department")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    instructor_id: str
    department: str
    def __init__(self, request_number: _Optional[str] = ..., instructor_id: _Optional[str] = ..., department: _Optional[str] = ...) -> None: ...

class WithdrawCaseRequest(_message.Message):
    __slots__ = ("request_number", "reason")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    reason: str
    def __init__(self, request_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RemindCaseRequest(_message.Message):
    __slots__ = ("request_number", "level")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    level: int
    def __init__(self, request_number: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class ExamResult(_message.Message):
    __slots__ = ("neph", "category", "passed", "exam_date", "examiner_id", "recorded_at")
    NEPH_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXAM_DATE_FIELD_NUMBER: _ClassVar[int]
    EXAMINER_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    neph: str
    category: str
    passed: bool
    exam_date: str
    examiner_id: str
    recorded_at: str
    def __init__(self, neph: _Optional[str] = ..., category: _Optional[str] = ..., passed: _Optional[bool] = ..., exam_date: _Optional[str] = ..., examiner_id: _Optional[str] = ..., recorded_at: _Optional[str] = ...) -> None: ...

class RecordExamResultRequest(_message.Message):
    __slots__ = ("neph", "category", "passed", "exam_date", "examiner_id")
    NEPH_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    EXAM_DATE_FIELD_NUMBER: _ClassVar[int]
    EXAMINER_ID_FIELD_NUMBER: _ClassVar[int]
    neph: str
    category: str
    passed: bool
    exam_date: str
    examiner_id: str
    def __init__(self, neph: _Optional[str] = ..., category: _Optional[str] = ..., passed: _Optional[bool] = ..., exam_date: _Optional[str] = ..., examiner_id: _Optional[str] = ...) -> None: ...

class ListExamResultsRequest(_message.Message):
    __slots__ = ("neph",)
    NEPH_FIELD_NUMBER: _ClassVar[int]
    neph: str
    def __init__(self, neph: _Optional[str] = ...) -> None: ...

class ListExamResultsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExamResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ExamResult, _Mapping]]] = ...) -> None: ...

class ListRejectionReasonsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RejectionReason(_message.Message):
    __slots__ = ("code", "label", "requires_text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_TEXT_FIELD_NUMBER: _ClassVar[int]
    code: str
    label: str
    requires_text: bool
    def __init__(self, code: _Optional[str] = ..., label: _Optional[str] = ..., requires_text: _Optional[bool] = ...) -> None: ...

class ListRejectionReasonsResponse(_message.Message):
    __slots__ = ("reasons",)
    REASONS_FIELD_NUMBER: _ClassVar[int]
    reasons: _containers.RepeatedCompositeFieldContainer[RejectionReason]
    def __init__(self, reasons: _Optional[_Iterable[_Union[RejectionReason, _Mapping]]] = ...) -> None: ...

class EnqueueCaseRequest(_message.Message):
    __slots__ = ("workflow_id", "dossier")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    DOSSIER_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    dossier: _dossier_pb2.Dossier
    def __init__(self, workflow_id: _Optional[str] = ..., dossier: _Optional[_Union[_dossier_pb2.Dossier, _Mapping]] = ...) -> None: ...

class ListPendingCasesRequest(_message.Message):
    __slots__ = ("department", "page_size", "page_token", "unclaimed_only")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNCLAIMED_ONLY_FIELD_NUMBER: _ClassVar[int]
    department: str
    page_size: int
    page_token: str
    unclaimed_only: bool
    def __init__(self, department: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., unclaimed_only: _Optional[bool] = ...) -> None: ...

class ListPendingCasesResponse(_message.Message):
    __slots__ = ("cases", "next_page_token")
    CASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[InstructionCase]
    next_page_token: str
    def __init__(self, cases: _Optional[_Iterable[_Union[InstructionCase, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("request_number",)
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    def __init__(self, request_number: _Optional[str] = ...) -> None: ...

class AcceptCaseRequest(_message.Message):
    __slots__ = ("request_number", "instructor_id")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTOR_ID_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    instructor_id: str
    def __init__(self, request_number: _Optional[str] = ..., instructor_id: _Optional[str] = ...) -> None: ...

class RejectCaseRequest(_message.Message):
    __slots__ = ("request_number", "instructor_id", "reason_code", "reason_text")
    REQUEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    request_number: str
    instructor_id: str
    reason_code: str
    reason_text: str
    def __init__(self, request_number: _Optional[str] = ..., instructor_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., reason_text: _Optional[str] = ...) -> None: ...
