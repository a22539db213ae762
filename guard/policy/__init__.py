"""Policies: raw YAML -> validated, compiled, immutable Policy."""
from guard.policy.loader import load_policy, load_policy_text
from guard.policy.model import Limits, Policy, Rule

__all__ = ["Limits", "Policy", "Rule", "load_policy", "load_policy_text"]
