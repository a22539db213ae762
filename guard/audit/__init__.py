"""Tamper-evident audit trail: hash-chained JSON Lines, one file per UTC day."""
from guard.audit.chain import verify
from guard.audit.writer import AuditWriter

__all__ = ["AuditWriter", "verify"]
