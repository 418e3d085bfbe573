"""Masks credentials in URLs and free text so that no secret reaches a log line, a status or a printout.

A credential sits in a URL's userinfo (`rtsp://user:pw@cam`) or in its query string
(`http://cam/snap.jpg?user=admin&password=pw`, common on IP cameras), either of them possibly
percent-encoded (a URL carried inside another URL's query). Both are masked wherever they appear.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

MASK = "***"
# Query parameter names whose value is a secret (compared lower-cased and percent-decoded); a name that
# ends in one of them after `_`, `-` or `.` counts too (api_key, access_token, x-auth).
SECRET_PARAMS = ("password", "passwd", "pass", "pwd", "token", "key", "auth", "secret", "apikey", "signature",
                 "sig", "credential", "credentials")
_SECRET_NAME = re.compile(r"(?:^|[_.\-])(?:" + "|".join(SECRET_PARAMS) + r")$")

# scheme://user:password@  (also redis://:pw@), plain or percent-encoded (rtsp%3A%2F%2Fu%3Apw%40).
_USERINFO = re.compile(
    r"(?P<lead>[a-zA-Z][a-zA-Z0-9+.-]*(?:://|%3[aA]%2[fF]%2[fF]))"
    r"(?P<user>(?:(?!%3[aA])[^:/@\s?#])*)(?P<colon>:|%3[aA])"
    r"(?P<pw>(?:(?!%2[fF])[^\s/?#])+?)(?P<at>@|%40)(?=[^\s@]*(?:[\s/?#]|$))")
# ?name=value or &name=value (or ;), plain or percent-encoded separators.
_PARAM = re.compile(r"(?P<lead>[?&;]|%3[fF]|%26|%3[bB])(?P<name>(?:(?!%3[dD]|%26)[A-Za-z0-9_.\-%]){1,64})(?P<eq>=|%3[dD])"
                    r"(?P<value>(?:(?!%26|%3[bB]|%23)[^&;#\s\"'<>])*)")


def mask_url(url: str) -> str:
    """Return `url` with every credential (password in userinfo, secret query parameters) replaced by ***;
    user names and hosts are kept for debugging."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """Mask every URL credential in free text (exception messages, FFmpeg errors, status details)."""
    if "@" in text or "%40" in text:
        text = _mask_userinfo(text)
    if "=" in text or "%3" in text.lower():
        text = _PARAM.sub(_mask_param, text)
    return text


def _mask_userinfo(text: str) -> str:
    # The password runs to the last @ of the authority (`rtsp://u:p@ss@cam` has the password `p@ss`).
    out, pos = [], 0
    for match in _USERINFO.finditer(text):
        out.append(text[pos:match.start("pw")])
        out.append(MASK)
        pos = match.end("pw")
    out.append(text[pos:])
    return "".join(out)


def _mask_param(match: re.Match) -> str:
    name = unquote(unquote(match["name"])).lower()
    if not match["value"] or not _SECRET_NAME.search(name):
        return match.group(0)
    return f"{match['lead']}{match['name']}{match['eq']}{MASK}"


class RedactingFilter(logging.Filter):
    """Logging filter that masks credentials in every record, whatever module logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
