"""`guard` command line: main(argv) -> exit code. User errors end in one line, never a traceback."""
from __future__ import annotations

import argparse
import sys

from guard import __version__
from guard.errors import GuardError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage otherwise)
        self.exit(2, f"guard: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from guard.cli import approve, audit, console, doctor, eval as eval_, pac, policy, proxy, register, scan

    p = _Parser(prog="guard", description="AI-usage guard: keep classified and sensitive content out of internet AI services.")
    p.add_argument("--version", action="version", version=f"guard {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in (scan, eval_, policy, audit, proxy, pac, approve, register, console, doctor):
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except GuardError as e:
        print(f"guard: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
