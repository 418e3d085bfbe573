"""The UI server over real HTTP: signed evidence URLs (ranges, expiry, no way out of the folder), auth,
read-only by default, paged tiles for 200 cameras."""

from __future__ import annotations

import base64
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from monitor.app.cli import main
from monitor.ui.app import page_signer
from monitor.ui.auth import InsecureListen, check_listen
from tests.ui.conftest import UiServer, evidence_files, ui_config

SECRET = "evidence-secret-for-tests"


def get(url: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def local(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


@pytest.fixture
def signed(redis_config, tmp_path):
    config = ui_config(redis_config, tmp_path, f"evidence: {{urls: {{signing_key: {SECRET}}}}}")
    evidence = evidence_files(config)
    return config, evidence, page_signer(config)


def test_a_signed_evidence_url_serves_the_file_with_byte_ranges(signed):
    config, evidence, signer = signed
    with UiServer(config) as server:
        url = server.url + local(signer.url(evidence.clip))
        status, headers, body = get(url)
        assert status == 200 and headers["content-type"] == "video/mp4"
        assert body == Path(evidence.clip).read_bytes()
        status, headers, body = get(url, {"Range": "bytes=100-199"})
        assert status == 206 and len(body) == 100 and body == Path(evidence.clip).read_bytes()[100:200]
        assert headers["content-range"] == f"bytes 100-199/{Path(evidence.clip).stat().st_size}"
        status, headers, _ = get(server.url + local(signer.url(evidence.image)))
        assert status == 200 and headers["content-type"] == "image/jpeg"


def test_tampered_expired_or_escaping_evidence_urls_are_refused(signed, tmp_path):
    config, evidence, signer = signed
    good = local(signer.url(evidence.clip))
    path, query = good.split("?")
    sig = re.search(r"sig=(\w+)", query).group(1)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not evidence")
    link = Path(config.evidence.dir) / "street-1" / "link.mp4"
    os.symlink(outside, link)  # a link planted in the folder, even with a valid signature
    link_sig = signer.signature("street-1/link.mp4", int(time.time()) + 60)
    with UiServer(config) as server:
        refused = [
            good.replace(sig, "0" * 64),                                     # forged signature
            path + "?" + query.replace("exp=", "exp=1"),                     # another expiry, same signature
            path,                                                            # unsigned
            local(signer.url(evidence.clip, now=time.time() - 8 * 86400)),  # expired
            f"/evidence/street-1/link.mp4?exp={int(time.time()) + 60}&sig={link_sig}",
            f"/evidence/..%2F..%2Fetc/passwd?{query}",
            f"/evidence/street-1/..%2F..%2Fsecret.mp4?{query}",
            f"/evidence/street-1/%2E%2E?{query}",
        ]
        for url in refused:
            status, _, body = get(server.url + url)
            assert status in (403, 404), url
            assert b"not evidence" not in body


def test_the_page_is_read_only_by_default(redis_config, tmp_path):
    config = ui_config(redis_config, tmp_path)
    with UiServer(config) as server:
        status, _, body = get(server.url + "/")
        assert status == 200 and b'class="ack"' not in body
        status, _, _ = get(server.url + "/ack/some-alert", {"X-Requested-With": "monitor"}, method="POST")
        assert status == 403


def test_two_hundred_cameras_are_paged(redis_config, tmp_path):
    config = ui_config(redis_config, tmp_path, "ui: {tiles_per_page: 24}", cameras=200)
    with UiServer(config) as server:
        first = get(server.url + "/")[2].decode()
        last = get(server.url + "/?page=9")[2].decode()
    assert first.count('class="tile ') == 24 and last.count('class="tile ') == 8
    assert "?page=9&" in first and "200 cameras" in first
    assert 'data-camera="cam-197"' in last


def test_a_token_guards_the_page_but_not_signed_evidence(redis_config, tmp_path):
    token = "operator-token-0123456789"
    config = ui_config(redis_config, tmp_path, f"ui: {{token: {token}}}\nevidence: {{urls: {{signing_key: {SECRET}}}}}")
    evidence = evidence_files(config)
    signer = page_signer(config)
    with UiServer(config) as server:
        assert get(server.url + "/")[0] == 401
        assert get(server.url + "/events", {"Authorization": "Bearer wrong-token-0000000"})[0] == 401
        assert get(server.url + "/", {"Authorization": f"Bearer {token}"})[0] == 200
        assert get(server.url + local(signer.url(evidence.image)))[0] == 200
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(f"{server.url}/login?token={token}", timeout=10) as response:  # sets the cookie
            assert response.status == 200 and b"monitor" in response.read()


def test_basic_auth(redis_config, tmp_path):
    config = ui_config(redis_config, tmp_path, "ui: {username: duty, password: night-shift-7}")
    with UiServer(config) as server:
        status, headers, _ = get(server.url + "/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic")
        good = base64.b64encode(b"duty:night-shift-7").decode()
        assert get(server.url + "/", {"Authorization": f"Basic {good}"})[0] == 200
        bad = base64.b64encode(b"duty:guess").decode()
        assert get(server.url + "/", {"Authorization": f"Basic {bad}"})[0] == 401


def test_listening_beyond_loopback_needs_a_credential(redis_config, tmp_path, capsys):
    config = ui_config(redis_config, tmp_path)
    check_listen("127.0.0.1", config.ui)
    check_listen("::1", config.ui)
    with pytest.raises(InsecureListen, match="ui.token"):
        check_listen("0.0.0.0", config.ui)
    config_file = tmp_path / "ui.yaml"
    config_file.write_text(f'redis: {{url: "{redis_config.url}", prefix: "{redis_config.prefix}"}}\n')
    assert main(["ui", "--config", str(config_file), "--listen", "0.0.0.0:0"]) == 2
    assert "beyond loopback" in capsys.readouterr().err


def test_monitor_ui_serves_until_sigterm_and_then_stops_promptly_even_with_a_browser_attached(redis_config, tmp_path):
    import signal
    import subprocess
    import sys

    from tests.ui.conftest import free_port

    port = free_port()
    config_file = tmp_path / "ui.yaml"
    config_file.write_text(f'redis: {{url: "{redis_config.url}", prefix: "{redis_config.prefix}"}}\n'
                           f'state_dir: "{tmp_path}"\ncameras: [{{id: gate-1, url: /dev/null}}]\n')
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "ui", "--config", str(config_file), "--listen",
                             f"127.0.0.1:{port}"], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.2)
        events = urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=10)
        assert events.readline().startswith(b"retry:")
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(15) == 0
        assert time.monotonic() - started < 5
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_feed_filters_by_camera_and_severity_including_alerts_from_before_the_start(
        redis_config, redis_client, tmp_path):
    from tests.ui.conftest import make_alert, xadd_alert

    config = ui_config(redis_config, tmp_path)
    for n, (camera, severity) in enumerate([("street-1", 0), ("street-1", 2), ("road-1", 1)]):
        xadd_alert(redis_client, config, make_alert(camera, severity=severity, n=n, title=f"alert {n}"))
    with UiServer(config) as server:
        every = get(server.url + "/")[2].decode()
        street = get(server.url + "/?camera=street-1")[2].decode()
        serious = get(server.url + "/?min_severity=1")[2].decode()
    titles = lambda page: re.findall(r'<h3 class="title">(alert \d)</h3>', page)  # noqa: E731
    assert titles(every) == ["alert 2", "alert 1", "alert 0"]  # newest first
    assert titles(street) == ["alert 1", "alert 0"]
    assert titles(serious) == ["alert 2", "alert 1"]
