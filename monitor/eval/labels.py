"""Labelled videos from a CSV of ours or from the UCF-Crime and XD-Violence annotation files as published.

- CSV with a header: `clip,label` (whole video 0/1) or `clip,start,end` (seconds; one row per anomaly,
  a row with empty start/end for a normal video). `video` may stand for `clip`.
- UCF-Crime (Temporal_Anomaly_Annotation_for_Testing_Videos.txt): `name class s1 e1 s2 e2`, frame numbers,
  -1 where there is no (second) event; class Normal for normal videos. Videos lie in class folders.
- XD-Violence (annotations.txt): `name s1 e1 [s2 e2 ...]`, frame numbers, only for violent videos; the
  normal ones are the videos whose names carry `label_A` and are not in the file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".ts")


class LabelError(ValueError):
    """A labels file that cannot be read, with the file and line."""


@dataclass
class LabeledVideo:
    name: str
    path: Path
    intervals: list[tuple[float, float]] = field(default_factory=list)  # seconds, or frames when in_frames
    whole: int | None = None  # clip-level label (the whole video), when no intervals are given
    in_frames: bool = False

    @property
    def positive(self) -> bool:
        return bool(self.intervals) or bool(self.whole)


def load_labels(labels: Path, clips_dir: Path) -> list[LabeledVideo]:
    text = labels.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise LabelError(f"{labels}: empty")
    index = _video_index(clips_dir)
    first = lines[0].split(",")[0].strip().lower()
    if first in ("clip", "video"):
        return _csv(labels, index)
    tokens = lines[0].split()
    if len(tokens) == 6 and not _is_int(tokens[1]):
        return _ucf(labels, lines, index)
    if len(tokens) >= 3 and all(_is_int(t) for t in tokens[1:]):
        return _xd(labels, lines, index)
    raise LabelError(f"{labels}: not a labels CSV (header clip,label or clip,start,end), UCF-Crime or "
                     "XD-Violence annotation file")


def _video_index(root: Path) -> dict[str, Path]:
    """name, stem -> path for every video under `root` (UCF-Crime keeps them in class folders)."""
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
            index.setdefault(path.name, path)
            index.setdefault(path.stem, path)
    return index


def _find(index: dict[str, Path], name: str, labels: Path, line: int) -> Path:
    path = index.get(name) or index.get(Path(name).name) or index.get(Path(name).stem)
    if path is None:
        raise LabelError(f"{labels}:{line}: video {name!r} not found under the clips folder")
    return path


def _csv(labels: Path, index: dict[str, Path]) -> list[LabeledVideo]:
    videos: dict[str, LabeledVideo] = {}
    with open(labels, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = {c.strip().lower() for c in reader.fieldnames or []}
        key = "clip" if "clip" in cols else "video"
        for n, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            name = row.get(key, "")
            video = videos.get(name) or videos.setdefault(name, LabeledVideo(name, _find(index, name, labels, n)))
            try:
                if "label" in cols:
                    video.whole = int(row["label"])
                    if video.whole not in (0, 1):
                        raise ValueError("label must be 0 or 1")
                elif row.get("start") or row.get("end"):
                    start, end = float(row["start"]), float(row["end"])
                    if end <= start:
                        raise ValueError("end must come after start")
                    video.intervals.append((start, end))
            except (KeyError, ValueError) as exc:
                raise LabelError(f"{labels}:{n}: {exc}") from None
    return list(videos.values())


def _ucf(labels: Path, lines: list[str], index: dict[str, Path]) -> list[LabeledVideo]:
    out = []
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 6:
            raise LabelError(f"{labels}:{n}: expected 6 columns (name class s1 e1 s2 e2)")
        bounds = [int(p) for p in parts[2:]]
        intervals = [(float(s), float(e)) for s, e in zip(bounds[::2], bounds[1::2]) if s >= 0 and e > s]
        out.append(LabeledVideo(parts[0], _find(index, parts[0], labels, n), intervals, in_frames=True,
                                whole=0 if not intervals else None))
    return out


def _xd(labels: Path, lines: list[str], index: dict[str, Path]) -> list[LabeledVideo]:
    out, named = [], set()
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) < 3 or len(parts) % 2 == 0:
            raise LabelError(f"{labels}:{n}: expected a name and pairs of frame numbers")
        bounds = [int(p) for p in parts[1:]]
        out.append(LabeledVideo(parts[0], _find(index, parts[0], labels, n),
                                [(float(s), float(e)) for s, e in zip(bounds[::2], bounds[1::2])], in_frames=True))
        named.add(out[-1].path)
    for path in sorted(set(index.values())):
        if "label_A" in path.stem and path not in named:
            out.append(LabeledVideo(path.stem, path, whole=0))
    return out


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False
