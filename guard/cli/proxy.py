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
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="run N proxy processes on the same port (SO_REUSEPORT; one audit chain each under "
                        "AUDIT_DIR/HOST-N, metrics on consecutive ports)")
    p.add_argument("--reuse-port", action="store_true", help=argparse_hidden())
    p.add_argument("mitm_args", nargs="*", metavar="-- MITM_ARGS", help="extra mitmdump arguments")
    p.set_defaults(func=run)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


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
    from guard.errors import GuardError
    from guard.policy import load_policy

    if args.processes < 1:
        raise GuardError("--processes: 1 or more")
    if args.processes > 1:
        load_policy(args.policy)  # one line for a bad policy, before any process starts
        return _supervise(args)

    policy = load_policy(args.policy)  # a bad policy is one line here, before mitmproxy starts
    if args.metrics:
        args.mitm_args = ["--set", f"guard_metrics={args.metrics}", *args.mitm_args]
    from mitmproxy.tools import cmdline
    from mitmproxy.tools.main import run as mitm_run

    from guard.proxy.master import GuardMaster

    del policy  # the proxy logs its start-up line (structured) once it listens
    if args.reuse_port:
        from guard.proxy.scale import reuse_port

        reuse_port()
    mitm_run(GuardMaster, cmdline.mitmdump, build_args(args))
    return 0


def _supervise(args) -> int:
    import sys

    from guard.proxy import scale

    def argv(i: int) -> list[str]:
        out = [sys.executable, "-m", "guard.cli.main", "proxy", "--reuse-port",
               "--audit-dir", scale.child_audit_dir(args.audit_dir, i),
               "--listen-host", args.listen_host, "--listen-port", str(args.listen_port)]
        if args.policy:
            out += ["--policy", args.policy]
        if args.metrics:
            host, _, port = args.metrics.rpartition(":")
            out += ["--metrics", f"{host}:{int(port) + i - 1}"]
        node = [] if any(a.startswith("guard_node=") for a in args.mitm_args) else ["--set", f"guard_node={scale.node_name(i)}"]
        return out + ["--", *args.mitm_args, *node, *shared]

    # One CA for all: made here, before the processes start (each would otherwise make its own
    # on a fresh confdir, and clients trusting one would refuse the others).
    scale.ensure_ca(args.mitm_args)
    # Acknowledgements work across the processes: a shared key and directory unless given.
    shared = []
    if not any(a.startswith("guard_ack_key=") for a in args.mitm_args):
        key_file, ack_dir = scale.shared_ack_state(args.audit_dir)
        shared = ["--set", f"guard_ack_key={key_file}", "--set", f"guard_ack_dir={ack_dir}"]
    return scale.supervise(argv, args.processes)
