"""The `monitor` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import yaml

from monitor.config import ConfigError, MonitorConfig, load_config, redacted_dict, reference_markdown

logger = logging.getLogger("monitor")

EXIT_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Streaming surveillance anomaly monitor.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the monitor (without --config: the embedded demo)")
    run.add_argument("--config", type=Path, help="YAML config file")
    run.add_argument("--duration", type=float, help="stop after this many seconds (measurements, smoke tests)")
    run.add_argument("--exit-when-done", action="store_true", help="stop once every (non-looping) file has played")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a config and print it resolved, secrets masked")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_cmd_check)

    ref = sub.add_parser("config-reference", help="print every config key with its default and description")
    ref.set_defaults(func=lambda args: print(reference_markdown(), end="") or 0)

    tail = sub.add_parser("tail", help="follow a stream: descriptions, alerts or status")
    tail.add_argument("stream", choices=["descriptions", "alerts", "status"])
    tail.add_argument("--config", type=Path, help="config file whose redis section to use")
    tail.add_argument("--json", action="store_true", help="print each message's JSON, one per line")
    tail.add_argument("--group", help="read through this consumer group and acknowledge each entry")
    tail.add_argument("--consumer", default=None, help="consumer name within the group (default: the host name, so a restart finds its own pending entries)")
    tail.add_argument("--min-severity", type=int, choices=[0, 1, 2], help="alerts: only this severity and above")
    tail.add_argument("--count", type=int, help="stop after this many messages")
    tail.set_defaults(func=_cmd_tail)

    _add_ui(sub)
    _add_notify(sub)
    _add_eval(sub)

    status = sub.add_parser("status", help="the live workers, the cameras each runs and their lag")
    status.add_argument("--config", type=Path, help="config file whose redis section to use")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=_cmd_status)

    model = sub.add_parser("model", help="model utilities")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    tiny = model_sub.add_parser("make-tiny", help="write a tiny random-weight LLaVA-NeXT-Video checkpoint")
    tiny.add_argument("dir", type=Path)
    tiny.set_defaults(func=_cmd_make_tiny)
    return parser


def _load(path: Path | None) -> MonitorConfig:
    if path is None:
        from monitor.app.demo import demo_config

        return demo_config()
    return load_config(path)


def _cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(yaml.safe_dump(redacted_dict(config), sort_keys=False), end="")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging

    setup_logging()  # before the config, so the demo's first-run model build is visible
    config = _load(args.config)
    setup_logging(config.log.level, config.log.format)
    if args.config is None:
        logger.info("embedded demo: bundled footage, the tiny model (its words are noise); in another terminal: "
                    "MONITOR_REDIS_PREFIX=%s monitor tail descriptions", config.redis.prefix)
    stop = _stop_on_signals()
    if args.duration:
        threading.Timer(args.duration, stop.set).start()
    try:
        code = _run_monitor(args, config, stop)
    finally:
        stop.set()
    # Everything is delivered or fsync'd in the outbox and every file closed: leave without the
    # interpreter's teardown, which with torch loaded spends seconds of CPU freeing what the process
    # exit frees anyway (a stop must fit systemd's and Kubernetes' grace periods).
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)



def _run_monitor(args: argparse.Namespace, config: MonitorConfig, stop: threading.Event) -> int:
    from monitor.app.daemon import Monitor
    from monitor.redis_local import RedisUnavailable, ensure_redis

    try:
        with ensure_redis(config.redis) as redis_config:
            config = config.model_copy(update={"redis": redis_config})
            monitor = Monitor(config)
            reload_requested = threading.Event()
            if args.config is not None:  # SIGHUP re-reads the file: cameras change without a restart
                signal.signal(signal.SIGHUP, lambda signum, frame: reload_requested.set())
            return monitor.run(stop, exit_when_done=args.exit_when_done, reload_requested=reload_requested,
                               reload=lambda: load_config(args.config))
    except RedisUnavailable as exc:
        logger.error("%s", exc)
        return 1


def _stop_on_signals() -> threading.Event:
    """First SIGTERM/SIGINT: stop taking work and finish cleanly. Second: stop now."""
    stop = threading.Event()

    def handle(signum, frame):
        if stop.is_set():
            # Now, without unwinding: SystemExit would run the interpreter's teardown while native threads
            # (CUDA, FFmpeg) still run, and C++ aborts ("terminate called without an active exception").
            # The outbox is fsync'd record by record, so nothing published is lost.
            logger.warning("second signal: stopping now")
            logging.shutdown()
            os._exit(130)
        logger.info("signal %s: stopping (again to force)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _redis_config(config_path: Path | None):
    """The redis section of a config file, or from MONITOR_REDIS_URL / _PREFIX / _PASSWORD."""
    import os

    from monitor.config.models import RedisConfig

    return load_config(config_path).redis if config_path else RedisConfig(
        url=os.environ.get("MONITOR_REDIS_URL", RedisConfig().url),
        prefix=os.environ.get("MONITOR_REDIS_PREFIX", RedisConfig().prefix),
        password=os.environ.get("MONITOR_REDIS_PASSWORD") or None)


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    import redis

    from monitor.cluster.status import cluster_status, render_status
    from monitor.keys import Keys
    from monitor.publish import connect
    from monitor.redact import mask_url

    redis_config = _redis_config(args.config)
    client = connect(redis_config)
    try:
        status = cluster_status(client, Keys(redis_config.prefix))
    except redis.RedisError as exc:
        print(f"Redis at {mask_url(redis_config.url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(status, indent=2) if args.json else render_status(status), end="\n" if args.json else "")
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    import socket

    from monitor.app.tail import follow

    redis_config = _redis_config(args.config)
    stop = _stop_on_signals()
    follow(redis_config, args.stream, as_json=args.json, group=args.group,
           consumer=args.consumer or socket.gethostname(), min_severity=args.min_severity,
           stop=stop, count=args.count)
    return 0


def _cmd_make_tiny(args: argparse.Namespace) -> int:
    from monitor.backends.llava_next_video.tiny import make_tiny_checkpoint

    path = make_tiny_checkpoint(args.dir)
    print(f"tiny random-weight LLaVA-NeXT-Video checkpoint written to {path}")
    print("its words are noise: it exists to test the real loading and inference path offline")
    return 0


def _add_ui(sub) -> None:
    ui = sub.add_parser("ui", help="the operators' web page: camera tiles, live alerts, evidence")
    ui.add_argument("--config", type=Path, help="YAML config file (redis, cameras, ui, evidence); without it, "
                    "the embedded demo's (next to a `monitor run` without --config)")
    ui.add_argument("--listen", help="HOST:PORT (default ui.listen, 127.0.0.1:8080)")
    ui.set_defaults(func=_cmd_ui)


def _cmd_ui(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.ui.auth import InsecureListen
    from monitor.ui.server import serve

    config = _load(args.config)
    setup_logging(config.log.level, config.log.format)
    try:
        return serve(config, args.listen)
    except (InsecureListen, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _add_notify(sub) -> None:
    notify = sub.add_parser("notify", help="forward alerts to webhooks and MQTT (Home Assistant), at least once")
    notify.add_argument("--config", type=Path, required=True, help="YAML config file (redis, notify, cameras)")
    notify.set_defaults(func=_cmd_notify)


def _cmd_notify(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.notify.bridge import run_bridge

    config = load_config(args.config)
    setup_logging(config.log.level, config.log.format)
    return run_bridge(config, _stop_on_signals())


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="score labelled clips as the daemon would; ROC/PR, alert rules, a threshold")
    ev.add_argument("--config", type=Path, required=True, help="YAML config file (model, window, prompts, alerts)")
    ev.add_argument("--labels", type=Path, required=True, help="labels: CSV (clip,label or clip,start,end), "
                    "UCF-Crime's Temporal_Anomaly_Annotation*.txt or XD-Violence's annotations.txt")
    ev.add_argument("--clips", type=Path, help="folder of the videos (default: the labels file's folder)")
    ev.add_argument("--out", type=Path, default=Path("eval-report"), help="report folder (default ./eval-report/)")
    ev.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from monitor.eval.run import evaluate
    from monitor.logs import setup_logging

    config = load_config(args.config)
    setup_logging(config.log.level, config.log.format)
    report = evaluate(config, args.labels, args.clips or args.labels.parent, args.out)
    print(f"{report['clips']['windows']} windows of {report['clips']['videos']} videos; "
          f"clip ROC AUC {_fmt(report['clip']['roc_auc'])}, AP {_fmt(report['clip']['average_precision'])}; "
          f"recommended alerts.threshold {report['recommended']['threshold']}")
    print(f"report: {args.out / 'report.html'}")
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
