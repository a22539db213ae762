"""Identity protection (issue 26): an address outside every configured range has no department
(a department decides scoped rules and exemptions: a stray address must not borrow one), and an
address inside gets the longest matching prefix's. Addresses are generated across both families."""
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.errors import PolicyError
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


# -- the map itself: what `make mutate` found no test for -------------------------------------------
def _map(tmp_path, text: str):
    p = tmp_path / "id.yaml"
    p.write_text(text, encoding="utf-8")
    return load_identity(p)


def test_who_carries_the_client_and_no_groups_for_a_user_in_none(tmp_path):
    m = _map(tmp_path, "users:\n  10.0.0.1: lisi\ngroups:\n  secoffice: [zhangsan]\n")
    who = m.resolve("10.0.0.1", None)
    assert who.client == "10.0.0.1" and who.user == "lisi"
    assert who.groups == frozenset() and isinstance(who.groups, frozenset)


def test_groups_inline_and_as_comma_lists(tmp_path):
    m = _map(tmp_path, "groups:\n  secoffice: [zhangsan]\n  rd: lisi,wangwu\n  ops: 'zhaoliu , sunqi'\n")
    assert m.resolve("1.2.3.4", "zhangsan").groups == {"secoffice"}
    assert m.resolve("1.2.3.4", "lisi").groups == {"rd"} and m.resolve("1.2.3.4", "wangwu").groups == {"rd"}
    assert m.resolve("1.2.3.4", "sunqi").groups == {"ops"}


def test_a_network_written_with_host_bits_is_its_network(tmp_path):
    m = _map(tmp_path, "departments:\n  10.2.3.77/24: 测井所\n")
    assert m.resolve("10.2.3.1", None).department == "测井所" and m.resolve("10.2.4.1", None).department is None


def test_files_are_the_resolved_map_and_its_sources(tmp_path):
    (tmp_path / "leases.csv").write_text("10.0.0.1,lisi\n", encoding="utf-8")
    (tmp_path / "groups.yaml").write_text("rd: [lisi]\n", encoding="utf-8")
    m = _map(tmp_path, "users_file: leases.csv\ngroups_file: groups.yaml\n")
    assert m.files == tuple(str((tmp_path / n).resolve()) for n in ("id.yaml", "leases.csv", "groups.yaml"))


def test_users_file_with_bom_comments_blank_lines_and_departments(tmp_path):
    (tmp_path / "leases.csv").write_text(
        "\ufeff10.0.0.1,lisi\n"          # a BOM (Excel) and no header: the first row is data
        "# exported 2026-12-01\n"        # a comment, then more rows
        "\n"
        ",orphan\n"                      # no address: skipped
        "10.0.0.2,wangwu,钻井部\n"
        "10.0.0.3,zhaoliu,\n", encoding="utf-8")
    m = _map(tmp_path, "users_file: leases.csv\nuser_departments:\n  wangwu: 保密办\n")
    assert m.resolve("10.0.0.1", None).user == "lisi"
    assert m.resolve("10.0.0.2", None).user == "wangwu" and m.resolve("10.0.0.3", None).user == "zhaoliu"
    assert m.resolve("10.0.0.2", None).department == "保密办"   # the map's own entry wins over the file's
    assert m.resolve("10.0.0.3", None).department is None and m.users == {
        "10.0.0.1": "lisi", "10.0.0.2": "wangwu", "10.0.0.3": "zhaoliu"}
    (tmp_path / "leases2.csv").write_text("ip,user,department\n10.0.0.4,sunqi,机关\n", encoding="utf-8")
    m2 = _map(tmp_path, "users_file: leases2.csv\n")
    assert m2.resolve("10.0.0.4", None).department == "机关"


@pytest.mark.parametrize("text, files, message", [
    ("colour: red\nsize: 1\n", {}, "unknown field(s): colour, size"),
    ("- a\n", {}, "identity map: expected a mapping"),
    ("groups:\n  rd: 5\n", {}, "groups.rd: expected a list of users"),
    ("users_file: l.csv\n", {"l.csv": "10.0.0.1,lisi\n10.0.0.2,wangwu\nnot-ip,x\n"}, "l.csv:3: 'not-ip' is not an IP address"),
    ("users_file: l.csv\n", {"l.csv": "10.0.0.1,lisi\n10.0.0.9\n"}, "l.csv:2: expected ip,user[,department]"),
    ("users_file: l.csv\n", {"l.csv": "10.0.0.1,lisi\n10.0.0.9,\n"}, "l.csv:2: expected ip,user[,department]"),
])
def test_bad_maps_name_the_place(tmp_path, text, files, message):
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    p = tmp_path / "id.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        load_identity(p)
    assert message in str(e.value) and "\n" not in str(e.value)
