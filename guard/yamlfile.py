"""Reading an operator's YAML file: a mapping, or one line saying what is wrong."""
from __future__ import annotations

from pathlib import Path

import yaml

from guard.errors import PolicyError


def load_mapping(p: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PolicyError(f"{p}: {what} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise PolicyError(f"{p}: cannot read {what}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{p}: {what}: expected a mapping")
    return data
