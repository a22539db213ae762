"""The console's accounts file (guard.console.users), each behaviour a security officer relies on:
the password check (right, wrong, unknown name), the file's format and privacy (0600, replaced
whole, UTF-8 whatever the locale), the checks on new accounts and the CLI that reads it back.
Real files in tmp_path, real scrypt; the CLI in process (guard.cli.main.main)."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guard.cli.main import main as guard_main
from guard.console import users as accounts
from guard.errors import GuardError

PASSWORD = "correct-horse-2026"
SETTINGS = settings(derandomize=True, max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
FORBIDDEN = ":/\\ \t\n"  # what a user name may not hold (the CLI prints "name\trole" lines)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A users file with an auditor and an officer, and its contents."""
    path = tmp_path_factory.mktemp("users") / "users.json"
    accounts.add(path, "alice", "auditor", PASSWORD)
    accounts.add(path, "张三", "officer", PASSWORD + "-zs")
    return path, accounts.load(path)


# -- the password check -------------------------------------------------------------------------

def test_the_right_password_gives_the_users_own_role(book):
    _, users = book
    assert accounts.check(users, "alice", PASSWORD) == "auditor"
    assert accounts.check(users, "张三", PASSWORD + "-zs") == "officer"


@SETTINGS
@given(password=st.text(max_size=24))
@example(password=PASSWORD + "-zs")   # another account's password
@example(password=PASSWORD.upper())
@example(password="")
def test_a_wrong_password_is_refused(book, password):
    _, users = book
    if password != PASSWORD:
        assert accounts.check(users, "alice", password) is None


@SETTINGS
@given(name=st.text(min_size=0, max_size=12).filter(lambda n: n not in ("alice", "张三")))
@example(name="Alice")
@example(name="")
def test_an_unknown_name_is_refused_even_with_a_real_password(book, name):
    """No account, no role: not an error either (the console answers 401, not 500)."""
    _, users = book
    assert accounts.check(users, name, PASSWORD) is None
    assert accounts.check({}, name, PASSWORD) is None


def test_an_account_written_by_an_earlier_install_still_logs_in():
    """The file's hash is scrypt (RFC 7914) with the parameters it records and a 32-byte key:
    an entry made from that definition alone (no code of ours) is accepted."""
    salt = bytes(range(16))
    entry = {"role": "officer", "salt": base64.b64encode(salt).decode(), "n": 2 ** 14, "r": 8, "p": 1}
    entry["scrypt"] = base64.b64encode(hashlib.scrypt(PASSWORD.encode(), salt=salt, n=entry["n"], r=entry["r"],
                                                      p=entry["p"], dklen=32)).decode()
    assert accounts.check({"old": entry}, "old", PASSWORD) == "officer"
    assert accounts.check({"old": entry}, "old", PASSWORD + "x") is None


def test_the_users_file_records_how_each_hash_was_made(tmp_path):
    """Each entry names its role, random salt and scrypt cost (n, r, p): enough to verify the
    hash without our code, and two accounts with one password share neither salt nor hash."""
    path = tmp_path / "users.json"
    accounts.add(path, "a1", "auditor", PASSWORD)
    accounts.add(path, "a2", "officer", PASSWORD)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"a1", "a2"}
    for name, role in (("a1", "auditor"), ("a2", "officer")):
        e = data[name]
        assert set(e) == {"role", "salt", "scrypt", "n", "r", "p"} and e["role"] == role
        salt = base64.b64decode(e["salt"])
        assert len(salt) >= 16
        assert e["n"] >= 2 ** 14 and e["r"] >= 8 and e["p"] >= 1  # memory-hard: 16 MiB and more
        assert base64.b64decode(e["scrypt"]) == hashlib.scrypt(PASSWORD.encode(), salt=salt, n=e["n"], r=e["r"],
                                                               p=e["p"], dklen=32)
    assert data["a1"]["salt"] != data["a2"]["salt"] and data["a1"]["scrypt"] != data["a2"]["scrypt"]


# -- the file: private, replaced whole, UTF-8 ---------------------------------------------------

def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000])
def test_the_users_file_is_readable_by_its_owner_only(tmp_path, umask):
    """Hashes are for the console's account alone, whatever the umask of whoever adds a user."""
    path = tmp_path / "users.json"
    old = os.umask(umask)
    try:
        accounts.add(path, "alice", "auditor", PASSWORD)
        assert _mode(path) == 0o600
        path.chmod(0o644)  # made by hand, or by an older version: the next save makes it private
        accounts.add(path, "bob", "officer", PASSWORD)
        assert _mode(path) == 0o600
        assert accounts.remove(path, "bob")
        assert _mode(path) == 0o600
    finally:
        os.umask(old)


def test_a_leftover_temporary_file_lends_the_users_file_neither_its_mode_nor_its_target(tmp_path):
    path = tmp_path / "users.json"
    accounts.add(path, "alice", "auditor", PASSWORD)
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert leftovers == []  # nothing else is left in the directory after a save
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("junk")
    tmp.chmod(0o666)
    accounts.add(path, "bob", "officer", PASSWORD)
    assert _mode(path) == 0o600 and set(accounts.load(path)) == {"alice", "bob"}
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not yours")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(outside)  # planted where the temporary file goes
    accounts.add(path, "carol", "officer", PASSWORD)
    assert outside.read_text() == "not yours"
    assert not path.is_symlink() and _mode(path) == 0o600 and set(accounts.load(path)) == {"alice", "bob", "carol"}


def test_names_in_the_users_file_read_as_written(book):
    """An administrator who opens the file sees 张三, not \\u5f20\\u4e09."""
    path, _ = book
    assert '"张三"' in path.read_bytes().decode("utf-8")


def test_a_users_file_named_like_a_temporary_file_is_still_replaced_whole(tmp_path):
    path = tmp_path / "users.tmp"
    accounts.add(path, "alice", "auditor", PASSWORD)
    with open(path, encoding="utf-8") as before:  # a console reading it while a user is added
        accounts.add(path, "bob", "officer", PASSWORD)
        assert set(json.load(before)) == {"alice"}
    assert set(accounts.load(path)) == {"alice", "bob"}


def test_a_save_replaces_the_file_and_never_rewrites_it_in_place(tmp_path):
    """A reader holding the old file reads it whole: the new one is a new file moved in place."""
    path = tmp_path / "users.json"
    accounts.add(path, "alice", "auditor", PASSWORD)
    with open(path, encoding="utf-8") as before:
        accounts.add(path, "bob", "officer", PASSWORD)
        assert set(json.load(before)) == {"alice"}
    assert set(accounts.load(path)) == {"alice", "bob"}



def test_the_users_file_is_utf8_whatever_the_locale(tmp_path, ascii_locale):
    """Chinese names are written and read as UTF-8 under any locale, and stay readable as
    themselves for the administrator who opens the file."""
    path = tmp_path / "users.json"
    accounts.add(path, "王五", "auditor", PASSWORD)
    accounts.add(path, "alice", "officer", PASSWORD)
    assert set(accounts.load(path)) == {"王五", "alice"}
    assert "王五" in path.read_bytes().decode("utf-8")
    assert accounts.check(accounts.load(path), "王五", PASSWORD) == "auditor"


# -- reading a file that is not a users file: one line naming it ---------------------------------

@pytest.mark.parametrize("content,says", [("{not json", "cannot read the users file"),
                                          (b"\xff\xfe{}", "cannot read the users file"),
                                          ('["alice"]', "not a users file"),
                                          ('"alice"', "not a users file")])
def test_a_broken_users_file_is_one_line_naming_it(tmp_path, capsys, content, says):
    path = tmp_path / "users.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(GuardError) as e:
        accounts.load(path)
    assert str(e.value).startswith(f"{path}: {says}")
    assert guard_main(["console", "list-users", "--users", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"guard: error: {path}: {says}") and err.count("\n") == 1


def test_no_users_file_is_no_accounts(tmp_path):
    assert accounts.load(tmp_path / "none.json") == {}


# -- new accounts -------------------------------------------------------------------------------

@given(role=st.text(max_size=10).filter(lambda r: r not in accounts.ROLES))
@example(role="Auditor")
@example(role="admin")
@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_only_the_two_roles_are_accepted(tmp_path, role):
    path = tmp_path / "users.json"
    with pytest.raises(GuardError) as e:
        accounts.add(path, "alice", role, PASSWORD)
    assert str(e.value) == f"--role: {role!r} is not one of auditor, officer"
    assert not path.exists()


NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=FORBIDDEN), min_size=1, max_size=12)


@SETTINGS
@given(name=NAMES)
@example(name="X光室-Xu")
@example(name="zhang.san_01")
def test_any_name_without_separators_is_a_user_name(tmp_path, name):
    path = tmp_path / f"users-{abs(hash(name))}.json"
    accounts.add(path, name, "officer", PASSWORD)
    assert accounts.check(accounts.load(path), name, PASSWORD) == "officer"


@given(name=st.one_of(st.just(""), st.builds(lambda a, c, b: a + c + b, NAMES | st.just(""),
                                                 st.sampled_from(FORBIDDEN), NAMES | st.just(""))))
@settings(derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_name_with_a_separator_or_no_name_is_refused(tmp_path, name):
    path = tmp_path / "users.json"
    with pytest.raises(GuardError) as e:
        accounts.add(path, name, "auditor", PASSWORD)
    assert str(e.value) == f"{name!r} is not a user name"
    assert not path.exists()


@pytest.mark.parametrize("length", [0, 1, 9, 10, 11, 30])
def test_passwords_need_ten_characters(tmp_path, capsys, monkeypatch, length):
    """Through the CLI an operator uses (password on stdin): short ones are one clear line."""
    path = tmp_path / "users.json"
    password = "密码abcdefghijklmnopqrstuvwxyz0123"[:length]
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = guard_main(["console", "add-user", "--users", str(path), "dana", "--role", "auditor"])
    out = capsys.readouterr()
    if length < 10:
        assert code == 2 and out.err == "guard: error: the password needs 10 characters or more\n"
        assert not path.exists()
    else:
        assert code == 0 and out.out == "dana: auditor\n"
        assert accounts.check(accounts.load(path), "dana", password) == "auditor"


# -- removing accounts and listing them (the CLI) -----------------------------------------------

def test_a_removed_account_no_longer_logs_in_and_the_others_still_do(tmp_path, capsys):
    path = tmp_path / "users.json"
    accounts.add(path, "alice", "auditor", PASSWORD)
    accounts.add(path, "bob", "officer", PASSWORD)
    assert guard_main(["console", "list-users", "--users", str(path)]) == 0
    assert capsys.readouterr().out == "alice\tauditor\nbob\tofficer\n"
    assert guard_main(["console", "remove-user", "--users", str(path), "bob"]) == 0
    assert capsys.readouterr().out == "removed bob\n"
    users = accounts.load(path)
    assert accounts.check(users, "bob", PASSWORD) is None
    assert accounts.check(users, "alice", PASSWORD) == "auditor"
    assert _mode(path) == 0o600
    assert guard_main(["console", "list-users", "--users", str(path)]) == 0
    assert capsys.readouterr().out == "alice\tauditor\n"


def test_removing_an_unknown_account_changes_nothing(tmp_path, capsys):
    path = tmp_path / "users.json"
    accounts.add(path, "alice", "auditor", PASSWORD)
    before = path.read_bytes()
    inode = path.stat().st_ino
    assert accounts.remove(path, "bob") is False
    assert guard_main(["console", "remove-user", "--users", str(path), "bob"]) == 2
    assert capsys.readouterr().err == f"guard: error: no user bob in {path}\n"
    assert path.read_bytes() == before and path.stat().st_ino == inode
    assert accounts.remove(path, "alice") is True
    assert accounts.load(path) == {}
