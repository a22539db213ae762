"""Who sent a request, and whom a rule or an exemption applies to (a scope), with the parser of
a policy's `scope:` mapping.

Below both the policy loader (which parses scopes) and the decision (which matches them against
the sender); guard/identity.py resolves a sender from the identity map and re-exports these.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from guard.errors import PolicyError


@dataclass(frozen=True, slots=True)
class Who:
    client: str = ""
    user: str | None = None
    department: str | None = None
    groups: frozenset[str] = frozenset()


NOBODY = Who()


@dataclass(frozen=True)
class Scope:
    """Whom a rule or an exemption applies to: any listed user, group, department or network."""
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    networks: tuple = ()

    def matches(self, who: Who) -> bool:
        if who.user and who.user in self.users:
            return True
        if self.groups & who.groups:
            return True
        if who.department and who.department in self.departments:
            return True
        if self.networks and who.client:
            try:
                ip = ipaddress.ip_address(who.client)
            except ValueError:
                return False
            return any(ip in n for n in self.networks)
        return False

    def describe(self) -> str:
        out = [f"user:{u}" for u in sorted(self.users)] + [f"group:{g}" for g in sorted(self.groups)]
        out += [f"department:{d}" for d in sorted(self.departments)] + [f"network:{n}" for n in self.networks]
        return ",".join(out)


def parse_scope(raw, where: str) -> Scope:
    if not isinstance(raw, dict) or not raw or set(raw) - {"users", "groups", "departments", "networks"}:
        raise PolicyError(f"{where}: expected a mapping of users, groups, departments and/or networks")

    def names(key):
        v = raw.get(key) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, (str, int)) for x in v):
            raise PolicyError(f"{where}.{key}: expected a list of names")
        return frozenset(str(x) for x in v)

    nets = []
    for n in names("networks"):
        try:
            nets.append(ipaddress.ip_network(n, strict=False))
        except ValueError:
            raise PolicyError(f"{where}.networks: {n!r} is not a network (CIDR)") from None
    return Scope(names("users"), names("groups"), names("departments"), tuple(nets))
