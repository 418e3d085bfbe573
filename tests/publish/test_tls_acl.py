"""`rediss://` and ACL users against a real redis-server with TLS and the ACL of deploy/redis/users.acl:
the worker publishes and reads control, operators follow streams, only the admin writes control."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from monitor.config.models import MonitorConfig, RedisConfig
from monitor.app.control import ControlListener
from monitor.publish import Publisher
from monitor.publish.trim_watch import TrimWatch
from monitor.schema import Status, rfc3339
from monitor.app.tail import follow
from tests.daemon_process import free_port

ACL = Path(__file__).resolve().parents[2] / "deploy" / "redis" / "users.acl"
PASSWORDS = {"monitor": "pw-monitor-1", "operator": "pw-operator-1", "admin": "pw-admin-1"}


def make_certs(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, made here with openssl."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=monitor test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl; .ci/run does it)")
    folder = tmp_path_factory.mktemp("tls-redis")
    make_certs(folder)
    acl = ACL.read_text()
    for user, password in PASSWORDS.items():
        acl = acl.replace(f"CHANGE-ME-{user}", password)
    (folder / "users.acl").write_text(acl)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
                             "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no",
                             "--aclfile", str(folder / "users.acl"), "--save", "", "--appendonly", "no"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ca = folder / "ca.crt"
    try:
        probe = redis.Redis.from_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}", username="admin",
                                     password=PASSWORDS["admin"])
        for _ in range(100):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail(f"redis-server with TLS did not start: {proc.stdout.read()}")
                time.sleep(0.05)
        probe.close()
        yield port, ca
    finally:
        proc.terminate()
        proc.wait(10)


def config_for(user: str, port: int, ca: Path) -> RedisConfig:
    return RedisConfig(url=f"rediss://{user}@127.0.0.1:{port}/0?ssl_ca_certs={ca}", password=PASSWORDS[user],
                       prefix="monitor:", socket_timeout=3)


def status(i: int) -> Status:
    return Status(message_id=f"s{i}", ts=rfc3339(time.time()), state="running", detail=f"tls {i}")


def test_the_worker_publishes_over_tls_and_cannot_write_control(tls_redis, tmp_path):
    port, ca = tls_redis
    publisher = Publisher(config_for("monitor", port, ca), tmp_path / "outbox")
    publisher.publish("status", status(1))
    assert publisher.stats["direct"] == 1 and publisher.backlog == 0
    publisher.close()
    worker = redis.Redis.from_url(config_for("monitor", port, ca).url, password=PASSWORDS["monitor"],
                                  decode_responses=True)
    assert worker.set("monitor:worker:w1", "alive", ex=15)
    assert TrimWatch().check(worker, {"status": "monitor:status"}) == []  # what the daemon asks is allowed
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.xadd("monitor:control", {"command": "remove", "camera_id": "x"})
    worker.close()


def test_an_operator_follows_a_stream_in_a_group_but_cannot_write_any_stream(tls_redis):
    port, ca = tls_redis
    admin = redis.Redis.from_url(config_for("admin", port, ca).url, password=PASSWORDS["admin"], decode_responses=True)
    admin.xadd("monitor:status", {"type": "status", "data": status(2).model_dump_json()})
    out = io.StringIO()
    printed = follow(config_for("operator", port, ca), "status", as_json=True, group="ops", consumer="c1",
                     min_severity=None, out=out, count=1, start="0")
    assert printed == 1 and json.loads(out.getvalue().splitlines()[0])["message_id"] in ("s1", "s2")
    operator = redis.Redis.from_url(config_for("operator", port, ca).url, password=PASSWORDS["operator"])
    for stream in ("monitor:control", "monitor:status"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            operator.xadd(stream, {"command": "remove", "camera_id": "x"})
    operator.close()
    admin.close()


def test_only_the_admin_writes_control_and_the_worker_reads_it(tls_redis):
    port, ca = tls_redis
    changes, errors = [], []
    config = MonitorConfig(redis=config_for("monitor", port, ca))
    listener = ControlListener(config, changes.append, errors.append)
    listener.start()
    try:
        time.sleep(1.5)  # the listener pins its start position at its first read
        admin = redis.Redis.from_url(config_for("admin", port, ca).url, password=PASSWORDS["admin"])
        admin.xadd("monitor:control", {"command": "remove", "camera_id": "gate-9"})
        admin.close()
        deadline = time.monotonic() + 10
        while not changes and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        listener.stop()
    assert [(c.action, c.camera_id) for c in changes] == [("remove", "gate-9")] and not errors
