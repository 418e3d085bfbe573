"""Cartoon scenes with injected incidents and their ground truth: a fixed street camera and a dashcam.

A `Scene` is a seeded, deterministic function of time: `frame(t)` draws it (BGR, 640x360) and
`incidents` says what abnormal thing happens when. Everything random (buildings, colours, traffic,
speeds) comes from the seed, so the demo model's training clips and its held-out evaluation clips
are different scenes of the same world. Incidents happen in the middle of the picture, inside the
square centre crop that LLaVA-style processors keep of a 16:9 frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

W, H, FPS = 640, 360, 15
STREET, ROAD = "street", "road"
# What can go wrong where: the ground truth's vocabulary.
INCIDENT_KINDS = {STREET: ("person_fall", "car_stopped", "smoke"), ROAD: ("wrong_way", "smoke")}
CENTRE = (200, 440)  # x range of incidents: well inside the centre crop (x 140..500 of 640)


@dataclass(frozen=True)
class Incident:
    kind: str
    start: float  # seconds into the scene
    end: float
    where: float  # 0..1 across CENTRE: where in the picture it happens

    def covers(self, t: float) -> bool:
        return self.start <= t <= self.end


@dataclass(frozen=True)
class SceneSpec:
    kind: str  # STREET or ROAD
    seed: int
    seconds: float
    incidents: tuple[Incident, ...] = ()

    def incident_at(self, t: float) -> Incident | None:
        return next((i for i in self.incidents if i.covers(t)), None)


def make_scene(spec: SceneSpec):
    for incident in spec.incidents:
        if incident.kind not in INCIDENT_KINDS[spec.kind]:
            raise ValueError(f"a {spec.kind} scene has no incident {incident.kind!r}")
    return StreetScene(spec) if spec.kind == STREET else RoadScene(spec)


def random_spec(kind: str, seed: int, seconds: float = 20.0, incident_chance: float = 0.75) -> SceneSpec:
    """A scene with at most one incident of a random kind, 3 to 9 s long, at a random time."""
    rng = np.random.default_rng([seed, 1])
    incidents: tuple[Incident, ...] = ()
    if rng.random() < incident_chance:
        length = float(rng.uniform(3.0, 9.0))
        start = float(rng.uniform(0.5, max(0.6, seconds - length - 0.5)))
        incidents = (Incident(str(rng.choice(INCIDENT_KINDS[kind])), start, start + length, float(rng.random())),)
    return SceneSpec(kind, seed, seconds, incidents)


def _colour(rng, low: int = 40, high: int = 230) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, 3))


def _x_of(incident: Incident) -> int:
    return int(CENTRE[0] + incident.where * (CENTRE[1] - CENTRE[0]))


def _ramp(t: float, start: float, seconds: float) -> float:
    """0 before start, rising linearly to 1 over `seconds`."""
    return min(1.0, max(0.0, (t - start) / seconds))


def draw_smoke(img: np.ndarray, x0: int, y0: int, age: float, scale: float = 1.0) -> None:
    """Grey puffs rising and widening from (x0, y0), blended over the picture; thicker as it ages."""
    overlay = img.copy()
    grow = min(1.0, 0.35 + age / 1.5)
    for k in range(14):
        phase = (k / 14 + age * 0.25) % 1.0
        y = int(y0 - phase * 190 * scale * grow)
        x = int(x0 + math.sin(k * 1.7 + age) * 14 * scale + phase * 40 * scale)
        shade = int(45 + 70 * phase)
        cv2.circle(overlay, (x, y), int((14 + 52 * phase) * scale * grow), (shade, shade, shade), -1)
    cv2.addWeighted(overlay, 0.85, img, 0.15, 0, dst=img)


def draw_car(img, x: float, y: int, colour, facing: int, length: int = 110, hazard: bool = False) -> None:
    x = int(x)
    cv2.rectangle(img, (x, y - 30), (x + length, y), colour, -1)
    roof = (x + 25, y - 52, x + length - 30, y - 30) if facing > 0 else (x + 30, y - 52, x + length - 25, y - 30)
    cv2.rectangle(img, roof[:2], roof[2:], colour, -1)
    cv2.rectangle(img, (roof[0] + 6, roof[1] + 5), (roof[2] - 6, roof[3]), (200, 170, 120), -1)
    for wx in (x + 22, x + length - 22):
        cv2.circle(img, (wx, y), 12, (20, 20, 20), -1)
    if hazard:  # both indicators lit, front and back
        for hx in (x - 8, x + length - 12):
            cv2.rectangle(img, (hx, y - 34), (hx + 20, y - 12), (0, 160, 255), -1)


def draw_person(img, x: float, y: int, t: float, colour) -> None:
    x = int(x)
    swing = int(8 * np.sin(t * 9))
    cv2.line(img, (x, y - 18), (x - swing, y), (40, 40, 40), 4)
    cv2.line(img, (x, y - 18), (x + swing, y), (40, 40, 40), 4)
    cv2.rectangle(img, (x - 7, y - 44), (x + 7, y - 18), colour, -1)
    cv2.circle(img, (x, y - 52), 8, (150, 180, 220), -1)


def draw_person_down(img, x: float, y: int, colour) -> None:
    """A person lying on the ground, head to the right."""
    x = int(x)
    cv2.line(img, (x - 20, y - 8), (x - 62, y - 3), (40, 40, 40), 6)
    cv2.line(img, (x - 20, y - 11), (x - 59, y - 17), (40, 40, 40), 6)
    cv2.rectangle(img, (x - 22, y - 20), (x + 17, y), colour, -1)
    cv2.circle(img, (x + 29, y - 10), 11, (150, 180, 220), -1)


# --- street: a fixed camera over a two-lane street with a sidewalk ----------------------------------------
class StreetScene:
    LANE_Y = (282, 345)  # the far lane drives right, the near lane left

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 2])
        self.base = self._background(rng)
        self.people = [(float(rng.uniform(0.6, 1.3)) * rng.choice([-1, 1]), int(rng.integers(222, 238)),
                        _colour(rng), float(rng.uniform(0, W))) for _ in range(int(rng.integers(1, 4)))]
        self.cars = [(float(rng.uniform(0.8, 1.3)), int(rng.integers(0, 2)), _colour(rng), float(rng.uniform(0, 900)))
                     for _ in range(int(rng.integers(2, 5)))]
        self.crossing = float(rng.uniform(0, spec.seconds)) if rng.random() < 0.5 else None
        self.victim, self.stopped_colour = _colour(rng), _colour(rng)

    @staticmethod
    def _background(rng) -> np.ndarray:
        img = np.zeros((H, W, 3), np.uint8)
        img[:] = _colour(rng, 150, 230)  # sky
        x = int(rng.integers(-60, 0))
        while x < W:  # a row of buildings with lit windows
            bw, bh = int(rng.integers(70, 130)), int(rng.integers(90, 170))
            cv2.rectangle(img, (x, 200 - bh), (x + bw, 200), _colour(rng, 70, 150), -1)
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

    def frame(self, t: float) -> np.ndarray:
        img = self.base.copy()
        incident = self.spec.incident_at(t)
        for speed, y, colour, offset in self.people:
            draw_person(img, (offset + speed * 30 * t) % (W + 40) - 20, y, t, colour)
        if self.crossing is not None and 0 <= t - self.crossing <= 6:  # someone crosses at the zebra crossing
            draw_person(img, 320, int(250 + (t - self.crossing) * 17), t, (30, 120, 220))
        for inc in self.spec.incidents:
            if inc.kind == "person_fall":
                self._person_fall(img, inc, t)
        stopped = [i for i in self.spec.incidents if i.kind == "car_stopped" and i.start - 3 <= t <= i.end + 3]
        for speed, lane, colour, offset in self.cars:
            if lane == 0 and stopped:
                continue  # the lane is blocked by the stopped car
            travel = (offset + speed * t * 170) % (W + 260)
            x = travel - 130 if lane == 0 else W - travel + 20
            draw_car(img, x, self.LANE_Y[lane], colour, 1 if lane == 0 else -1)
        for inc in stopped:
            self._car_stopped(img, inc, t)
        if incident is not None and incident.kind == "smoke":
            draw_smoke(img, _x_of(incident), 200, t - incident.start)
        cv2.putText(img, f"CAM 01  12:00:{int(t) % 60:02d}", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return img

    def _person_fall(self, img, inc: Incident, t: float) -> None:
        """Walks in from the left, falls at `start`, lies until `end`, gets up and walks on."""
        x, y = _x_of(inc), 236
        if t < inc.start - 4 or t > inc.end + 4:
            return
        if t < inc.start:
            draw_person(img, x - 35 * (inc.start - t), y, t, self.victim)
        elif t <= inc.end:
            draw_person_down(img, x, y, self.victim)
        else:
            draw_person(img, x + 35 * (t - inc.end), y, t, self.victim)

    def _car_stopped(self, img, inc: Incident, t: float) -> None:
        """Drives in, stops in the far lane at `start` with its hazard lights blinking, leaves at `end`."""
        x = _x_of(inc) - 55
        if t < inc.start:
            x -= 0.5 * 60 * (inc.start - t) ** 2 if t > inc.start - 2 else 120 + 240 * (inc.start - 2 - t)
        elif t > inc.end:
            x += 0.5 * 60 * (t - inc.end) ** 2
        blink = inc.start <= t <= inc.end and int(t * 2.5) % 2 == 0
        draw_car(img, x, self.LANE_Y[0], self.stopped_colour, 1, hazard=blink)


# --- road: a dashcam looking down a road with lane lines, poles and vehicles ahead --------------------------
HORIZON, VANISH_X = 150, W // 2


def road_point(u: float, z: float) -> tuple[int, int]:
    """Screen point of lateral position u (-1..1 across the road) at depth z (1 near .. 0 at the horizon)."""
    half = 40 + 360 * z
    return int(VANISH_X + u * half), int(HORIZON + (H - HORIZON) * z)


def draw_vehicle(img, u: float, z: float, colour, facing_us: bool) -> None:
    """A vehicle seen from behind (red tail lights) or, coming towards us, from the front (headlights)."""
    x, y = road_point(u, z)
    w, h = int(30 + 200 * z), int(22 + 140 * z)
    cv2.rectangle(img, (x - w // 2, y - h), (x + w // 2, y), colour, -1)
    cv2.rectangle(img, (x - w // 3, y - h + h // 6), (x + w // 3, y - h // 2), (60, 50, 40), -1)
    lamp = (200, 255, 255) if facing_us else (30, 30, 230)
    cv2.rectangle(img, (x - w // 2, y - h // 4), (x - w // 3, y - h // 8), lamp, -1)
    cv2.rectangle(img, (x + w // 3, y - h // 4), (x + w // 2, y - h // 8), lamp, -1)
    if facing_us:
        cv2.rectangle(img, (x - w // 6, y - h // 4), (x + w // 6, y - h // 10), (40, 40, 40), -1)  # grille


class RoadScene:
    def __init__(self, spec: SceneSpec):
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 3])
        self.sky, self.grass = _colour(rng, 170, 235), (int(rng.integers(50, 110)), int(rng.integers(110, 170)), 70)
        self.ahead = [(float(rng.choice([0.0, 0.8])), float(rng.uniform(0.15, 0.6)), float(rng.uniform(0.2, 0.6)),
                       _colour(rng)) for _ in range(int(rng.integers(1, 3)))]
        self.oncoming = [(float(rng.uniform(0, 10)), _colour(rng)) for _ in range(int(rng.integers(0, 3)))]
        self.speed = float(rng.uniform(0.35, 0.55))
        self.wrong_way_colour = _colour(rng)

    def _vehicles(self, t: float) -> list[tuple[float, float, tuple, bool]]:
        out = [(u, z0 + 0.08 * math.sin(t * f + z0 * 9), colour, False) for u, z0, f, colour in self.ahead]
        for phase, colour in self.oncoming:  # normal oncoming traffic in the other lane
            z = ((t + phase) / 5.0 % 1.0) ** 1.5
            if z < 0.9:
                out.append((-0.8 - 0.2 * z, z, colour, True))
        for inc in self.spec.incidents:
            if inc.kind == "wrong_way" and inc.covers(t):
                z = 0.08 + 0.72 * (t - inc.start) / max(inc.end - inc.start, 0.1)
                out.append((-0.25 + 0.5 * inc.where, z, self.wrong_way_colour, True))
        return out

    def frame(self, t: float) -> np.ndarray:
        img = np.zeros((H, W, 3), np.uint8)
        img[:HORIZON] = self.sky
        img[HORIZON:] = self.grass
        road = np.array([road_point(-1.2, 0), road_point(1.2, 0), road_point(1.2, 1.05), road_point(-1.2, 1.05)])
        cv2.fillConvexPoly(img, road, (75, 75, 75))
        for k in range(12):  # dashes that come towards the camera
            z0 = ((k / 12 + t * self.speed) % 1.0) ** 2
            z1 = min(z0 + 0.035 + 0.05 * z0, 1.05)
            for u in (-0.4, 0.4):
                quad = np.array([road_point(u - 0.02, z0), road_point(u + 0.02, z0),
                                 road_point(u + 0.02, z1), road_point(u - 0.02, z1)])
                cv2.fillConvexPoly(img, quad, (235, 235, 235))
        for u in (-1.15, 1.15):
            cv2.line(img, road_point(u, 0), road_point(u, 1.05), (0, 210, 240), 3)
        for k in range(6):  # poles passing by at the roadside
            z = ((k / 6 + t * self.speed * 0.66) % 1.0) ** 2
            x, y = road_point(1.45 if k % 2 else -1.45, z)
            cv2.line(img, (x, y), (x, y - int(10 + 140 * z)), (40, 60, 90), max(1, int(1 + 6 * z)))
        for u, z, colour, facing_us in sorted(self._vehicles(t), key=lambda v: v[1]):
            draw_vehicle(img, u, z, colour, facing_us)
        incident = self.spec.incident_at(t)
        if incident is not None and incident.kind == "smoke":
            draw_smoke(img, _x_of(incident), 235, t - incident.start, scale=0.9)
        cv2.ellipse(img, (W // 2, H + 60), (380, 110), 0, 180, 360, (30, 30, 35), -1)  # the bonnet
        cv2.putText(img, f"DASH 7  {int(t * 3.6 * 14):03d} m  52 km/h", (10, 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55, (255, 255, 255), 1, cv2.LINE_AA)
        return img
