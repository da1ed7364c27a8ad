from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Account(_message.Message):
    __slots__ = ("account_id", "identifier", "email", "given_names", "family_name", "birth_date", "role", "created_at", "status", "birth_place", "birth_country", "gender", "franceconnect")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BIRTH_PLACE_FIELD_NUMBER: _ClassVar[int]
    BIRTH_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    FRANCECONNECT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    identifier: str
    email: str
    given_names: str
    family_name: str
    birth_date: str
    role: str
    created_at: str
    status: str
    birth_place: str
    birth_country: str
    gender: str
    franceconnect: bool
    def __init__(self, account_id: _Optional[str] = ..., identifier: _Optional[str] = ..., email: _Optional[str] = ..., given_names: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ..., role: _Optional[str] = ..., created_at: _Optional[str] = ..., status: _Optional[str] = ..., birth_place: _Optional[str] = ..., birth_country: _Optional[str] = ..., gender: _Optional[str] = ..., franceconnect: _Optional[bool] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("email", "password", "given_names", "family_name", "birth_date")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    given_names: str
    family_name: str
    birth_date: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., given_names: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ("login", "password")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    login: str
    password: str
    def __init__(self, login: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("token", "expires_at", "account")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_at: str
    account: Account
    def __init__(self, token: _Optional[str] = ..., expires_at: _Optional[str] = ..., account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class VerifySessionRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class FindAccountRequest(_message.Message):
    __slots__ = ("email",)
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    email: str
    def __init__(self, email: _Optional[str] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ActivateAccountRequest(_message.Message):
    __slots__ = ("token", "password")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    token: str
    password: str
    def __init__(self, token: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LogOutRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class RequestPasswordResetRequest(_message.Message):
    __slots__ = ("email",)
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    email: str
    def __init__(self, email: _Optional[str] = ...) -> None: ...

class ResetPasswordRequest(_message.Message):
    __slots__ = ("token", "password")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    token: str
    password: str
    def __init__(self, token: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class FranceConnectIdentity(_message.Message):
    __slots__ = ("sub", "email", "given_name", "family_name", "birthdate", "birthplace", "birthcountry", "gender")
    SUB_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTHDATE_FIELD_NUMBER: _ClassVar[int]
    BIRTHPLACE_FIELD_NUMBER: _ClassVar[int]
    BIRTHCOUNTRY_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    sub: str
    email: str
    given_name: str
    family_name: str
    birthdate: str
    birthplace: str
    birthcountry: str
    gender: str
    def __init__(self, sub: _Optional[str] = ..., email: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birthdate: _Optional[str] = ..., birthplace: _Optional[str] = ..., birthcountry: _Optional[str] = ..., gender: _Optional[str] = ...) -> None: ...

class ListInactiveAccountsRequest(_message.Message):
    __slots__ = ("inactive_since", "page_size", "after_account_id")
    INACTIVE_SINCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AFTER_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    inactive_since: str
    page_size: int
    after_account_id: str
    def __init__(self, inactive_since: _Optional[str] = ..., page_size: _Optional[int] = ..., after_account_id: _Optional[str] = ...) -> None: ...

class InactiveAccounts(_message.Message):
    __slots__ = ("account_ids",)
    ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    account_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AnonymiseAccountRequest(_message.Message):
    __slots__ = ("account_id", "inactive_since")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_SINCE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    inactive_since: str
    def __init__(self, account_id: _Optional[str] = ..., inactive_since: _Optional[str] = ...) -> None: ...

class AnonymiseAccountResult(_message.Message):
    __slots__ = ("anonymised",)
    ANONYMISED_FIELD_NUMBER: _ClassVar[int]
    anonymised: bool
    def __init__(self, anonymised: _Optional[bool] = ...) -> None: ...
