import pytest

from guard.errors import PolicyError
from guard.identity import load_identity


def test_longest_prefix_user_map_and_groups(tmp_path):
    (tmp_path / "leases.csv").write_text("ip,user,department\n10.2.3.4,lisi,\n10.2.3.5,wangwu,财务处\n",
                                         encoding="utf-8")
    (tmp_path / "groups.yaml").write_text("secoffice: [zhangsan]\nrd: lisi, wangwu\n", encoding="utf-8")
    (tmp_path / "id.yaml").write_text(
        "departments:\n  10.0.0.0/8: 集团\n  10.2.3.0/24: 勘探院\n  fd00::/8: 总部\n"
        "users:\n  10.9.9.9: zhangsan\nusers_file: leases.csv\ngroups_file: groups.yaml\n"
        "user_departments:\n  zhangsan: 保密办\n", encoding="utf-8")
    m = load_identity(tmp_path / "id.yaml")
    assert m.resolve("10.2.3.4", None).department == "勘探院"
    assert m.resolve("10.2.3.4", None).user == "lisi"
    assert m.resolve("10.2.3.5", None).department == "财务处"
    assert m.resolve("10.7.0.1", None).department == "集团"
    z = m.resolve("10.9.9.9", None)
    assert z.user == "zhangsan" and z.department == "保密办" and z.groups == {"secoffice"}
    assert m.resolve("::ffff:10.2.3.4", None).department == "勘探院"
    assert m.resolve("fd00::1", None).department == "总部"
    auth = m.resolve("192.168.1.1", "wangwu")  # a proxy-auth user beats the address
    assert auth.user == "wangwu" and auth.groups == {"rd"} and auth.department == "财务处"
    assert len(m.files) == 3


@pytest.mark.parametrize("text, msg", [
    ("departments:\n  10.0.0/33: x\n", "not a network"),
    ("colour: red\n", "unknown field"),
    ("users_file: missing.csv\n", "cannot read"),
    ("- a\n", "mapping"),
])
def test_bad_map_is_one_line(tmp_path, text, msg):
    (tmp_path / "id.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=msg) as e:
        load_identity(tmp_path / "id.yaml")
    assert "\n" not in str(e.value)
