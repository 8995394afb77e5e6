"""The error hierarchy every domain raises and every edge maps.

    DomainError            code, message, field
    ├── Invalid            input that breaks a rule (HTTP 400 / 422)
    ├── Forbidden          the caller's role may not do this (403)
    ├── NotFound           a thing that does not exist (404)
    ├── Conflict           a state that forbids the change (409)
    └── Gone               a thing that existed and was erased (410)

`code` is stable and documented per domain; `field` names what is wrong when one field is.
"""


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Invalid(DomainError):
    status = 400


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    status = 410
