"""Cameras shared by several workers: membership, leases, assignment and the fence token of each publish."""

from monitor.cluster.assign import assign
from monitor.cluster.coordinator import Coordinator
from monitor.cluster.leases import LeaseStore

__all__ = ["Coordinator", "LeaseStore", "assign"]
