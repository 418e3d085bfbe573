"""Near-identical descriptions: a new alert that says what a recent one of its camera said is not opened."""

from __future__ import annotations

import re
from collections import deque
from difflib import SequenceMatcher

_WORDS = re.compile(r"[a-z0-9]+")
_KEEP = 32  # texts remembered per camera; alerts are rare, so this spans far more than dedupe_seconds


def normalise(text: str) -> str:
    """Lower-case words only, without a leading Yes/No, so punctuation and case never make text differ."""
    words = _WORDS.findall(text.lower())
    if words and words[0] in ("yes", "no"):
        words = words[1:]
    return " ".join(words)


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()


class RecentTexts:
    def __init__(self, min_similarity: float, seconds: float):
        self.min_similarity = min_similarity
        self.seconds = seconds
        self._texts: dict[str, deque[tuple[float, str]]] = {}

    def remember(self, camera_id: str, text: str, now: float) -> None:
        self._texts.setdefault(camera_id, deque(maxlen=_KEEP)).append((now, text))

    def repeats(self, camera_id: str, text: str, now: float) -> bool:
        """True when `text` is near-identical to one remembered for the camera within `seconds`."""
        # Empty text (a score-only window) says nothing, so it can repeat nothing.
        if self.seconds <= 0 or not normalise(text):
            return False
        return any(now - ts <= self.seconds and similarity(text, old) >= self.min_similarity
                   for ts, old in self._texts.get(camera_id, ()))
