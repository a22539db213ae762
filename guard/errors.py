"""One base exception; every user-facing error is a one-line message."""


class GuardError(Exception):
    """Base of all errors the guard reports to a user."""


class PolicyError(GuardError):
    """A policy file is missing, malformed or has an invalid rule."""


class ExtractionError(GuardError):
    """Content could not be inspected; `reason` is a Problem reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class LimitExceeded(ExtractionError):
    def __init__(self, detail: str):
        super().__init__("limit", detail)


class Deferred(Exception):
    """Raised where inspection meets slow work (OCR, a PDF reader child process) in a context
    that must stay fast (the proxy's event loop): the caller inspects again in a worker.
    Not a GuardError: extractors must let it through, never turn it into a finding."""


class AuditError(GuardError):
    """The audit trail cannot be written or read."""


class AuditIntegrityError(AuditError):
    """The audit chain is broken."""
