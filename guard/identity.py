"""Who sent a request: proxy-auth user, or the client address looked up in an identity map.

The map is a YAML file an operator exports from DHCP/AD (option `guard_identity`):

    departments:            # CIDR -> department; the longest prefix wins
      10.20.0.0/16: 勘探开发研究院
      10.20.8.0/24: 保密办
    users:                  # client IP -> user, for offices without proxy authentication
      10.20.8.15: zhangsan
    users_file: dhcp-leases.csv   # or a CSV export: ip,user[,department] per line
    user_departments:       # proxy-auth or mapped user -> department (beats the network's)
      zhangsan: 保密办
    groups:                 # group -> members (users); policies scope rules and exemptions by group
      secoffice: [zhangsan, lisi]
    groups_file: groups.yaml      # or the same mapping in its own file

Relative paths resolve against the map file.
"""
from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from guard.errors import PolicyError
from guard.scope import NOBODY, Scope, Who, parse_scope  # noqa: F401  (here for those who import them from identity)
from guard.yamlfile import load_mapping

_FIELDS = {"departments", "users", "users_file", "user_departments", "groups", "groups_file"}


@dataclass
class IdentityMap:
    departments: list = field(default_factory=list)      # (network, department), longest prefix first
    users: dict[str, str] = field(default_factory=dict)  # ip -> user
    user_departments: dict[str, str] = field(default_factory=dict)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)  # user -> groups
    files: tuple[str, ...] = ()

    def resolve(self, client: str, auth_user: str | None) -> Who:
        user = auth_user or self.users.get(client)
        dept = self.user_departments.get(user) if user else None
        if dept is None and self.departments and client:
            try:
                ip = ipaddress.ip_address(client)
            except ValueError:
                ip = None
            if ip is not None:
                if ip.version == 6 and ip.ipv4_mapped:
                    ip = ip.ipv4_mapped
                dept = next((d for n, d in self.departments if ip.version == n.version and ip in n), None)
        return Who(client, user, dept, self.groups.get(user, frozenset()) if user else frozenset())


def load_identity(path: str | Path | None) -> IdentityMap:
    if not path:
        return IdentityMap()
    p = Path(path)
    data = _yaml(p)
    if set(data) - _FIELDS:
        raise PolicyError(f"{p}: unknown field(s): {', '.join(sorted(set(data) - _FIELDS))}")
    files = [str(p.resolve())]
    depts = []
    for net, name in (data.get("departments") or {}).items():
        try:
            depts.append((ipaddress.ip_network(str(net), strict=False), str(name)))
        except ValueError:
            raise PolicyError(f"{p}: departments: {net!r} is not a network (CIDR)") from None
    depts.sort(key=lambda nd: -nd[0].prefixlen)
    users = {str(k): str(v) for k, v in (data.get("users") or {}).items()}
    user_depts = {str(k): str(v) for k, v in (data.get("user_departments") or {}).items()}
    if data.get("users_file"):
        f = p.parent / str(data["users_file"])
        files.append(str(f.resolve()))
        try:
            rows = list(csv.reader(f.read_text(encoding="utf-8-sig").splitlines()))
        except (OSError, UnicodeDecodeError) as e:
            raise PolicyError(f"{p}: users_file: cannot read {f}: {e}") from None
        for n, row in enumerate(rows, 1):
            row = [c.strip() for c in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            try:
                ipaddress.ip_address(row[0])
            except ValueError:
                if n == 1:
                    continue  # a header row
                raise PolicyError(f"{f}:{n}: {row[0]!r} is not an IP address") from None
            if len(row) < 2 or not row[1]:
                raise PolicyError(f"{f}:{n}: expected ip,user[,department]")
            users[row[0]] = row[1]
            if len(row) > 2 and row[2]:
                user_depts.setdefault(row[1], row[2])
    groups_raw = dict(data.get("groups") or {})
    if data.get("groups_file"):
        f = p.parent / str(data["groups_file"])
        files.append(str(f.resolve()))
        groups_raw.update(_yaml(f))
    members: dict[str, set[str]] = {}
    for g, users_of in groups_raw.items():
        if isinstance(users_of, str):
            users_of = [u.strip() for u in users_of.split(",") if u.strip()]
        if not isinstance(users_of, list):
            raise PolicyError(f"{p}: groups.{g}: expected a list of users")
        for u in users_of:
            members.setdefault(str(u), set()).add(str(g))
    return IdentityMap(depts, users, user_depts, {u: frozenset(g) for u, g in members.items()}, tuple(files))


def _yaml(p: Path) -> dict:
    return load_mapping(p, "identity map")
