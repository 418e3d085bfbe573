"""Signed, expiring evidence URLs: an HMAC over the file's path under the evidence folder and the expiry.

The path is checked three times before a byte is served: its shape (one safe folder name, one safe file
name, .mp4, .mkv or .jpg: no '..', no slash games), the signature, and where it resolves (inside the folder).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path
from urllib.parse import quote

from monitor.config.operators import EvidenceUrlsConfig
from monitor.evidence.naming import UnsafePath, ensure_inside

ROUTE = "/evidence/"
_REL = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}\.(mp4|mkv|jpg)$")


class BadEvidenceUrl(ValueError):
    """Unsigned, badly signed, expired, or naming something that is not an evidence file."""


class EvidenceSigner:
    def __init__(self, cfg: EvidenceUrlsConfig, root: str | Path):
        self.cfg = cfg
        self.root = Path(root).absolute()
        self._key = (cfg.signing_key or "").encode()

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    def url(self, path: str | Path | None, now: float | None = None) -> str | None:
        """The signed URL of an evidence file (an absolute path under the root), or None when it is not one."""
        if path is None or not self.enabled:
            return None
        try:
            rel = Path(path).absolute().relative_to(self.root).as_posix()
        except ValueError:
            return None
        if not _REL.match(rel):
            return None
        expires = int((time.time() if now is None else now) + self.cfg.ttl_seconds)
        base = (self.cfg.base_url or "").rstrip("/")
        return f"{base}{ROUTE}{quote(rel)}?exp={expires}&sig={self.signature(rel, expires)}"

    def signature(self, rel: str, expires: int) -> str:
        return hmac.new(self._key, f"{rel}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def resolve(self, rel: str, expires: str, sig: str, now: float | None = None) -> Path:
        """The file a request names, once shape, signature, expiry and location are all right."""
        if not self.enabled:
            raise BadEvidenceUrl("evidence URLs are not configured")
        if not _REL.match(rel):
            raise BadEvidenceUrl("not an evidence file name")
        try:
            when = int(expires)
        except ValueError:
            raise BadEvidenceUrl("bad expiry") from None
        if not hmac.compare_digest(self.signature(rel, when), sig or ""):
            raise BadEvidenceUrl("bad signature")
        if when < (time.time() if now is None else now):
            raise BadEvidenceUrl("expired")
        path = self.root / rel
        try:
            ensure_inside(self.root, path)
        except UnsafePath:
            raise BadEvidenceUrl("outside the evidence folder") from None
        return path

    def refresh(self, evidence: dict) -> dict:
        """A copy of an alert's `evidence` with freshly signed URLs (where its files lie under the root)."""
        fresh = dict(evidence)
        for field, url_field in (("clip", "clip_url"), ("image", "image_url")):
            url = self.url(evidence.get(field))
            if url is not None:
                fresh[url_field] = url
        return fresh
