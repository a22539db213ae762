"""AI-usage guard: keeps classified and sensitive content out of internet AI services."""
from guard.scanner import Engine
from guard.errors import GuardError, PolicyError
from guard.types import Finding, Part, Verdict

__version__ = "0.1.0"
__all__ = ["Engine", "Finding", "GuardError", "Part", "PolicyError", "Verdict", "__version__"]
