"""HTTP and HLS inputs through the live source, from a local HTTP server."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from monitor.config.models import CameraConfig
from monitor.sources import open_source
from tests.fixtures_media import write_h264


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_hls(mp4: Path, folder: Path) -> Path:
    """Remux an MP4 into an HLS playlist with 1 s segments (what a camera gateway or a CDN serves)."""
    playlist = folder / "index.m3u8"
    with av.open(str(mp4)) as src, av.open(str(playlist), "w", format="hls",
                                           options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        stream = src.streams.video[0]
        target = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            out.mux(packet)
    return playlist


@pytest.mark.parametrize("kind", ["mp4", "hls"])
def test_http_and_hls_inputs_yield_frames(kind, http_dir, fast_settings, tmp_path, run_source):
    root, base = http_dir
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=15, seconds=3, gop=15)
    if kind == "hls":
        write_hls(video, root)
        url = f"{base}/index.m3u8"
    else:
        (root / "v.mp4").write_bytes(video.read_bytes())
        url = f"{base}/v.mp4"
    cam = CameraConfig(id="web-1", url=url)
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, **kw))
    assert run.wait_for(lambda: len(run.frames) >= 40, 15), run.states()
    run.finish()
    ts = [f.ts for f in run.frames[:40]]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert run.frames[0].image.shape == (336, 448, 3)
    assert "online" in run.states()


def test_an_hls_vod_playlist_plays_once_like_a_file(http_dir, fast_settings, tmp_path, run_source):
    root, base = http_dir
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=15, seconds=3, gop=15)
    write_hls(video, root)
    assert "#EXT-X-ENDLIST" in (root / "index.m3u8").read_text()
    cam = CameraConfig(id="vod-1", url=f"{base}/index.m3u8")
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, **kw))
    assert run.wait_for(lambda: "file_done" in run.states(), 20), run.states()
    time.sleep(1.0)
    run.finish()
    # then every frame came once, the end of the footage was marked, and nothing reconnected
    assert len(run.frames) == 45 and len(run.marks) == 1
    assert "reconnecting" not in run.states()


def test_a_live_hls_playlist_stays_live(http_dir, fast_settings, tmp_path, run_source):
    root, base = http_dir
    video = write_h264(tmp_path / "v.mp4", width=160, height=120, fps=15, seconds=3, gop=15)
    playlist = write_hls(video, root)
    # a live playlist: no #EXT-X-ENDLIST, segments may still come
    playlist.write_text(playlist.read_text().replace("#EXT-X-ENDLIST\n", "").replace(
        "#EXT-X-PLAYLIST-TYPE:VOD\n", ""))
    cam = CameraConfig(id="live-1", url=f"{base}/index.m3u8")
    run = run_source(lambda **kw: open_source(cam, fast_settings, state_dir=tmp_path, **kw))
    assert run.wait_for(lambda: len(run.frames) >= 40, 20), run.states()
    time.sleep(2.0)
    run.finish()
    assert "file_done" not in run.states() and run.marks == []
