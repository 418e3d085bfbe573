"""The web app: the page, its event stream (SSE), tile frames, evidence files and acknowledgements."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from pathlib import Path

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, \
    StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from monitor.config.models import MonitorConfig
from monitor.config.operators import EvidenceUrlsConfig
from monitor.evidence.urls import BadEvidenceUrl, EvidenceSigner
from monitor.schema import rfc3339
from monitor.ui.auth import TOKEN_COOKIE, AuthMiddleware
from monitor.ui.state import UiState

HERE = Path(__file__).parent
KEEPALIVE_S = 15.0
templates = Jinja2Templates(directory=str(HERE / "templates"))


def page_signer(config: MonitorConfig) -> EvidenceSigner:
    """Signs the page's own evidence links (relative URLs). Without a configured secret, a random one of
    this process: the page can still play evidence, and nothing outside can forge a link."""
    urls = config.evidence.urls
    cfg = EvidenceUrlsConfig(base_url="", signing_key=urls.signing_key or secrets.token_hex(32),
                             ttl_seconds=urls.ttl_seconds)
    return _RelativeSigner(cfg, config.evidence.dir or ".")


class _RelativeSigner(EvidenceSigner):
    @property
    def enabled(self) -> bool:
        return bool(self.cfg.signing_key)


def create_app(config: MonitorConfig) -> Starlette:
    cfg = config.ui
    kwargs = {"socket_timeout": None, "decode_responses": True}
    if config.redis.password:
        kwargs["password"] = config.redis.password
    client = aioredis.Redis.from_url(config.redis.url, **kwargs)
    frames = aioredis.Redis.from_url(config.redis.url, **{**kwargs, "decode_responses": False})
    signer = page_signer(config)
    state = UiState(config, client, signer)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        stop = asyncio.Event()
        await state.seed()
        task = asyncio.create_task(state.follow(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 5.0)
            await client.aclose()
            await frames.aclose()

    async def index(request: Request) -> Response:
        page = _int(request.query_params.get("page"), 1)
        camera = request.query_params.get("camera") or ""
        min_severity = _int(request.query_params.get("min_severity"), 0)
        tiles, pages = state.page(page, cfg.tiles_per_page)
        return templates.TemplateResponse(request, "index.html", {
            "tiles": tiles, "page": min(max(1, page), pages), "pages": pages, "cameras": list(state.tiles),
            "alerts": state.feed(camera, min_severity), "acks": state.acks, "camera": camera,
            "min_severity": min_severity, "read_only": cfg.read_only,
            "settings": ({"readOnly": cfg.read_only, "camera": camera, "minSeverity": min_severity,
                                    "frameRefreshMs": int(cfg.frame_refresh_seconds * 1000),
                                    "feedSize": cfg.feed_size})})

    async def events(request: Request) -> Response:
        queue = state.subscribe()

        async def stream():
            try:
                yield "retry: 2000\n\n"
                while queue in state.subscribers and not await request.is_disconnected():
                    try:
                        kind, payload = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if kind == "close":
                        return
                    yield f"event: {kind}\ndata: {json.dumps(payload)}\n\n"
            finally:
                state.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def frame(request: Request) -> Response:
        data = await frames.get(state.keys.frame(request.path_params["camera"]))
        if data is None:
            return PlainTextResponse("no recent frame\n", status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def evidence(request: Request) -> Response:
        rel = f"{request.path_params['folder']}/{request.path_params['name']}"
        q = request.query_params
        try:
            path = signer.resolve(rel, q.get("exp", ""), q.get("sig", ""))
        except BadEvidenceUrl as exc:
            return PlainTextResponse(f"{exc}\n", status_code=403)
        if not path.is_file():
            return PlainTextResponse("gone (retention)\n", status_code=404)
        media = {".mp4": "video/mp4", ".mkv": "video/x-matroska"}.get(path.suffix, "image/jpeg")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})

    async def acknowledge(request: Request) -> Response:
        if cfg.read_only:
            return PlainTextResponse("read-only: set ui.read_only: false to acknowledge\n", status_code=403)
        if request.headers.get("x-requested-with") != "monitor":  # a form on another site cannot set it
            return PlainTextResponse("missing X-Requested-With\n", status_code=400)
        by = cfg.username or ("token" if cfg.token else "local")
        return JSONResponse(await state.acknowledge(request.path_params["alert_id"], by, rfc3339(time.time())))

    async def login(request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        if cfg.token:  # the middleware let this through only with the right token
            response.set_cookie(TOKEN_COOKIE, cfg.token, httponly=True, samesite="strict")
        return response

    routes = [
        Route("/", index), Route("/events", events), Route("/frame/{camera}.jpg", frame),
        Route("/evidence/{folder}/{name}", evidence), Route("/ack/{alert_id}", acknowledge, methods=["POST"]),
        Route("/login", login), Route("/healthz", lambda request: PlainTextResponse("ok\n")),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(AuthMiddleware, cfg=cfg)
    app.state.ui = state
    return app


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
