"""Masks credentials in URLs and free text so that no secret reaches a log line or a printout."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# scheme://user:password@host  or  scheme://:password@host  (redis://:pw@host)
_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s/]+)@")


def mask_url(url: str) -> str:
    """Return `url` with its password (if any) replaced by ***; the user name is kept for debugging."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:{MASK}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask every `scheme://user:password@` in free text (exception messages, FFmpeg errors)."""
    return _CRED_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


class RedactingFilter(logging.Filter):
    """Logging filter that masks credentials in every record, whatever module logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True
