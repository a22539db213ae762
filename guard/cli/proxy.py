"""`guard proxy`: the guard in a lean mitmproxy master, with mitmdump's command line."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("proxy", help="run the guard as an HTTP(S) proxy (mitmdump + addon)",
                       description="Run mitmdump with the AI guard. Arguments after `--` go to mitmdump "
                                   "(e.g. --map-remote, --mode, --proxyauth).")
    p.add_argument("--policy", help="policy YAML (default: policies/default.yaml)")
    p.add_argument("--audit-dir", default="var/audit", help="audit directory (default: var/audit)")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=8080)
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at /metrics (option guard_metrics)")
    p.add_argument("mitm_args", nargs="*", metavar="-- MITM_ARGS", help="extra mitmdump arguments")
    p.set_defaults(func=run)


def build_args(args) -> list[str]:
    out = ["-q", "--listen-host", args.listen_host, "--listen-port", str(args.listen_port),
           "--set", f"guard_audit_dir={args.audit_dir}"]
    # connection_strategy=lazy: the AI service is contacted only for a request that was allowed
    # (a blocked one never opens a connection upstream; offline, blocks still answer 403), unless
    # the operator sets it after `--` (mitmproxy takes one value per option).
    if not any(a.startswith("connection_strategy=") for a in args.mitm_args):
        out += ["--set", "connection_strategy=lazy"]
    if args.policy:
        out += ["--set", f"guard_policy={args.policy}"]
    return out + list(args.mitm_args)


def run(args) -> int:
    from guard.policy import load_policy


    policy = load_policy(args.policy)  # a bad policy is one line here, before mitmproxy starts
    if args.metrics:
        args.mitm_args = ["--set", f"guard_metrics={args.metrics}", *args.mitm_args]
    from mitmproxy.tools import cmdline
    from mitmproxy.tools.main import run as mitm_run

    from guard.proxy.master import GuardMaster

    del policy  # the proxy logs its start-up line (structured) once it listens
    mitm_run(GuardMaster, cmdline.mitmdump, build_args(args))
    return 0
