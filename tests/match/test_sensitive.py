import pytest


def _ids(n):
    from guard.match.validators import _ID_CHECK, _ID_WEIGHTS

    out = []
    for i in range(n):
        body = f"32010219900{(i % 9) + 1:01d}0{(i % 9) + 1:01d}00{i % 10}"
        body = body[:17]
        total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS))
        out.append(body + _ID_CHECK[total % 11])
    return out


@pytest.mark.parametrize("text, action, rule", [
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "block", "credential.private-key"),
    ("export AWS_ACCESS_KEY_ID=AKIAZ3MQ7RX2PLKW4D8N", "block", "credential.aws-access-key"),
    ("阿里云 AccessKeySecret: 3kD9sQ2mX7vB1nL5pR8tY4wZ6", "block", "credential.secret-assignment"),
    ("jdbc连接 postgresql://app:S3cretPass9@10.0.0.8:5432/prod", "block", "credential.connection-string"),
    ("my token is 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", "block", "credential.token.github"),
    ("请联系张三，身份证110105198803121236", "warn", "pii.cn-id"),
    ("卡号 4111 1111 1111 1111 错误，正确是4111111111111111", "warn", "pii.bank-card"),
    ("工资卡 6222 0210 0112 3456 789", "warn", "pii.bank-card"),
    ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "block",
     "credential.jwt"),
    ("AccountName=x;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4MTIzNA==;", "block", "credential.secret-assignment"),
])
def test_sensitive(engine, text, action, rule):
    v = engine.scan_text(text)
    assert v.action == action, v.findings
    assert rule in v.rules


def test_ids_in_bulk_block(engine):
    ids = _ids(6)
    v = engine.scan_text("\n".join(f"员工{i},{x}" for i, x in enumerate(ids)))
    assert v.action == "block" and "pii.cn-id" in v.rules
    f = next(f for f in v.findings if f.rule == "pii.cn-id")
    assert f.count == 6 and ids[0] not in f.excerpt and "*" in f.excerpt


def test_same_id_repeated_counts_once(engine):
    v = engine.scan_text("身份证110105198803121236\n" * 8)
    assert v.action == "warn"


def test_phones_only_in_bulk(engine):
    assert engine.scan_text("电话 13912340000").action == "allow"
    many = "\n".join(f"1391234{i:04d}" for i in range(12))
    assert engine.scan_text(many).action == "warn"
    # ...each ending a sentence is still a phone number
    assert engine.scan_text("。".join(f"电话1391234{i:04d}." for i in range(12))).action == "warn"


def test_decimal_fractions_are_not_phones_or_cards(engine):
    """A sheet of measurements: the 11+ digits after a decimal point are not phone numbers."""
    import random
    rnd = random.Random(3)
    values = [f"{rnd.randint(1, 999999)}.1{rnd.choice('3456789')}{rnd.randint(10**8, 10**9 - 1)}" for _ in range(80)]
    values += [f"1{rnd.choice('3456789')}{rnd.randint(10**8, 10**9 - 1)}.25" for _ in range(80)]
    assert engine.scan_text("\t".join(values)).action == "allow"


@pytest.mark.parametrize("text", [
    "订单号110105198803121230已发货，请查询物流。",
    "写一段Python代码，从环境变量SECRET_KEY读取配置并打印长度。",
    "password = os.environ['DB_PASSWORD']",
    "token = response.json()['token']",
    "序列号 12345678901234567890123",
])
def test_sensitive_negatives(engine, text):
    assert engine.scan_text(text).action == "allow"


def test_coordinates_in_bulk_warn(engine):
    pts = "\n".join(f"{116.1 + i / 1000:.6f},{39.9 + i / 1000:.6f}" for i in range(20))  # bulk: 20 points
    assert "geo.coordinates" in engine.scan_text(pts).rules
