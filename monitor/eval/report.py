"""report.json and report.html (ROC/PR plots, the alert rules per threshold, the worst cases as thumbnails)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:1.6em}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #d0d7de;padding:2px 6px;text-align:right}th{background:#f6f8fa}
tr.rec{background:#fff8c5}.plots img{width:32%;min-width:300px}.cases{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;font-size:11px;width:200px}figure img{width:192px}.big{font-size:18px}"""


def write_report(out: Path, report: dict, results: list) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "thumbs").mkdir(exist_ok=True)
    _plots(out, report)
    thumbs = {(w.video, w.seq): w.thumb for r in results for w in r.windows}
    for kind in ("false_positives", "misses"):
        for i, row in enumerate(report["worst"][kind]):
            row["thumb"] = f"thumbs/{kind}-{i}.jpg"
            (out / row["thumb"]).write_bytes(thumbs[(row["video"], row["seq"])])
    (out / "report.json").write_text(json.dumps({k: v for k, v in report.items() if k != "curves"}, indent=2))
    (out / "report.html").write_text(_html(report))


def _plots(out: Path, report: dict) -> None:
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for name, c in report["curves"].items():
        ax.plot(c["fpr"], c["tpr"], label=f"{name} (AUC {_f(report[name]['roc_auc'])})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for name, c in report["curves"].items():
        ax.step(c["recall"], c["precision"], where="post", label=f"{name} (AP {_f(report[name]['average_precision'])})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.05), xlim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "pr.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for name, rows in report["alert_rules"].items():
        ax.plot([r["threshold"] for r in rows], [r["false_alerts_per_hour"] or 0 for r in rows], label=f"{name} rules")
    ax.axvline(report["recommended"]["threshold"], color="#bf8700", ls="--", label="recommended")
    ax.set(xlabel="alerts.threshold", ylabel="false alerts per hour", title="Alert rules")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "alerts.png", dpi=110)
    plt.close(fig)


def _html(r: dict) -> str:
    rec = r["recommended"]
    c = r["clips"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>monitor eval</title><style>{STYLE}</style>"
             "</head><body><h1>monitor eval</h1>",
             f"<p>{c['videos']} videos, {c['windows']} clips ({c['positive_windows']} anomalous), {c['events']} "
             f"events, {c['hours']:.3f} h of video. Model <code>{_e(r['config']['model']['id'])}</code> "
             f"({_e(r['config']['model']['backend'])}); window {r['config']['window']}.</p>",
             f"<p class='big'>Recommended <code>alerts.threshold: {rec['threshold']}</code> <small>({_e(rec['why'])})"
             "</small></p>",
             "<table><tr><th>level</th><th>units</th><th>positives</th><th>ROC AUC</th><th>average precision</th></tr>"]
    for name in ("clip", "event", "video"):
        lv = r[name]
        parts.append(f"<tr><th>{name}</th><td>{lv['units']}</td><td>{lv['positives']}</td><td>{_f(lv['roc_auc'])}"
                     f"</td><td>{_f(lv['average_precision'])}</td></tr>")
    parts += ["</table><div class='plots'><img src='roc.png' alt='ROC'><img src='pr.png' alt='PR'>"
              "<img src='alerts.png' alt='false alerts per hour'></div>",
              "<h2>Alert rules per threshold</h2><p>configured: open_after, close_after and smoothing of the config; "
              "raw: every clip at the threshold alerts. Cooldown and de-duplication are not replayed.</p>",
              _rules_table(r["alert_rules"], rec["threshold"]),
              "<h2>Clip level, per threshold</h2>", _table(r["clip"]["thresholds"], rec["threshold"]),
              "<h2>Worst false positives</h2>", _cases(r["worst"]["false_positives"]),
              "<h2>Worst misses</h2>", _cases(r["worst"]["misses"]), "</body></html>"]
    return "\n".join(parts)


def _rules_table(rules: dict, recommended: float) -> str:
    head = ("<table><tr><th>threshold</th><th>alerts</th><th>false</th><th>false / h</th><th>events found</th>"
            "<th>precision</th><th>recall</th><th>F1</th><th>raw alerts</th><th>raw false / h</th></tr>")
    rows = []
    for cfg, raw in zip(rules["configured"], rules["raw"]):
        mark = " class='rec'" if cfg["threshold"] == recommended else ""
        rows.append(f"<tr{mark}><td>{cfg['threshold']:.2f}</td><td>{cfg['alerts']}</td><td>{cfg['false_alerts']}</td>"
                    f"<td>{_f(cfg['false_alerts_per_hour'])}</td><td>{cfg['events_detected']}/{cfg['events']}</td>"
                    f"<td>{cfg['precision']:.3f}</td><td>{cfg['recall']:.3f}</td><td>{cfg['f1']:.3f}</td>"
                    f"<td>{raw['alerts']}</td><td>{_f(raw['false_alerts_per_hour'])}</td></tr>")
    return head + "".join(rows) + "</table>"


def _table(rows: list[dict], recommended: float) -> str:
    cols = ["threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1"]
    out = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for row in rows:
        mark = " class='rec'" if row["threshold"] == recommended else ""
        out.append(f"<tr{mark}>" + "".join(f"<td>{row[c]}</td>" for c in cols) + "</tr>")
    return "".join(out) + "</table>"


def _cases(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    figs = [f"<figure><img src='{row['thumb']}' alt=''><figcaption>{_e(row['video'])} {row['start']:.1f}-"
            f"{row['end']:.1f} s<br>score {row['score']:.3f}</figcaption></figure>" for row in rows]
    return "<div class='cases'>" + "".join(figs) + "</div>"


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _e(text) -> str:
    return html.escape(str(text))
