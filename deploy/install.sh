#!/bin/sh
# Prepare a host for deploy/ai-guard.service: service user, directories and keys, each
# readable by the service user only (the auditors' group may read the trail and verify it).
# Run as root from the checkout, after `make install` in /opt/ai-guard.
set -eu
getent group ai-guard-audit >/dev/null || groupadd --system ai-guard-audit
id ai-guard >/dev/null 2>&1 || useradd --system --home-dir /var/lib/ai-guard --shell /usr/sbin/nologin ai-guard
install -d -o ai-guard -g ai-guard -m 0750 /var/lib/ai-guard
install -d -o ai-guard -g ai-guard-audit -m 0750 /var/lib/ai-guard/audit
install -d -o ai-guard -g ai-guard -m 0700 /var/lib/ai-guard/mitmproxy
install -d -o root -g ai-guard -m 0750 /etc/ai-guard
[ -e /etc/ai-guard/policy.yaml ] || install -o root -g ai-guard -m 0640 /opt/ai-guard/policies/default.yaml /etc/ai-guard/policy.yaml
[ -e /etc/ai-guard/identity.yaml ] || printf '# CIDR -> department, IP -> user, groups: see guard/identity.py\ndepartments: {}\n' \
    | install -o root -g ai-guard -m 0640 /dev/stdin /etc/ai-guard/identity.yaml
# The audit chain's HMAC key: created once, readable by the service user (auditors get a copy).
[ -e /etc/ai-guard/audit.key ] || /opt/ai-guard/.venv/bin/guard audit keygen /etc/ai-guard/audit.key --owner ai-guard
# mitmproxy creates its CA (key 0600, owned by the service user) under the confdir on first start.
echo "ready: systemctl enable --now ai-guard; then roll out /var/lib/ai-guard/mitmproxy/mitmproxy-ca-cert.cer"
