"""Policy protection (issue 26): a policy whose own examples fail is refused when it is configured
(mitmproxy's OptionsError at start-up, naming the rule), never discovered by the first user
request. In mitmproxy's test harness, no proxy process."""
from pathlib import Path

import pytest
from mitmproxy.exceptions import OptionsError
from mitmproxy.test import taddons

from guard.proxy.addon import GuardAddon

RULE = ("  - id: custom.project\n    description: 项目代号\n    severity: high\n    action: block\n"
        "    keywords: [金海豚]\n    examples: {{match: [{match}], no_match: [{no_match}]}}\n")


def policy(tmp_path: Path, match: str, no_match: str) -> Path:
    p = tmp_path / "p.yaml"
    # Standalone (no `extends`): checking the default policy's examples takes seconds.
    p.write_text("id: p\nrules:\n" + RULE.format(match=match, no_match=no_match),
                 encoding="utf-8")
    return p


@pytest.mark.slow
def test_a_policy_whose_examples_fail_is_refused_at_configure(tmp_path):
    a = GuardAddon()
    with taddons.context(a) as tctx:  # one addon for both cases: configuring the default policy takes seconds
        for match, no_match in (("银海豚项目周报", "普通周报"),          # a `match` example the rule does not match
                                ("金海豚项目周报", "金海豚不是代号")):    # a `no_match` example it matches
            with pytest.raises(OptionsError, match="custom.project") as e:
                tctx.configure(a, guard_policy=str(policy(tmp_path, match, no_match)),
                               guard_audit_dir=str(tmp_path / "audit"), guard_workers=0)
            assert "\n" not in str(e.value) and (match in str(e.value) or no_match in str(e.value))
        # The control: the same rule with examples that hold is accepted.
        tctx.configure(a, guard_policy=str(policy(tmp_path, "金海豚项目周报", "普通周报")),
                       guard_audit_dir=str(tmp_path / "audit"), guard_workers=0)
        assert a.state.current.policy.find_rule("custom.project") is not None
