"""The monitoring report a person reads: one self-contained HTML file with a plot per feature."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from include.monitoring.check import MonitoringResult


def _plot(feature: dict, reference: pd.Series, live: pd.Series) -> str:
    """A PNG (base64) of training vs live: histograms for numeric, category shares for categorical."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=80)
    try:
        if feature["kind"] == "numeric":
            ref, cur = pd.to_numeric(reference, errors="coerce").dropna(), pd.to_numeric(live, errors="coerce").dropna()
            both = pd.concat([ref, cur])
            bins = 30 if both.nunique() > 30 else max(both.nunique(), 1)
            ax.hist(ref, bins=bins, range=(both.min(), both.max()), density=True, alpha=0.5, label=f"training ({len(ref)})")
            ax.hist(cur, bins=bins, range=(both.min(), both.max()), density=True, alpha=0.5, label=f"live ({len(cur)})")
        else:
            ref = reference.astype("object").fillna("<null>").astype(str).value_counts(normalize=True)
            cur = live.astype("object").fillna("<null>").astype(str).value_counts(normalize=True)
            shares = pd.DataFrame({"training": ref, "live": cur}).fillna(0.0).sort_index()
            shares.plot.bar(ax=ax, alpha=0.7, rot=0)
        ax.set_title(f"{feature['feature']}: {feature['test']} {feature['statistic']:.3f}, p={feature['p_value']:.2g}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_report(result: MonitoringResult, reference: pd.DataFrame, live: pd.DataFrame, path: Path) -> Path:
    e = html.escape
    rows = "".join(
        f"<tr class={'drift' if f['drifted'] else 'ok'}><td>{e(f['feature'])}</td><td>{f['kind']}</td><td>{f['test']}</td>"
        f"<td>{f['statistic']:.4f}</td><td>{f['p_value']:.3g}</td><td>{f['reference_rows']}</td><td>{f['live_rows']}</td><td>{'DRIFT' if f['drifted'] else 'ok'}</td></tr>"
        for f in result.features
    )
    plots = "".join(f"<img alt='{e(f['feature'])}' src='data:image/png;base64,{_plot(f, reference[f['feature']], live[f['feature']])}'>" for f in result.features)
    quality = "".join(f"<tr><td>{e(k)}</td><td>{v:.4f}</td></tr>" for k, v in result.quality.items()) or "<tr><td colspan=2>no outcomes in the window</td></tr>"
    verdict = "RETRAIN" if result.retrain else "no action"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(result.model)} monitoring</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}
tr.drift{{background:#fdd}}img{{margin:4px;border:1px solid #eee}}.verdict{{font-size:1.3em;font-weight:bold}}</style></head><body>
<h1>{e(result.model)} version {e(result.version)}: live inputs vs training data</h1>
<p>Window {_when(result.window_start)} to {_when(result.window_end)}: {result.live_rows} live rows, {result.outcome_rows} with outcomes.</p>
<p class="verdict">{verdict}</p><p>{e(result.reason)}</p>
<h2>Drift per feature</h2>
<table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th><th>training rows</th><th>live rows</th><th></th></tr>{rows}</table>
<h2>Live quality</h2><table><tr><th>metric</th><th>value</th></tr>{quality}</table>
<h2>Distributions</h2>{plots}
</body></html>"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
