"""Evidence of alerts: MP4s remuxed from the packet ring with pre-roll, JPEGs, retention."""

from monitor.evidence.naming import UnsafePath, safe_name
from monitor.evidence.store import EvidenceStore

__all__ = ["EvidenceStore", "UnsafePath", "safe_name"]
