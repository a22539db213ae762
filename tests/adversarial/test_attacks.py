"""Our own attack generator (issue 22): marked payload x carrier x encoding x container, drawn by
hypothesis, sent through a real `guard proxy` to a loopback receiver that reads requests as the
real services do; nothing marked may reach it. Each attack is first sent straight to the receiver
(it must read the marking there: the attack is real) and its benign control through the guard
(it must arrive: the guard is not simply refusing the shape).

CI runs a fixed sample (derandomized, ATTACKS=24 by default); `make attacks` a larger one.
Figures (generated, held, controls forwarded) go to stdout and to $ATTACKS_REPORT if set."""
from __future__ import annotations

import json
import os
from collections import Counter

import httpx
import pytest
from attacks import Attack, attacks, benign, send
from hypothesis import HealthCheck, given, settings

N = int(os.environ.get("ATTACKS", "24"))
FIGURES: Counter = Counter()
LEAKS: list[str] = []
BLOCKED_CONTROLS: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    line = (f"attacks generated {FIGURES['generated']}, held {FIGURES['held']}, leaked {len(LEAKS)}; "
            f"benign controls forwarded {FIGURES['forwarded']}/{FIGURES['generated']}")
    print("\n" + line)
    for leak in LEAKS:
        print("  LEAK", leak)
    for ctl in BLOCKED_CONTROLS:
        print("  CONTROL BLOCKED", ctl)
    if os.environ.get("ATTACKS_REPORT"):
        with open(os.environ["ATTACKS_REPORT"], "w", encoding="utf-8") as f:
            json.dump({"figures": dict(FIGURES), "leaks": LEAKS, "controls_blocked": BLOCKED_CONTROLS}, f,
                      ensure_ascii=False, indent=1)


def websocket(url: str, **kw):
    def one(message: str) -> int:
        from websockets.sync.client import connect
        with connect(url, open_timeout=15, **kw) as ws:
            ws.send(message)
            answer = json.loads(ws.recv(timeout=15))
        return 200 if answer.get("event") == "appendText" else 403
    return one


@pytest.mark.slow
@settings(derandomize=True, max_examples=N, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(attack=attacks())
def test_nothing_marked_reaches_the_receiver(guard_proxy, receiver, ws_port, attack: Attack):
    import ssl
    direct = lambda host, path: f"http://127.0.0.1:{receiver.port}{path}"  # noqa: E731
    proxied = lambda host, path: f"https://{host}{path}"  # noqa: E731
    ws_direct = websocket(f"ws://127.0.0.1:{ws_port}/c/api/chat")
    tls = ssl.create_default_context(cafile=str(guard_proxy.confdir / "mitmproxy-ca-cert.pem"))
    ws_proxied = websocket("wss://copilot.microsoft.com/c/api/chat?api-version=2", ssl=tls,
                           proxy=f"http://127.0.0.1:{guard_proxy.port}")
    receiver.clear()
    with httpx.Client(timeout=60) as c:
        send(attack, c, direct, ws_direct)
    # The receiver reads this carrier/encoding/container: unguarded, the marking is stored.
    assert receiver.reached(attack.mark), f"receiver does not read {attack.label()}"
    FIGURES["generated"] += 1
    receiver.clear()
    with guard_proxy.client() as c:
        statuses = send(attack, c, proxied, ws_proxied)
    leaked = receiver.reached(attack.mark)
    if leaked:
        LEAKS.append(f"{attack.label()} {statuses}")
    else:
        FIGURES["held"] += 1
    control = benign(attack)
    receiver.clear()
    with guard_proxy.client() as c:
        ok = send(control, c, proxied, ws_proxied)
    if receiver.reached(control.mark) and all(s == 200 for s in ok):
        FIGURES["forwarded"] += 1
    else:
        BLOCKED_CONTROLS.append(f"{control.label()} {ok}")
    assert not leaked, f"{attack.label()} reached the receiver through the guard ({statuses})"
    assert all(s == 200 for s in ok) and receiver.reached(control.mark), \
        f"benign control {control.label()} was not forwarded ({ok})"
