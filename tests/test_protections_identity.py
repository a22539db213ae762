"""Identity protection (issue 26): an address outside every configured range has no department
(a department decides scoped rules and exemptions: a stray address must not borrow one), and an
address inside gets the longest matching prefix's. Addresses are generated across both families."""
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.identity import load_identity

RANGES = {"10.0.0.0/8": "集团", "10.2.0.0/16": "勘探院", "10.2.3.0/24": "测井所", "192.168.50.0/24": "机关",
          "fd00:1::/32": "总部"}


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    p = tmp_path_factory.mktemp("id") / "id.yaml"
    p.write_text("departments:\n" + "".join(f"  {k}: {v}\n" for k, v in RANGES.items()), encoding="utf-8")
    return load_identity(p)


NETS = [(ipaddress.ip_network(k), v) for k, v in RANGES.items()]


def expected(ip) -> str | None:
    inside = [(n.prefixlen, d) for n, d in NETS if n.version == ip.version and ip in n]
    return max(inside)[1] if inside else None


v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
v6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
near = st.sampled_from([n for n, _ in NETS]).flatmap(           # addresses in and just around the ranges
    lambda n: st.integers(-300, n.num_addresses + 300).map(
        lambda k: ipaddress.ip_address(max(0, min(int(n.network_address) + k,
                                                  (2**32 if n.version == 4 else 2**128) - 1)))
        if n.version == 4 else ipaddress.IPv6Address(max(0, int(n.network_address) + k))))


@settings(derandomize=True, max_examples=300)
@given(st.one_of(v4, v6, near))
def test_department_is_the_longest_prefix_or_none(imap, ip):
    who = imap.resolve(str(ip), None)
    assert who.department == expected(ip)


@pytest.mark.parametrize("client", ["172.16.0.1", "11.0.0.1", "9.255.255.255", "192.168.51.1", "fd00:2::1",
                                    "::ffff:172.16.0.1", "2001:db8::1", "not-an-address", ""])
def test_an_address_outside_every_range_has_no_department(imap, client):
    assert imap.resolve(client, None).department is None
