"""A faithful stand-in for the MyCreditApp API, used by the demo, the tests and the benchmarks.

It knows nothing of hostadmin: it only follows the contract in ``shared/upstream-api.md``.
"""

from sandbox.app import FaultPlan, FaultRule, SandboxApp
from sandbox.data import ORGS, ORGS_BY_SLUG, Dataset, Org
from sandbox.transport import SandboxTransport

__all__ = [
    "ORGS",
    "ORGS_BY_SLUG",
    "Dataset",
    "FaultPlan",
    "FaultRule",
    "Org",
    "SandboxApp",
    "SandboxTransport",
]
