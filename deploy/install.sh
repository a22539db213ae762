#!/bin/sh
# Prepare a host for the AI-usage guard's systemd unit, as root, after `make install` in the
# checkout (/opt/ai-guard): the service user (a member of the auditors' group its trail is
# handed to), its directories and HMAC key, the whole policy tree (policy, rules, lists,
# catalog) under /etc/ai-guard, an identity map to fill in, and the unit itself. Then it checks
# that the service user can run the interpreter and that the installed policy checks green.
#
# Re-running it is safe: a policy file you edited is kept (the kit's newer version is written
# beside it as FILE.kit-new); files you did not edit are brought up to date; keys are never
# replaced. Settings (environment):
#   DESTDIR             install root: every path the kit writes, and the paths in the installed
#                       unit, are under it (a test installs into a temporary directory and runs
#                       the unit's ExecStart from there); empty on a real host
#   AI_GUARD_HOME       the checkout with its .venv (default /opt/ai-guard)
#   AI_GUARD_USER       service user (default ai-guard); AI_GUARD_AUDIT_GROUP (default ai-guard-audit)
#   AI_GUARD_LISTEN     HOST:PORT clients connect to (default 0.0.0.0:8080)
#   AI_GUARD_METRICS    HOST:PORT of /metrics (default 127.0.0.1:9464)
set -eu

ROOT=${DESTDIR:-}
ROOT=${ROOT%/}
HOME_DIR=${AI_GUARD_HOME:-/opt/ai-guard}
SVC=${AI_GUARD_USER:-ai-guard}
AUDIT_GROUP=${AI_GUARD_AUDIT_GROUP:-ai-guard-audit}
LISTEN=${AI_GUARD_LISTEN:-0.0.0.0:8080}
METRICS=${AI_GUARD_METRICS:-127.0.0.1:9464}
KIT=$(cd "$(dirname "$0")" && pwd)
ETC=$ROOT/etc/ai-guard
VAR=$ROOT/var/lib/ai-guard
UNIT_DIR=$ROOT/etc/systemd/system
GUARD=$HOME_DIR/.venv/bin/guard
PY=$HOME_DIR/.venv/bin/python

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (it creates the service user and hands files to it)"
[ -x "$PY" ] || die "no $PY: run \`make install\` in $HOME_DIR first (or set AI_GUARD_HOME)"
[ -f "$HOME_DIR/policies/default.yaml" ] || die "no policy tree under $HOME_DIR/policies (set AI_GUARD_HOME to the checkout)"
case "$LISTEN" in *:*) ;; *) die "AI_GUARD_LISTEN=$LISTEN is not HOST:PORT" ;; esac
case "$METRICS" in *:*) ;; *) die "AI_GUARD_METRICS=$METRICS is not HOST:PORT" ;; esac

# -- the service user, a member of the auditors' group (it hands its trail files to that group) --
# (retried: /etc/passwd and /etc/group are locked while another tool edits them)
retry() { n=0; until "$@"; do n=$((n + 1)); [ $n -lt 10 ] || return 1; sleep 1; done; }
getent group "$AUDIT_GROUP" >/dev/null || retry groupadd --system "$AUDIT_GROUP"
if id "$SVC" >/dev/null 2>&1; then
    retry usermod -a -G "$AUDIT_GROUP" "$SVC"
else
    retry useradd --system --user-group --groups "$AUDIT_GROUP" --home-dir "$VAR" --no-create-home \
        --shell /usr/sbin/nologin "$SVC"
fi
SVC_GROUP=$(id -gn "$SVC")

# -- directories: private to the service; the trail readable by the auditors' group --
for d in "$ROOT/etc" "$ROOT/var/lib" "$UNIT_DIR"; do  # the system's own: created if missing, never changed
    [ -d "$d" ] || install -d -m 0755 "$d"
done
install -d -o "$SVC" -g "$SVC_GROUP" -m 0750 "$VAR"
install -d -o "$SVC" -g "$AUDIT_GROUP" -m 0750 "$VAR/audit"
install -d -o "$SVC" -g "$SVC_GROUP" -m 0700 "$VAR/mitmproxy"
install -d -o root -g "$SVC_GROUP" -m 0750 "$ETC"

# -- configuration files, like a package's conffiles --
# MANIFEST remembers the hash of each file as the kit installed it: a file that still has that
# hash was not edited here and may be upgraded; any other is a local edit and stays.
MANIFEST=$ETC/.kit-installed
touch "$MANIFEST"
chmod 0640 "$MANIFEST"
hash_of() { sha256sum "$1" | cut -d' ' -f1; }
recorded() { awk -v f="$1" '$2 == f { h = $1 } END { print h }' "$MANIFEST"; }
record() {
    awk -v f="$2" '$2 != f' "$MANIFEST" > "$MANIFEST.tmp"
    printf '%s %s\n' "$1" "$2" >> "$MANIFEST.tmp"
    chmod 0640 "$MANIFEST.tmp"
    mv "$MANIFEST.tmp" "$MANIFEST"
}
conffile() {  # SOURCE DEST MODE GROUP
    src=$1 dst=$2
    new=$(hash_of "$src")
    [ -d "$(dirname "$dst")" ] || install -d -o root -g "$4" -m 0750 "$(dirname "$dst")"
    if [ ! -e "$dst" ]; then
        install -o root -g "$4" -m "$3" "$src" "$dst"
    else
        cur=$(hash_of "$dst")
        if [ "$cur" = "$new" ]; then
            :
        elif [ "$cur" = "$(recorded "$dst")" ]; then
            install -o root -g "$4" -m "$3" "$src" "$dst"
            say "updated $dst"
        else
            install -o root -g "$4" -m "$3" "$src" "$dst.kit-new"
            say "kept your edit of $dst (the kit's version: $dst.kit-new)"
            return 0
        fi
    fi
    record "$new" "$dst"
}

# The whole policy tree, its relative layout kept (the policy `extends: rules/...`, its lists,
# the catalog): policies/default.yaml becomes /etc/ai-guard/policy.yaml.
(cd "$HOME_DIR/policies" && find . -type f ! -name '*.pyc' | sort) | while read -r rel; do
    rel=${rel#./}
    case "$rel" in default.yaml) dst=$ETC/policy.yaml ;; *) dst=$ETC/$rel ;; esac
    conffile "$HOME_DIR/policies/$rel" "$dst" 0640 "$SVC_GROUP"
done

if [ ! -e "$ETC/identity.yaml" ]; then
    install -o root -g "$SVC_GROUP" -m 0640 /dev/null "$ETC/identity.yaml"
    cat > "$ETC/identity.yaml" <<'EOF'
# Identity map (option guard_identity): who is behind a client address, for the audit and for
# policies scoped by department or group. Format: README "Identity map"; reloaded on change.
# departments:            # CIDR -> department; the longest prefix wins
#   10.20.0.0/16: 勘探开发研究院
#   10.20.8.0/24: 保密办
# users:                  # client IP -> user (offices without proxy authentication)
#   10.20.8.15: zhangsan
# users_file: dhcp-leases.csv        # or a CSV export: ip,user[,department] per line
# user_departments:       # user -> department (beats the network's)
#   zhangsan: 保密办
# groups:                 # group -> users; rules and exemptions are scoped by group
#   secoffice: [zhangsan, lisi]
departments: {}
EOF
fi

# The audit chain's HMAC key: created once, readable by the service user (auditors get a copy).
[ -e "$ETC/audit.key" ] || "$GUARD" audit keygen "$ETC/audit.key" --owner "$SVC"

# -- the unit, its paths and names as installed here --
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed -e "s#/etc/ai-guard#$ETC#g" -e "s#/var/lib/ai-guard#$VAR#g" -e "s#/opt/ai-guard#$HOME_DIR#g" \
    -e "s#^User=ai-guard\$#User=$SVC#" -e "s#^Group=ai-guard\$#Group=$SVC_GROUP#" \
    -e "s#ai-guard-audit#$AUDIT_GROUP#g" \
    -e "s#--listen-host 0.0.0.0 --listen-port 8080#--listen-host ${LISTEN%:*} --listen-port ${LISTEN##*:}#" \
    -e "s#--metrics 127.0.0.1:9464#--metrics $METRICS#" \
    "$KIT/ai-guard.service" > "$unit_tmp"
conffile "$unit_tmp" "$UNIT_DIR/ai-guard.service" 0644 root

# -- can the service user run it? --
problem=""
blocked=""
real=$(readlink -f "$PY")
base=$("$PY" -c 'import sys; print(sys.base_prefix)')
for p in "$real" "$base" "$HOME_DIR"; do
    case "$p" in
        /root|/root/*|/home|/home/*|/run/user/*)
            problem="$p is under a home directory, which the unit hides (ProtectHome=yes)" ;;
    esac
done
if [ -z "$problem" ] && ! runuser -u "$SVC" -- "$PY" -c 'import guard, mitmproxy' >/dev/null 2>&1; then
    d=$real
    while [ "$d" != / ] && [ -n "$d" ]; do
        runuser -u "$SVC" -- test -x "$d" || blocked=$d
        d=$(dirname "$d")
    done
    problem="user $SVC cannot run $PY (-> $real)${blocked:+: $blocked is not open to it}"
fi
if [ -n "$problem" ]; then
    cat >&2 <<EOF
install.sh: PROBLEM: $problem.
  The service would not start. Build the venv from an interpreter every user may run, outside
  /root and /home, e.g. (pyenv): PYENV_ROOT=/opt/pyenv pyenv install 3.12, or Debian/Ubuntu's
  python3.12, or uv: UV_PYTHON_INSTALL_DIR=/opt/python uv python install 3.12; then
  cd $HOME_DIR && rm -rf .venv && make install PY=/opt/pyenv/versions/3.12.X/bin/python3.12
  and run install.sh again. Everything else is installed.
EOF
    exit 3
fi

# -- the installed policy, as the service user reads it --
if ! runuser -u "$SVC" -- "$GUARD" policy check "$ETC/policy.yaml" >/dev/null; then
    die "the installed policy does not check green: runuser -u $SVC -- $GUARD policy check $ETC/policy.yaml"
fi
say "ready: systemctl daemon-reload && systemctl enable --now ai-guard"
say "then roll out the CA $VAR/mitmproxy/mitmproxy-ca-cert.cer (created on first start) and the PAC:"
say "  $GUARD pac --catalog $ETC/catalog.yaml --guard THIS-HOST:${LISTEN##*:} --intranet YOUR.INTRANET > proxy.pac"
