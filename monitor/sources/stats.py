"""Per-source health counters, turned into rates for the status stream and the metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SourceStats:
    packets: int = 0
    decoded: int = 0
    emitted: int = 0
    corrupt: int = 0
    reconnects: int = 0
    stalls: int = 0
    abandoned: int = 0  # workers left blocked in FFmpeg (each holds a thread until its read times out)
    files_done: int = 0
    files_failed: int = 0
    last_frame_wall: float | None = None
    width: int = 0
    height: int = 0
    codec: str = ""
    _mark: tuple[float, int, int, int] = field(default_factory=lambda: (time.monotonic(), 0, 0, 0))

    def snapshot(self) -> dict:
        """Counters plus rates since the previous snapshot (input, decoded and emitted frames a second)."""
        now = time.monotonic()
        t0, p0, d0, e0 = self._mark
        dt = max(now - t0, 1e-6)
        self._mark = (now, self.packets, self.decoded, self.emitted)
        age = None if self.last_frame_wall is None else round(time.time() - self.last_frame_wall, 3)
        return {
            "input_fps": round((self.packets - p0) / dt, 2),
            "decoded_fps": round((self.decoded - d0) / dt, 2),
            "emitted_fps": round((self.emitted - e0) / dt, 2),
            "packets": self.packets, "decoded": self.decoded, "emitted": self.emitted,
            "corrupt_packets": self.corrupt, "reconnects": self.reconnects, "stalls": self.stalls,
            "abandoned_workers": self.abandoned,
            "files_done": self.files_done, "files_failed": self.files_failed,
            "last_frame_age_s": age, "width": self.width, "height": self.height, "codec": self.codec,
        }
