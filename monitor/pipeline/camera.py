"""One camera's pipeline: source -> rolling clip window -> the scheduler, in a thread of its own."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from monitor.inference.contract import InferenceRequest, InputSpec
from monitor.clip import Clip, Frame, SegmentEnd
from monitor.config.models import CameraConfig, MonitorConfig
from monitor.inference.prompts import prompts_for
from monitor.redact import redact_text
from monitor.window import ClipWindow

logger = logging.getLogger(__name__)

SHORT_SIDE = 336  # when the backend does not say: LLaVA-NeXT-Video's processor resizes to 336
RESTART_DELAY_S = 5.0


class CameraWorker:
    def __init__(self, camera: CameraConfig, config: MonitorConfig,
                 submit: Callable[..., bool], on_status: Callable, packet_ring=None,
                 on_clip: Callable[[Clip], None] | None = None,
                 input_spec: InputSpec | None = None):
        self.camera = camera
        self.config = config
        self.submit = submit
        self.on_status = on_status
        self.packet_ring = packet_ring
        self.on_clip = on_clip  # sees every clip cut (the UI's latest frame); must not block
        # The backend says how large its frames should be: decode no larger, it would only shrink them.
        self.short_side = (input_spec.short_side if input_spec else None) or SHORT_SIDE
        self.prompts = prompts_for(camera, config.prompts, verdict=config.alerts.structured_verdict)
        self.decode_mode = camera.decode or config.source.decode
        self.window = ClipWindow(camera.id, config.window.seconds, config.window.stride, config.window.frames,
                                 whole_slice=self.decode_mode == "keyframes")
        self.clips = 0
        self.skipped = 0  # windows not analysed (too few frames)
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera.id}", daemon=True)

    @property
    def waits_for_model(self) -> bool:
        """Files played as fast as the model allows wait for their slot instead of dropping clips."""
        return self.camera.pace == "fast" and not self.camera.url.startswith(("rtsp://", "rtsps://", "http://", "https://"))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from monitor.sources import SourceStatus, open_source

        try:
            while not self._stop.is_set():
                try:
                    source = open_source(self.camera, self.config.source, state_dir=Path(self.config.state_dir),
                                         short_side=self.short_side, wants=self.window.wants,
                                         on_status=self.on_status, packet_ring=self.packet_ring)
                    source.run(self._on_frame, self._stop)
                    return  # the source is finished (a file that does not loop)
                except Exception as exc:  # a bug, not a camera fault: those the source handles itself
                    logger.exception("camera %s: source failed", self.camera.id)
                    self.on_status(SourceStatus(self.camera.id, "error", redact_text(f"{type(exc).__name__}: {exc}"),
                                                time.time()))
                    self._stop.wait(RESTART_DELAY_S)
        finally:
            self.finished.set()

    def _on_frame(self, item: Frame | SegmentEnd) -> None:
        if isinstance(item, SegmentEnd):
            clips = self.window.finish(item.ts)  # the last partial stride of a file, analysed now
        else:
            clips = self.window.push(item)
        for start, end in self.window.missed:
            self._skipped(start, end, "no frame in the window (a gap in the footage)")
        self.window.missed.clear()
        for clip in clips:
            if self._too_few(clip):
                continue
            clip = replace(clip, created=time.time(), decode=self.decode_mode)
            if self.on_clip is not None:
                self.on_clip(clip)
            request = InferenceRequest(clip=clip, prompts=self.prompts)
            if self.submit(request, wait=self.waits_for_model, stop=self._stop):
                self.clips += 1

    def _too_few(self, clip: Clip) -> bool:
        """window.incomplete: a clip missing samples (a gap, a slow camera) is sent with the frames it has,
        or skipped with a status; below window.min_frames it is always skipped."""
        have, want = len(clip.frames), clip.expected or len(clip.frames)
        settings = self.config.window
        if have >= want or (settings.incomplete == "send" and have >= settings.min_frames):
            return False
        self._skipped(clip.window_start, clip.window_end, f"{have} of {want} frames (window.incomplete: "
                      f"{settings.incomplete}, window.min_frames: {settings.min_frames})")
        return True

    def _skipped(self, start: float, end: float, why: str) -> None:
        from monitor.sources import SourceStatus

        self.skipped += 1
        self.on_status(SourceStatus(self.camera.id, "window_skipped", f"window {start:.3f}-{end:.3f} not analysed: "
                                    f"{why}", time.time(), {"windows_skipped": self.skipped}))
