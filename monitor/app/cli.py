"""The `monitor` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

import yaml

from monitor import __version__
from monitor.config import ConfigError, MonitorConfig, load_config, redacted_dict, reference_markdown

logger = logging.getLogger("monitor")

EXIT_RUNTIME = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line a person can act on; the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        code, lines = explain(exc)
        from monitor.redact import redact_text

        for line in lines:
            print(redact_text(line), file=sys.stderr)
        if not args.debug and code == EXIT_RUNTIME and not _known(exc):
            print("(run with --debug for the traceback)", file=sys.stderr)
        return code


def explain(exc: BaseException) -> tuple[int, list[str]]:
    """Exit code and the lines that say what went wrong: 2 when the config must change, 1 otherwise."""
    from monitor.inference.errors import ModelConfigError, ModelLoadError
    from monitor.redis_local import RedisUnavailable

    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, [f"config error: {line}" for line in str(exc).splitlines()]
    if isinstance(exc, ModelConfigError):
        return EXIT_CONFIG, [f"config error: {_one_line(exc)}"]
    if isinstance(exc, ModelLoadError):
        return EXIT_RUNTIME, [f"model error: {_one_line(exc)}"]
    if isinstance(exc, RedisUnavailable):
        return EXIT_RUNTIME, [f"redis error: {_one_line(exc)}"]
    return EXIT_RUNTIME, [f"error: {type(exc).__name__}: {_one_line(exc)}"]


def _known(exc: BaseException) -> bool:
    from monitor.inference.errors import ModelLoadError
    from monitor.redis_local import RedisUnavailable

    return isinstance(exc, (ConfigError, ModelLoadError, RedisUnavailable))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Streaming surveillance anomaly monitor: live "
                                     "video -> video LLM -> descriptions, scores and alerts in Redis streams.")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, func: Callable[[argparse.Namespace], int], parent=sub):
        p = _subcommand(parent, name, text)
        p.set_defaults(func=func)
        return p

    run = command("run", "run the monitor; without --config, the embedded demo (bundled footage, a tiny "
                  "offline model, a local Redis)", _cmd_run)
    run.add_argument("--config", type=Path, help="YAML config file (docs/CONFIG.md); without it, the demo")
    run.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop cleanly after this many seconds (measurements, smoke tests)")
    run.add_argument("--exit-when-done", action="store_true", help="stop once every (non-looping) file has played")

    check = command("check-config", "validate a config, print it resolved with secrets masked, and check "
                    "what can be checked without side effects (model folder, device, Redis, camera files)",
                    _cmd_check)
    check.add_argument("file", type=Path, help="the YAML config file to check")

    command("config-reference", "print every config key with its default and description",
            lambda args: print(reference_markdown(), end="") or 0)

    tail = command("tail", "follow a stream and print each message as it arrives; the Redis URL and prefix "
                   "come from --config, else from MONITOR__REDIS__URL / MONITOR__REDIS__PREFIX (or "
                   "MONITOR_REDIS_URL / MONITOR_REDIS_PREFIX), as for `monitor run`", _cmd_tail)
    tail.add_argument("stream", choices=["descriptions", "alerts", "status"], help="which stream to follow")
    tail.add_argument("--config", type=Path, help="config file whose redis section to use")
    tail.add_argument("--json", action="store_true", help="print each message's JSON, one per line")
    tail.add_argument("--group", help="read through this consumer group and acknowledge each entry")
    tail.add_argument("--consumer", default=None, help="consumer name within the group (default: the host name, "
                      "so a restart finds its own pending entries)")
    tail.add_argument("--min-severity", type=int, choices=[0, 1, 2], help="alerts: only this severity and above")
    tail.add_argument("--count", type=int, help="stop after this many messages")

    _add_ui(sub)
    _add_notify(sub)
    _add_eval(sub)

    status = command("status", "the live workers, the cameras each runs and their lag", _cmd_status)
    status.add_argument("--config", type=Path, help="config file whose redis section to use (default: the "
                        "environment's MONITOR_REDIS_* and MONITOR__REDIS__* overrides)")
    status.add_argument("--json", action="store_true", help="print the status as JSON")

    outbox = command("outbox", "messages that wait on disk for a Redis that did not answer, one outbox per "
                     "destination (Redis URL and prefix)", lambda args: outbox.print_help() or 0)
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    for name, text, func in (("list", "list every outbox that holds messages", _cmd_outbox_list),
                             ("flush", "send waiting messages to their own destination", _cmd_outbox_flush),
                             ("drop", "delete the waiting messages of one outbox", _cmd_outbox_drop)):
        action = command(name, text, func, parent=outbox_sub)
        action.add_argument("--config", type=Path, help="config file whose delivery.outbox_dir and redis section "
                            "to use (default: the demo's)")
        if name == "flush":
            action.add_argument("names", nargs="*", help="outboxes to flush, as `list` names them (default: every "
                                "outbox with a recorded destination); `unrecorded` goes to this config's Redis")
            action.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each destination")
        if name == "drop":
            action.add_argument("name", help="the outbox to empty, as `list` names it")

    model = command("model", "model utilities", lambda args: model.print_help() or 0)
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION")
    tiny = command("make-tiny", "write a tiny random-weight LLaVA-NeXT-Video checkpoint (offline, for tests)",
                   _cmd_make_tiny, parent=model_sub)
    tiny.add_argument("dir", type=Path, help="folder to write the checkpoint to (model.id then names it)")
    return parser


def _subcommand(parent, name: str, text: str) -> argparse.ArgumentParser:
    """A command with its help, a description from it, and --debug (after the command works too)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    return parent.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".", parents=[common])


def _load(path: Path | None) -> MonitorConfig:
    if path is None:
        from monitor.app.demo import demo_config

        return demo_config()
    return load_config(path)


def _cmd_check(args: argparse.Namespace) -> int:
    from monitor.config.checks import check_config

    config = load_config(args.file)
    print(yaml.safe_dump(redacted_dict(config), sort_keys=False), end="")
    checks = check_config(config)
    from monitor.redact import redact_text

    for check in checks:
        print(redact_text(f"check-config: {check}"), file=sys.stderr)
    return EXIT_CONFIG if any(c.level == "error" for c in checks) else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging

    setup_logging()  # before the config, so the demo's first-run model build is visible
    config = _load(args.config)
    setup_logging(config.log.level, config.log.format)
    started: list = []  # the Monitor, once built: signals interrupt at once until it is ready
    stop = _stop_on_signals(interrupt_until=lambda: bool(started) and started[0].ready)
    if args.duration:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    try:
        code = _run_monitor(args, config, stop, started)
    finally:
        stop.set()
    # Everything is delivered or fsync'd in the outbox and every file closed: leave without the
    # interpreter's teardown, which with torch loaded spends seconds of CPU freeing what the process
    # exit frees anyway (a stop must fit systemd's and Kubernetes' grace periods).
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _run_monitor(args: argparse.Namespace, config: MonitorConfig, stop: threading.Event, started: list) -> int:
    from monitor.app.daemon import Monitor
    from monitor.redis_local import ensure_redis

    try:
        with ensure_redis(config.redis) as redis_config:  # a private Redis stops after the final flush
            config = config.model_copy(update={"redis": redis_config})
            if args.config is None:
                _announce_demo(config)
            started.append(Monitor(config))
            reload_requested = threading.Event()
            if args.config is not None:  # SIGHUP re-reads the file: cameras change without a restart
                signal.signal(signal.SIGHUP, lambda signum, frame: reload_requested.set())
            return started[0].run(stop, exit_when_done=args.exit_when_done, reload_requested=reload_requested,
                                  reload=lambda: load_config(args.config))
    except KeyboardInterrupt:
        logger.warning("interrupted while starting: stopped before any camera ran")
        if started:
            started[0].publisher.close(timeout=2.0)
        raise


def _announce_demo(config: MonitorConfig) -> None:
    """The exact commands that read what the demo publishes (its prefix is not the default one)."""
    from monitor.config.models import RedisConfig

    env = f"MONITOR__REDIS__PREFIX={shlex.quote(config.redis.prefix)}"
    if config.redis.url != RedisConfig().url:
        env = f"MONITOR__REDIS__URL={shlex.quote(config.redis.url)} {env}"
    logger.info("embedded demo: bundled footage, the demo model trained on it; results go to %s under "
                "the prefix %s", config.redis.url, config.redis.prefix)
    for stream in ("descriptions", "alerts"):
        logger.info("read them in another terminal: %s monitor tail %s", env, stream)


def _stop_on_signals(interrupt_until: Callable[[], bool] = lambda: True) -> threading.Event:
    """Until `interrupt_until()` is true (loading and warming up the model), SIGINT/SIGTERM interrupt at
    once. Then the first one stops taking work and finishes cleanly, a second one stops now."""
    stop = threading.Event()

    def handle(signum, frame):
        if not interrupt_until():
            raise KeyboardInterrupt
        if stop.is_set():
            # Now, without unwinding: SystemExit would run the interpreter's teardown while native threads
            # (CUDA, FFmpeg) still run, and C++ aborts ("terminate called without an active exception").
            # The outbox is fsync'd record by record, so nothing published is lost.
            logger.warning("second signal: stopping now")
            logging.shutdown()
            os._exit(EXIT_INTERRUPTED)
        logger.info("signal %s: stopping (again to force)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    import redis

    from monitor.app.tail import redis_config_for
    from monitor.cluster.status import cluster_status, render_status
    from monitor.keys import Keys
    from monitor.publish import connect
    from monitor.redact import mask_url

    redis_config = redis_config_for(args.config)
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

    from monitor.logs import setup_logging
    from monitor.app.tail import follow, redis_config_for

    setup_logging()
    redis_config = redis_config_for(args.config)
    stop = _stop_on_signals()
    follow(redis_config, args.stream, as_json=args.json, group=args.group,
           consumer=args.consumer or socket.gethostname(), min_severity=args.min_severity,
           stop=stop, count=args.count)
    return 0


def _outbox_setup(args: argparse.Namespace) -> MonitorConfig:
    from monitor.logs import setup_logging

    setup_logging("WARNING")
    logging.getLogger("monitor.publish.destination").setLevel(logging.ERROR)  # `list` says it better
    return _load(args.config)


def _cmd_outbox_list(args: argparse.Namespace) -> int:
    from monitor.publish.destination import Destination, held

    config = _outbox_setup(args)
    found = held(config.delivery.outbox_dir)
    own = Destination.of(config.redis)
    for other in found:
        print(f"{other}{' (this config)' if other.destination == own else ''}")
    if not found:
        print(f"no outbox under {config.delivery.outbox_dir} holds messages")
    return 0


def _cmd_outbox_flush(args: argparse.Namespace) -> int:
    from monitor.publish.destination import UNRECORDED, Destination, adopt_unrecorded, held
    from monitor.publish.publisher import Publisher

    config = _outbox_setup(args)
    outbox_dir, own = config.delivery.outbox_dir, Destination.of(config.redis)
    names = set(args.names)
    if UNRECORDED in names:  # the person says where they go: this config's destination
        adopt_unrecorded(outbox_dir, own)
        names.add(own.name)
    found = [h for h in held(outbox_dir) if h.destination and (not names or h.name in names)]
    failed = 0
    for box in found:
        target = config.redis if box.destination == own else config.redis.model_copy(
            update={"url": box.destination.url, "prefix": box.destination.prefix, "password": None})
        publisher = Publisher(target, outbox_dir, delivery=config.delivery)
        delivered = publisher.flush(args.timeout)
        publisher.close(timeout=0.1)
        print(f"{box.name}: {'delivered' if delivered else 'NOT delivered (Redis does not answer)'} "
              f"{box.messages} messages to {box.destination}")
        failed += not delivered
    if not found:
        print("nothing to flush")
    return EXIT_RUNTIME if failed else 0


def _cmd_outbox_drop(args: argparse.Namespace) -> int:
    from monitor.publish.destination import drop

    config = _outbox_setup(args)
    try:
        gone = drop(config.delivery.outbox_dir, args.name)
    except KeyError:
        print(f"no outbox called {args.name!r} holds messages (`monitor outbox list` names them)", file=sys.stderr)
        return EXIT_CONFIG
    print(f"dropped {gone}")
    return 0


def _cmd_make_tiny(args: argparse.Namespace) -> int:
    from monitor.backends.llava_next_video.tiny import make_tiny_checkpoint

    path = make_tiny_checkpoint(args.dir)
    print(f"tiny random-weight LLaVA-NeXT-Video checkpoint written to {path}")
    print("its words are noise: it exists to test the real loading and inference path offline")
    return 0


def _add_ui(sub) -> None:
    ui = _subcommand(sub, "ui", "the operators' web page: camera tiles, live alerts, evidence")
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
    notify = _subcommand(sub, "notify", "forward alerts to webhooks and MQTT (Home Assistant), at least once")
    notify.add_argument("--config", type=Path, required=True, help="YAML config file (redis, notify, cameras)")
    notify.set_defaults(func=_cmd_notify)


def _cmd_notify(args: argparse.Namespace) -> int:
    from monitor.logs import setup_logging
    from monitor.notify.bridge import run_bridge

    config = load_config(args.config)
    setup_logging(config.log.level, config.log.format)
    return run_bridge(config, _stop_on_signals())


def _add_eval(sub) -> None:
    ev = _subcommand(sub, "eval", "score labelled clips as the daemon would; ROC/PR, alert rules, a threshold")
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
