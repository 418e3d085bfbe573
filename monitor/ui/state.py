"""What the page shows, kept in memory and fed by one reader of the Redis streams; browsers subscribe."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from monitor.config.models import MonitorConfig
from monitor.evidence.urls import EvidenceSigner
from monitor.keys import Keys

logger = logging.getLogger(__name__)

SEED_ENTRIES = 5000  # entries read back at start, so the page is not empty until the next clip
BLOCK_MS = 1000
SUBSCRIBER_QUEUE = 1000  # events a slow browser may fall behind by before it is dropped (it reconnects)


@dataclass
class Tile:
    camera: str
    name: str
    state: str = "unknown"
    fps: float | None = None
    text: str = ""
    ts: str = ""
    scores: deque = field(default_factory=deque)

    def view(self) -> dict[str, Any]:
        return {"camera": self.camera, "name": self.name, "state": self.state, "fps": self.fps,
                "text": self.text, "ts": self.ts, "scores": list(self.scores)}


class UiState:
    def __init__(self, config: MonitorConfig, client: aioredis.Redis, signer: EvidenceSigner):
        self.config, self.client, self.signer = config, client, signer
        self.keys = Keys(config.redis.prefix)
        self.tiles: OrderedDict[str, Tile] = OrderedDict(
            (c.id, self._tile(c.id, c.display_name)) for c in config.cameras)
        self.alerts: deque[dict] = deque(maxlen=config.ui.feed_size)
        self.acks: dict[str, dict] = {}
        self.subscribers: set[asyncio.Queue] = set()
        self._last = {"alerts": "$", "descriptions": "$", "status": "$"}

    def _tile(self, camera: str, name: str) -> Tile:
        return Tile(camera, name, scores=deque(maxlen=self.config.ui.sparkline_points))

    # -- reading the streams -----------------------------------------------------------------------
    async def seed(self) -> None:
        """The recent past: last status, description and scores of each camera, the latest alerts."""
        raw = await self.client.hgetall(self.keys.acks)
        self.acks = {k: json.loads(v) for k, v in raw.items()}
        for stream in ("status", "descriptions", "alerts"):
            key = self.keys.stream(stream)
            entries = await self.client.xrevrange(key, count=SEED_ENTRIES)
            if entries:
                self._last[stream] = entries[0][0]
            else:
                self._last[stream] = "0-0"
            for _, fields in reversed(entries):
                self.apply(fields)

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                streams = {self.keys.stream(s): last for s, last in self._last.items()}
                reply = await self.client.xread(streams, count=500, block=BLOCK_MS)
            except aioredis.RedisError as exc:  # the page stays up and catches up once Redis answers
                logger.warning("Redis: %s; retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for key, entries in reply or []:
                name = key[len(self.keys.prefix):]
                for entry_id, fields in entries:
                    self._last[name] = entry_id
                    event = self.apply(fields)
                    if event is not None:
                        self.broadcast(*event)

    def apply(self, fields: dict[str, str]) -> tuple[str, dict] | None:
        """Fold one stream entry into the state; the browser event it makes, if any."""
        try:
            data = json.loads(fields["data"])
            kind = fields["type"]
        except (KeyError, ValueError):
            return None
        camera = (data.get("camera") or {}).get("id")
        if not camera:
            return None  # worker-level status: not a tile
        tile = self.tiles.get(camera)
        if tile is None:
            tile = self.tiles[camera] = self._tile(camera, data["camera"].get("name") or camera)
        if kind == "alert":
            alert = self.alert_view(data)
            self.alerts.appendleft(alert)
            return "alert", alert
        if kind == "status":
            tile.state = data.get("state", tile.state)
            fps = (data.get("stats") or {}).get("input_fps")
            tile.fps = fps if isinstance(fps, (int, float)) else tile.fps
        elif kind == "description":
            if data.get("score") is not None:
                tile.scores.append(round(float(data["score"]), 3))
            if data.get("text"):
                tile.text = data["text"][:400]
            tile.ts = data.get("ts", tile.ts)
        return "tile", tile.view()

    def alert_view(self, data: dict) -> dict:
        evidence = self.signer.refresh(data.get("evidence") or {})
        return {"alert_id": data.get("alert_id"), "message_id": data.get("message_id"),
                "camera": (data.get("camera") or {}).get("id"), "camera_name": (data.get("camera") or {}).get("name"),
                "phase": data.get("phase"), "severity": data.get("severity", 0), "title": data.get("title", ""),
                "summary": data.get("summary") or data.get("text", ""), "category": data.get("category", ""),
                "ts": data.get("ts", ""), "score": data.get("score"),
                "clip_url": evidence.get("clip_url"), "image_url": evidence.get("image_url")}

    # -- browsers -----------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def broadcast(self, kind: str, payload: dict) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait((kind, payload))
            except asyncio.QueueFull:  # a stalled browser: its stream ends; EventSource reconnects afresh
                self.subscribers.discard(queue)

    def close_all(self) -> None:
        """Server stopping: end every event stream now instead of waiting for browsers to hang up."""
        for queue in list(self.subscribers):
            self.subscribers.discard(queue)
            try:
                queue.put_nowait(("close", {}))
            except asyncio.QueueFull:
                pass

    async def acknowledge(self, alert_id: str, by: str, at: str) -> dict:
        ack = {"alert_id": alert_id, "by": by, "at": at}
        await self.client.hset(self.keys.acks, alert_id, json.dumps(ack))
        self.acks[alert_id] = ack
        self.broadcast("ack", ack)
        return ack

    # -- views --------------------------------------------------------------------------------------
    def feed(self, camera: str | None = None, min_severity: int = 0) -> list[dict]:
        return [a for a in self.alerts if (not camera or a["camera"] == camera) and (a["severity"] or 0) >= min_severity]

    def page(self, number: int, size: int) -> tuple[list[dict], int]:
        tiles = list(self.tiles.values())
        pages = max(1, -(-len(tiles) // size))
        number = min(max(1, number), pages)
        return [t.view() for t in tiles[(number - 1) * size: number * size]], pages
