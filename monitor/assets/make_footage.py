"""Makes the bundled demo footage: a fixed street camera and a dashcam road view, as small H.264 MP4s.

    python -m monitor.assets.make_footage [OUT_DIR]

Deterministic (seeded) cartoon scenes drawn with OpenCV (monitor/assets/scenes.py), 640x360, 15 fps,
30 s, a keyframe every 2 s, each with two incidents and normal traffic between them, so a looping
demo opens alerts and ends them. Flat colours and no sensor noise keep each file well under 1 MB.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2

from monitor.assets.scenes import FPS, H, ROAD, STREET, W, Incident, SceneSpec, make_scene

GOP = 30
HERE = Path(__file__).resolve().parent
# The bundled scenes: their seeds and incidents are the ground truth the demo model is checked against.
BUNDLED = {
    "street.mp4": SceneSpec(STREET, seed=1, seconds=30, incidents=(
        Incident("person_fall", 3.0, 9.0, 0.55), Incident("car_stopped", 18.0, 24.0, 0.45))),
    "road.mp4": SceneSpec(ROAD, seed=2, seconds=30, incidents=(
        Incident("wrong_way", 4.0, 10.0, 0.5), Incident("smoke", 18.0, 24.0, 0.6))),
}


def write_mp4(path: Path, frames, preset: str = "slow") -> Path:
    """Encode BGR frames as H.264 (yuv420p, CRF 30, fixed 2 s GOP, faststart for quick opening)."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS, 1))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": preset, "crf": "30", "tune": "animation",
                          "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0"}
        for i, bgr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def scene_frames(spec: SceneSpec):
    scene = make_scene(spec)
    return (scene.frame(i / FPS) for i in range(int(spec.seconds * FPS)))


def main(out_dir: str | None = None) -> None:
    out = Path(out_dir) if out_dir else HERE
    out.mkdir(parents=True, exist_ok=True)
    for name, spec in BUNDLED.items():
        path = write_mp4(out / name, scene_frames(spec))
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
