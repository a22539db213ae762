"""mitmdump -s addons/ai_guard.py --set guard_policy=PATH --set guard_audit_dir=DIR"""
from guard.proxy.addon import GuardAddon

addons = [GuardAddon()]  # brings its children: PolicyState (policy, reload) and Telemetry (logs, metrics)
