"""Every entry of the shipped catalog, one test each: the service resolves by each of its hosts
(and only inside its path scope on a shared host), is intercepted and sent to the guard by the
PAC, and carries the facts and source notes staff are shown. Adding a service is one YAML entry:
these tests pick it up."""
import re

import pytest

from guard.catalog import CLOUD_DOMAINS, KINDS, load_catalog
from guard.pac import routes

CAT = load_catalog()
SERVICES = list({svc.id: svc for _, _, svc in CAT.services}.values())
ENTRIES = [(host, prefix, svc.id) for host, prefix, svc in CAT.services]
ALLOW = [re.compile(p) for p in CAT.allow_hosts()]


def concrete(host: str) -> str:
    """A real name a glob entry stands for (bedrock-runtime.*.amazonaws.com -> ...us-east-1...)."""
    return host.replace("*", "x1")


def test_the_catalog_is_broad():
    assert len(SERVICES) >= 150
    kinds = {s.kind for s in SERVICES}
    for needed in ("chat", "coding", "office", "translation", "ocr", "search", "agent", "inference", "hub",
                   "image", "audio", "meeting", "character", "app-builder"):
        assert needed in kinds, needed


@pytest.mark.parametrize("host, prefix, service", ENTRIES, ids=[f"{s}:{h}{p}" for h, p, s in ENTRIES])
def test_each_host_resolves_to_its_service(host, prefix, service):
    name = concrete(host)
    path = prefix or "/v1/chat/completions"
    assert CAT.service(name, path).id == service
    assert CAT.service(name.upper() + ".", path.upper()).id == service  # any case, a trailing dot
    # Its subdomains too, unless the catalog names a closer host under another entry.
    sub = "eu." + name
    closer = [h for h, _, _ in CAT.services if "*" not in h and len(h) > len(host) and sub.endswith("." + h)]
    if not closer:
        assert CAT.service(sub, path).id == service
    # TLS is intercepted for the whole host (the path is not known at CONNECT time).
    assert any(rx.search(f"{name}:443") for rx in ALLOW), name


@pytest.mark.parametrize("host, prefix, service", [e for e in ENTRIES if e[1]],
                         ids=[f"{s}:{h}{p}" for h, p, s in ENTRIES if p])
def test_path_scoped_entries_claim_only_their_path(host, prefix, service):
    # Elsewhere on a shared host the request belongs to whoever else the catalog names there, or to
    # nobody: never to this service.
    other = CAT.service(concrete(host), "/some/other/page")
    assert other is None or other.id != service


def test_the_pac_sends_every_catalog_host_to_the_guard():
    r = routes(CAT)
    rx = [re.compile(p) for p in r.patterns]
    for host, prefix, service in ENTRIES:
        name = concrete(host)
        covered = (any(name == s or name.endswith("." + s) for s in r.suffixes) or name in r.exact
                   or any(x.search(name) for x in rx))
        assert covered, (service, host)


@pytest.mark.parametrize("svc", SERVICES, ids=[s.id for s in SERVICES])
def test_each_service_has_facts_and_sources(svc):
    assert svc.kind in KINDS
    assert svc.source.strip(), "where were the hosts confirmed?"
    f = svc.facts
    assert f.operator.strip() and f.source.strip()
    assert f.country == "" or re.fullmatch(r"[A-Z]{2}", f.country)
    # CAC filing is for services offered to the public in China: a foreign operator's is not filed.
    if f.country and f.country != "CN":
        assert f.filed is not True


def test_no_entry_claims_a_cloud_domain():
    for host, prefix, service in ENTRIES:
        if prefix:
            continue
        labels = host.split(".")
        for i in range(len(labels) - 1):
            if ".".join(labels[i:]) in CLOUD_DOMAINS:
                assert any(set(lab) - {"*"} for lab in labels[:i]), (service, host)
