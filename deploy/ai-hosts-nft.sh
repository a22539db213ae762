#!/bin/sh
# Resolve the catalog's AI hosts and load their addresses into the nftables sets of
# deploy/nftables.conf (table inet ai_guard, sets ai_v4/ai_v6). Run on the gateway, from a
# systemd timer or cron every few minutes: CDN-fronted providers change addresses often.
# Wildcard entries (bedrock-runtime.*.amazonaws.com) cannot be resolved: add the provider's
# published ranges to the sets by hand, or use the strict mode in nftables.conf.
set -eu
GUARD=${GUARD:-/opt/ai-guard/.venv/bin/guard}
CATALOG=${CATALOG:-/etc/ai-guard/catalog.yaml}   # the installed catalog (the checkout's when absent)
[ -r "$CATALOG" ] && set -- --catalog "$CATALOG"
v4=""; v6=""
for host in $("$GUARD" pac --hosts "$@"); do
    for addr in $(getent ahosts "$host" 2>/dev/null | awk '{print $1}' | sort -u); do
        case "$addr" in
            *:*) v6="$v6${v6:+, }$addr" ;;
            *)   v4="$v4${v4:+, }$addr" ;;
        esac
    done
done
{
    echo "flush set inet ai_guard ai_v4"
    echo "flush set inet ai_guard ai_v6"
    [ -n "$v4" ] && echo "add element inet ai_guard ai_v4 { $v4 }"
    [ -n "$v6" ] && echo "add element inet ai_guard ai_v6 { $v6 }"
} | nft -f -
