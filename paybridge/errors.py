"""Domain errors: one exception type with a machine-readable code, shared by every interface."""

from __future__ import annotations


class DomainError(Exception):
    """A refused operation. `code` is stable for clients; `param` names the offending input."""

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param

    def __repr__(self) -> str:
        return f"DomainError(code={self.code!r}, message={self.message!r}, param={self.param!r})"
