"""Addon tests configure a real GuardAddon, and configuring one compiles the default policy and
runs every rule's examples: over a second of CPU, once per test. The snapshot of the default
configuration (default policy, catalog, no identity map) is built once per test process and each
test gets its own copy of it, as the session `engine` fixture shares one Engine; a test's own
policy, catalog or identity map is built as always, and an edited default file is rebuilt."""
from __future__ import annotations

import dataclasses

import pytest

from guard.proxy import snapshot, state

_DEFAULT = (None, None, None)
_built: dict[tuple, tuple[snapshot.Snapshot, tuple]] = {}


@pytest.fixture(autouse=True)
def shared_default_snapshot(monkeypatch):
    real = state.build

    def build(policy_path, catalog_path, identity_path):
        key = (policy_path, catalog_path, identity_path)
        if key != _DEFAULT:
            return real(*key)
        hit = _built.get(key)
        if hit is None or snapshot.signature(hit[0].files) != hit[1]:
            snap = real(*key)
            hit = _built[key] = (snap, snapshot.signature(snap.files))
        return dataclasses.replace(hit[0], pool=None)  # its own: a test's workers are its own

    monkeypatch.setattr(state, "build", build)


@pytest.fixture
def uploads_clock(monkeypatch):
    """guard.proxy.uploads on a clock the test moves (sessions expire by it, no sleeps)."""
    import types

    from fake_clock import Clock
    from guard.proxy import uploads

    c = Clock()
    monkeypatch.setattr(uploads, "time", types.SimpleNamespace(monotonic=c.monotonic))
    return c
