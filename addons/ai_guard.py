"""mitmdump -s addons/ai_guard.py --set guard_policy=PATH --set guard_audit_dir=DIR"""
from guard.proxy.addon import GuardAddon

addons = [GuardAddon()]  # one addon; its parts (classify, inspect, act, state...) are listed in guard/proxy/addon.py
