"""Makes the bundled demo footage: a fixed street camera and a dashcam road view, as small H.264 MP4s.

    python -m monitor.assets.make_footage [OUT_DIR]

Deterministic (seeded) cartoon scenes drawn with OpenCV, 640x360, 15 fps, 20 s, a keyframe every 2 s.
Flat colours and no sensor noise keep each file well under 1 MB; the model sees shapes that move like
cars and people, which is all the demo needs (the tiny model's words are noise anyway).
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS, SECONDS, GOP = 640, 360, 15, 20, 30
HERE = Path(__file__).resolve().parent


def write_mp4(path: Path, frames) -> Path:
    """Encode BGR frames as H.264 (yuv420p, CRF 30, fixed 2 s GOP, faststart for quick opening)."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS, 1))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "slow", "crf": "30", "tune": "animation",
                          "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0"}
        for i, bgr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# --- street: a fixed camera over a two-lane street with a sidewalk ----------------------------------------
def street_background() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (205, 185, 150)  # sky (BGR)
    rng = np.random.default_rng(7)
    x = 0
    while x < W:  # a row of buildings with lit windows
        bw, bh = int(rng.integers(70, 130)), int(rng.integers(90, 170))
        colour = tuple(int(c) for c in rng.integers(70, 150, 3))
        cv2.rectangle(img, (x, 200 - bh), (x + bw, 200), colour, -1)
        for wx in range(x + 10, x + bw - 14, 22):
            for wy in range(210 - bh, 190, 26):
                cv2.rectangle(img, (wx, wy), (wx + 10, wy + 14), (120, 200, 230), -1)
        x += bw + 4
    cv2.rectangle(img, (0, 200), (W, 240), (170, 170, 170), -1)  # sidewalk
    cv2.rectangle(img, (0, 240), (W, H), (70, 70, 70), -1)  # road
    for lx in range(0, W, 80):
        cv2.rectangle(img, (lx, 296), (lx + 40, 302), (230, 230, 230), -1)
    for zx in range(260, 380, 20):  # a zebra crossing
        cv2.rectangle(img, (zx, 244), (zx + 10, H), (235, 235, 235), -1)
    return img


def draw_car(img, x: float, y: int, colour, facing: int, length: int = 110) -> None:
    x = int(x)
    cv2.rectangle(img, (x, y - 30), (x + length, y), colour, -1)
    roof = (x + 25, y - 52, x + length - 30, y - 30) if facing > 0 else (x + 30, y - 52, x + length - 25, y - 30)
    cv2.rectangle(img, roof[:2], roof[2:], colour, -1)
    cv2.rectangle(img, (roof[0] + 6, roof[1] + 5), (roof[2] - 6, roof[3]), (200, 170, 120), -1)
    for wx in (x + 22, x + length - 22):
        cv2.circle(img, (wx, y), 12, (20, 20, 20), -1)


def draw_person(img, x: float, y: int, t: float, colour) -> None:
    x = int(x)
    swing = int(8 * np.sin(t * 9))
    cv2.line(img, (x, y - 18), (x - swing, y), (40, 40, 40), 4)
    cv2.line(img, (x, y - 18), (x + swing, y), (40, 40, 40), 4)
    cv2.rectangle(img, (x - 7, y - 44), (x + 7, y - 18), colour, -1)
    cv2.circle(img, (x, y - 52), 8, (150, 180, 220), -1)


def street_frames():
    base = street_background()
    cars = [(40.0, 282, (40, 40, 200), 1, -150), (-70.0, 282, (200, 120, 30), 1, 300),
            (-55.0, 345, (40, 160, 40), -1, 700), (-90.0, 345, (230, 230, 230), -1, 200)]
    people = [(1.1, 225, (160, 60, 60), 30), (-0.8, 232, (60, 60, 160), 600), (0.6, 228, (60, 150, 150), 200)]
    for i in range(FPS * SECONDS):
        t = i / FPS
        img = base.copy()
        for speed, y, colour, offset in people:
            draw_person(img, (offset + speed * 30 * t) % (W + 40) - 20, y, t, colour)
        if 8 <= t <= 14:  # someone crosses at the zebra crossing
            draw_person(img, 320, int(250 + (t - 8) * 17), t, (30, 120, 220))
        for speed, y, colour, facing, offset in cars:
            if facing > 0:
                x = (offset + speed * t * 2.2) % (W + 260) - 130
            else:
                x = W - ((offset - speed * t * 2.2) % (W + 260)) + 130 - 110
            draw_car(img, x, y, colour, facing)
        cv2.putText(img, f"CAM 01  12:00:{int(t):02d}", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 255, 255), 1, cv2.LINE_AA)
        yield img


# --- road: a dashcam looking down a road with lane lines, poles and vehicles ahead --------------------------
HORIZON, VANISH_X = 150, W // 2


def road_point(u: float, z: float) -> tuple[int, int]:
    """Screen point of lateral position u (-1..1 across the road) at depth z (1 near .. 0 at the horizon)."""
    half = 40 + 360 * z
    return int(VANISH_X + u * half), int(HORIZON + (H - HORIZON) * z)


def road_frames():
    for i in range(FPS * SECONDS):
        t = i / FPS
        img = np.zeros((H, W, 3), np.uint8)
        img[:HORIZON] = (215, 190, 160)
        img[HORIZON:] = (80, 140, 80)
        road = np.array([road_point(-1.2, 0), road_point(1.2, 0), road_point(1.2, 1.05), road_point(-1.2, 1.05)])
        cv2.fillConvexPoly(img, road, (75, 75, 75))
        for k in range(12):  # dashes that come towards the camera
            z0 = ((k / 12 + t * 0.45) % 1.0) ** 2
            z1 = min(z0 + 0.035 + 0.05 * z0, 1.05)
            for u in (-0.4, 0.4):
                quad = np.array([road_point(u - 0.02, z0), road_point(u + 0.02, z0),
                                 road_point(u + 0.02, z1), road_point(u - 0.02, z1)])
                cv2.fillConvexPoly(img, quad, (235, 235, 235))
        for u in (-1.15, 1.15):
            cv2.line(img, road_point(u, 0), road_point(u, 1.05), (0, 210, 240), 3)
        for k in range(6):  # poles passing by at the roadside
            z = ((k / 6 + t * 0.3) % 1.0) ** 2
            x, y = road_point(1.45 if k % 2 else -1.45, z)
            cv2.line(img, (x, y), (x, y - int(10 + 140 * z)), (40, 60, 90), max(1, int(1 + 6 * z)))
        vehicles = [(-0.4 * 0 + 0.0, 0.35 + 0.08 * np.sin(t * 0.4), (40, 40, 190)),
                    (0.8, (0.15 + t * 0.06) % 0.9, (190, 120, 40))]
        if 11 <= t <= 17:  # a car changes into our lane ahead
            vehicles.append((0.8 - (t - 11) * 0.13, 0.45, (40, 170, 200)))
        for u, z, colour in sorted(vehicles, key=lambda v: v[1]):
            x, y = road_point(u, z)
            w, h = int(30 + 200 * z), int(22 + 140 * z)
            cv2.rectangle(img, (x - w // 2, y - h), (x + w // 2, y), colour, -1)
            cv2.rectangle(img, (x - w // 3, y - h + h // 6), (x + w // 3, y - h // 2), (60, 50, 40), -1)
            cv2.rectangle(img, (x - w // 2, y - h // 4), (x - w // 3, y - h // 8), (30, 30, 230), -1)
            cv2.rectangle(img, (x + w // 3, y - h // 4), (x + w // 2, y - h // 8), (30, 30, 230), -1)
        cv2.ellipse(img, (W // 2, H + 60), (380, 110), 0, 180, 360, (30, 30, 35), -1)  # the bonnet
        cv2.putText(img, f"DASH 7  {int(t * 3.6 * 14):03d} m  52 km/h", (10, 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55, (255, 255, 255), 1, cv2.LINE_AA)
        yield img


def main(out_dir: str | None = None) -> None:
    out = Path(out_dir) if out_dir else HERE
    out.mkdir(parents=True, exist_ok=True)
    for name, frames in (("street.mp4", street_frames()), ("road.mp4", road_frames())):
        path = write_mp4(out / name, frames)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
