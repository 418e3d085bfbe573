"""The structured verdict: parsed tolerantly from the model's answer into a fixed, validated schema."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass

from monitor.sanitize import safe_text
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.inference.prompts import CATEGORIES

logger = logging.getLogger(__name__)

TITLE_MAX = 120
SUMMARY_MAX = 500
_FIELD_RE = {
    "title": re.compile(r'"title"\s*:\s*"((?:[^"\\]|\\.)*)', re.S),
    "summary": re.compile(r'"summary"\s*:\s*"((?:[^"\\]|\\.)*)', re.S),
    "category": re.compile(r'"category"\s*:\s*"((?:[^"\\]|\\.)*)"', re.S),
    "severity": re.compile(r'"severity"\s*:\s*"?(-?\d+(?:\.\d+)?)'),
    "confidence": re.compile(r'"confidence"\s*:\s*"?(-?\d+(?:\.\d+)?)'),
}
# An answer longer than this is cut before parsing, and JSON nested deeper is not decoded: a hostile or
# runaway answer costs bounded time and cannot exhaust the stack.
MAX_ANSWER_CHARS = 16_384
MAX_DEPTH = 16
MAX_OBJECT_STARTS = 64


class Verdict(BaseModel):
    """The only fields an answer can set; anything else the model writes is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str = Field("", max_length=TITLE_MAX)
    summary: str = Field("", max_length=SUMMARY_MAX)
    category: str = "other"
    severity: int = Field(1, ge=0, le=2)
    confidence: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("title", "summary", mode="before")
    @classmethod
    def _clean_text(cls, value: object, info) -> str:
        limit = TITLE_MAX if info.field_name == "title" else SUMMARY_MAX
        return clean_text(str(value) if value is not None else "", limit)

    @field_validator("category", mode="before")
    @classmethod
    def _known_category(cls, value: object) -> str:
        slug = re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_")
        return slug if slug in CATEGORIES else "other"

    @field_validator("severity", mode="before")
    @classmethod
    def _clamp_severity(cls, value: object) -> int:
        return int(min(2.0, max(0.0, round(_number(value, 1.0)))))

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp_confidence(cls, value: object) -> float:
        number = _number(value, 0.5)
        # Models often answer confidence as a percentage.
        if 1.0 < number <= 100.0:
            number /= 100.0
        return min(1.0, max(0.0, number))


@dataclass(frozen=True)
class ParsedVerdict:
    verdict: Verdict
    parsed: bool  # False: no usable JSON; the fields were made from the plain text (flagged downstream)


def clean_text(text: str, limit: int) -> str:
    """One line of printable text at most `limit` characters long."""
    text = safe_text(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_verdict(text: str, *, default_severity: int = 1, default_confidence: float = 0.5) -> ParsedVerdict:
    """Read the JSON verdict from a model answer; never raises. A broken or missing JSON object falls
    back to fields recovered one by one, then to the plain text."""
    text = str(text or "")[:MAX_ANSWER_CHARS]
    try:
        found = _json_object(text) or _fields_by_regex(text)
        if found:
            verdict = Verdict.model_validate(found)
            if verdict.title or verdict.summary:
                return ParsedVerdict(_fill_title(verdict, text), True)
    except (ValidationError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        logger.debug("verdict did not validate: %s", exc)
    try:
        return ParsedVerdict(fallback(text, default_severity, default_confidence), False)
    except Exception:  # noqa: BLE001 - documented never to raise: the last resort is a fixed verdict
        logger.exception("verdict fallback failed")
        return ParsedVerdict(Verdict(title="Anomaly", severity=1, confidence=0.5), False)


def fallback(text: str, severity: int, confidence: float) -> Verdict:
    prose = strip_verdict(text)
    return Verdict(title=first_sentence(prose) or "Anomaly", summary=prose, category="other",
                   severity=severity, confidence=confidence)


def strip_verdict(text: str) -> str:
    """The prose of an answer: without the JSON part and without the leading Yes/No."""
    brace = text.find("{")
    prose = text[:brace] if brace >= 0 else text
    prose = re.sub(r"^\W*(yes|no)\b\W*", "", prose.strip(), flags=re.I)
    return clean_text(prose, SUMMARY_MAX)


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return clean_text(match.group(1) if match else text, TITLE_MAX)


def _fill_title(verdict: Verdict, text: str) -> Verdict:
    if verdict.title:
        return verdict
    return verdict.model_copy(update={"title": first_sentence(verdict.summary) or "Anomaly"})


def _json_object(text: str) -> dict | None:
    """The first JSON object in the text that decodes to a dict (model answers wrap it in prose or ```)."""
    decoder = json.JSONDecoder(strict=False)  # raw control characters in strings are cleaned later
    start = text.find("{")
    for _ in range(MAX_OBJECT_STARTS):
        if start < 0:
            break
        if _too_deep(text, start):
            start = text.find("{", start + 1)
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        start = text.find("{", start + 1)
    return None


def _too_deep(text: str, start: int) -> bool:
    """True when the JSON value at `start` nests deeper than MAX_DEPTH (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for char in text[start:]:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "}]":
            depth -= 1
            if depth <= 0:
                return False
    return False


def _fields_by_regex(text: str) -> dict | None:
    """Fields of a truncated or malformed object (a cut-off answer still names its title)."""
    found = {}
    for name, pattern in _FIELD_RE.items():
        match = pattern.search(text)
        if match:
            found[name] = _unescape(match.group(1)) if name in ("title", "summary", "category") else match.group(1)
    return found or None


def _unescape(value: str) -> str:
    try:
        return json.loads(f'"{value}"')
    except ValueError:
        return value.replace('\\"', '"')


def _number(value: object, default: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default  # NaN and Infinity are valid JSON to Python
