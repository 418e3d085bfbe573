"""Model text made safe for titles, summaries and a terminal: no escape sequences, no bidi or line controls.

A model's answer is untrusted text: an ANSI escape can rewrite a console, U+202E reverses what an
operator reads, U+2028 splits a line in tools that honour it."""

from __future__ import annotations

import re

# ESC [ ... final byte (CSI), ESC ] ... BEL/ST (OSC), and two-character escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings, overrides and isolates, and the
# zero-width marks that reorder text (LRM, RLM, ALM).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """`text` without escape sequences and controls; newlines and tabs become spaces, runs of spaces one."""
    return " ".join(_CONTROLS.sub(" ", _ANSI.sub("", text)).split())
