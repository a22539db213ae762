"""The guard's lean mitmproxy master without the guard addon: the ceiling for `guard proxy`."""
import sys

from mitmproxy.tools import cmdline
from mitmproxy.tools.main import run

from guard.proxy.addon import GuardAddon
from guard.proxy.master import GuardMaster


class LeanMaster(GuardMaster):
    def __init__(self, options, loop=None, with_termlog=True):
        super().__init__(options, loop, with_termlog)
        self.addons.remove(self.addons.get(GuardAddon.__name__.lower()))


if __name__ == "__main__":
    run(LeanMaster, cmdline.mitmdump, sys.argv[1:])
