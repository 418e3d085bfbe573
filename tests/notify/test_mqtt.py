"""`monitor notify` against a real mosquitto broker (password auth): alerts, retained state, discovery."""

from __future__ import annotations

import json
import threading

from monitor.notify.bridge import start_workers
from tests.notify import ha_rules
from tests.notify.conftest import Subscriber, make_alert, notify_config, xadd_alert
from tests.notify.test_webhook import pending, stop_bridge
from tests.ui.test_browser import wait_for


def mqtt_config(redis_config, tmp_path, broker, password=None, extra=""):
    return notify_config(redis_config, tmp_path, f"""
  start: all
  backoff_initial: 0.2
  mqtt:
    host: 127.0.0.1
    port: {broker.port}
    username: {broker.username}
    password: {password or broker.password}
    topic_prefix: site7
    filter: {{min_severity: 1}}
{extra}
""")


def test_alerts_go_to_their_camera_topic_and_the_retained_state_follows_the_phases(
        redis_config, redis_client, tmp_path, broker):
    config = mqtt_config(redis_config, tmp_path, broker)
    subscriber = Subscriber(broker, "site7/#")
    opened, info, closed = (make_alert("gate-1", phase="new"), make_alert("yard.2", severity=0, n=1),
                            make_alert("gate-1", phase="end"))
    for alert in (opened, info, closed):
        xadd_alert(redis_client, config, alert)
    stop = threading.Event()
    workers = start_workers(config, stop)
    try:
        wait_for(lambda: len(subscriber.on("site7/gate-1/alert")) == 2, 10, "both phases on the alert topic")
        wait_for(lambda: pending(redis_client, config) == 0, 5, "acknowledged after delivery")
    finally:
        stop_bridge(stop, workers)
        subscriber.close()
    phases = [json.loads(p)["phase"] for p in subscriber.on("site7/gate-1/alert")]
    assert phases == ["new", "end"]
    assert subscriber.on("site7/yard.2/alert") == [], "severity 0 is filtered out"
    assert subscriber.on("site7/bridge/availability")[0] == b"online"
    # A newcomer (Home Assistant after a restart) gets the retained state at once.
    late = Subscriber(broker, "site7/+/state")
    try:
        wait_for(lambda: late.messages, 5, "the retained state")
        topic, payload, retained = late.messages[-1]
    finally:
        late.close()
    assert (topic, retained) == ("site7/gate-1/state", True)
    state = json.loads(payload)
    assert (state["state"], state["alert_id"], state["title"]) == ("OFF", opened.alert_id, "Person climbs the gate")


def test_home_assistant_discovery_payloads_follow_its_schema_rules(redis_config, tmp_path, broker):
    config = mqtt_config(redis_config, tmp_path, broker)
    subscriber = Subscriber(broker, "homeassistant/#")
    stop = threading.Event()
    workers = start_workers(config, stop)
    try:
        wait_for(lambda: len(subscriber.messages) == 4, 10, "two entities per camera")
    finally:
        stop_bridge(stop, workers)
        subscriber.close()
    payloads = {topic: json.loads(payload) for topic, payload, _ in subscriber.messages}
    assert set(payloads) == {
        "homeassistant/binary_sensor/monitor/gate-1_alert/config", "homeassistant/sensor/monitor/gate-1_last_alert/config",
        "homeassistant/binary_sensor/monitor/yard_2_alert/config", "homeassistant/sensor/monitor/yard_2_last_alert/config"}
    for topic, payload in payloads.items():
        assert ha_rules.problems("homeassistant", topic, payload) == []
    unique_ids = [p["unique_id"] for p in payloads.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    assert payloads["homeassistant/binary_sensor/monitor/yard_2_alert/config"]["state_topic"] == "site7/yard.2/state"


def test_the_rules_catch_what_home_assistant_rejects():
    good = {"name": "Alert", "unique_id": "u1", "state_topic": "a/b", "device": {"identifiers": ["d"]},
            "device_class": "problem"}
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o/config", good) == []
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o.x/config", good)
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o/config",
                             {**good, "state_topic": "a/#"})
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o/config", {**good, "device": {}})
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o/config",
                             {k: v for k, v in good.items() if k != "unique_id"})
    assert ha_rules.problems("homeassistant", "homeassistant/binary_sensor/n/o/config", {**good, "device_class": "x"})


def test_a_wrong_broker_password_delivers_nothing_and_acknowledges_nothing(redis_config, redis_client, tmp_path,
                                                                           broker):
    config = mqtt_config(redis_config, tmp_path, broker, password="wrong-password")
    xadd_alert(redis_client, config, make_alert("gate-1"))
    stop = threading.Event()
    workers = start_workers(config, stop)
    try:
        wait_for(lambda: pending(redis_client, config) == 1, 5, "the alert read")
        assert not workers[0].route.connected.wait(1.5)
    finally:
        stop_bridge(stop, workers)
    assert pending(redis_client, config) == 1


def make_certs(folder):
    """A CA and a broker certificate for 127.0.0.1, made with openssl."""
    import subprocess

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(folder / "broker.key"),
        "-out", str(folder / "broker.csr"))
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(folder / "broker.csr"), "-CA", str(folder / "ca.crt"), "-CAkey",
        str(folder / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(folder / "san.ext"),
        "-out", str(folder / "broker.crt"))


def test_alerts_reach_a_broker_over_tls_verified_against_its_ca(redis_config, redis_client, tmp_path):
    import getpass
    import subprocess

    from tests.notify.conftest import free_port

    make_certs(tmp_path)
    port = free_port()
    (tmp_path / "tls.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {tmp_path}/ca.crt\ncertfile {tmp_path}/broker.crt\n"
        f"keyfile {tmp_path}/broker.key\npersistence false\nuser {getpass.getuser()}\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "tls.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        config = notify_config(redis_config, tmp_path, f"""
  start: all
  mqtt: {{host: 127.0.0.1, port: {port}, tls: {{enabled: true, ca_file: "{tmp_path}/ca.crt"}}, discovery: false}}
""")
        xadd_alert(redis_client, config, make_alert("gate-1"))
        stop = threading.Event()
        workers = start_workers(config, stop)
        try:
            assert workers[0].route.connected.wait(10), "no TLS connection"
            wait_for(lambda: pending(redis_client, config) == 0 and workers[0].delivered == 1, 10, "delivered")
        finally:
            stop_bridge(stop, workers)
    finally:
        broker.terminate()
        broker.wait(10)
