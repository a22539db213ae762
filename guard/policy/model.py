"""Compiled, immutable policy objects: they live in guard/rules.py (below the matcher, the
decision and extraction, which all read them); re-exported here for the loader and old imports.
Edit them there."""
from guard.rules import (  # noqa: F401
    MASK_VALUES, PROBLEM_REASONS, WHERE_VALUES, Example, Exemption, FingerprintSpec, Limits, Policy, Rule, Settings,
)
