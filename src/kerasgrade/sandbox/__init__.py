"""The sandbox every piece of student code runs in: bubblewrap, limits, watchdog, policy."""

from kerasgrade.sandbox.bwrap import (
    SANDBOX_UID,
    SandboxUnavailable,
    check_available,
    claim_slot,
    hand_over,
    run,
    spawn,
    unavailable_reason,
)
from kerasgrade.sandbox.limits import MIB, Limits
from kerasgrade.sandbox.policy import sandbox_env, shown_paths
from kerasgrade.sandbox.watchdog import SandboxRun

__all__ = [
    "MIB", "SANDBOX_UID", "Limits", "SandboxRun", "SandboxUnavailable", "check_available",
    "claim_slot", "hand_over", "run", "sandbox_env", "shown_paths", "spawn",
    "unavailable_reason",
]
