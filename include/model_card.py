"""The model card of a model version, in Markdown (the version's description in the MLflow UI)
and HTML (an artifact of the run, and the "Evaluation report" link in Airflow).

Written after evaluation and rewritten after promotion, so the approval section says
what actually happened. Everything on it comes from the spec, the evaluation report
and the lineage tags of the version: no second source of truth.
"""

from __future__ import annotations

import json
from pathlib import Path

from include.spec import ModelSpec

CARD_STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
img{max-width:100%;border:1px solid #eee;margin:4px 0}code{background:#f4f4f4;padding:1px 3px}"""


def card_dir(reports_dir: Path, model: str, version: str) -> Path:
    return Path(reports_dir) / model / "model-cards" / f"v{version}"


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _bound(bound: dict) -> str:
    return " and ".join(f"{'≥' if side == 'min' else '≤'} {bound[side]}" for side in ("min", "max") if bound.get(side) is not None) or "-"


def render_markdown(spec: ModelSpec, version: str, tags: dict, report: dict, plots: list[str]) -> str:
    """The card; ``plots`` are file names relative to the card (they sit beside it)."""
    champion = report.get("champion") or {}
    metrics = "\n".join(
        f"| {m} | {_fmt(v)} | {_fmt(champion[m]) if m in champion else '-'} | {_bound(report['thresholds'].get(m) or {})} |"
        for m, v in report["challenger"].items()
    )
    promoted = tags.get("promoted_at")
    if promoted:
        approval = f"**Promoted to champion** at {promoted} by `{tags.get('promoted_by')}` (Airflow run `{tags.get('promotion_airflow_run_id')}`): {tags.get('promotion_reason')}"
        if tags.get("promotion_trigger_reason"):
            approval += f"\n\nOperator's reason: {tags['promotion_trigger_reason']}"
    elif tags.get("promotion_blocked"):
        approval = f"**Not promoted**: {tags['promotion_blocked']}"
    elif tags.get("dry_run") == "true":
        approval = "**Dry run**: evaluated only, never promoted."
    else:
        approval = f"**{'Pending promotion' if report['promote'] else 'Rejected'}**: {report['reason']}"
    images = "\n\n".join(f"![{Path(p).stem.replace('_', ' ')}]({p})" for p in plots)
    return f"""# Model card: {spec.name} version {version}

## Intended use
{spec.description}

{spec.task.capitalize()} of `{spec.target}` from {', '.join(f'`{f}`' for f in spec.features.all)}, owned by **{spec.owner.team}**
({spec.owner.email or 'no e-mail'}). Estimator `{spec.estimator.class_}` with `{json.dumps(spec.estimator.params, sort_keys=True)}`.
Not meant for inputs outside the ranges its validation suite accepts.

## Data snapshot
| | |
|---|---|
| DVC md5 | `{tags.get('data_md5', '?')}` |
| remote | `{tags.get('data_remote', '?')}` |
| data up to | {tags.get('data_until') or '?'} ({spec.window_days}-day window) |
| holdout | {report['holdout_rows']} rows, {report['holdout_from']} to {report['holdout_to']} |

## Metrics (same holdout)
| metric | this version | champion{f" v{report['champion_version']}" if report.get('champion_version') else ''} | threshold |
|---|---|---|---|
{metrics}

Promotion needs `{report['primary_metric']}` to beat the champion by more than {report['promotion_margin']}.

## Validation
Great Expectations suite generated from the model YAML passed on this snapshot. Report: `{tags.get('validation_report') or 'not recorded'}`.

## Lineage
| | |
|---|---|
| MLflow run | `{report.get('challenger_run_id', '?')}` |
| fingerprint | `{tags.get('fingerprint', '?')}` |
| git commit | `{tags.get('git_commit', '?')}` |
| Airflow | `{tags.get('airflow_dag_id', '?')}` / `{tags.get('airflow_run_id', '?')}` ({tags.get('run_type') or 'run'}) |
| trigger reason | {tags.get('trigger_reason') or '-'} |
| overrides | `{tags.get('overrides') or '{}'}` |

## Approval
Decision: {report['reason']}

{approval}

## Plots
{images}
"""


def render_html(markdown_text: str, title: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{CARD_STYLE}</style></head><body>{body}</body></html>"


def publish_model_card(spec: ModelSpec, registry, version: str, reports_dir: Path) -> Path:
    """(Re)write the card of ``version`` from its saved evaluation report and current tags.

    Files go to the reports folder (served by the Airflow plugin) and to the run's
    ``model_card/`` artifacts; the Markdown becomes the version's description in MLflow.
    """
    out = card_dir(reports_dir, spec.name, version)
    report = json.loads((out / "evaluation_report.json").read_text())
    ref = registry.version(spec.name, version)
    plots = sorted(p.name for p in out.glob("*.png"))
    markdown_text = render_markdown(spec, version, ref.tags, report, plots)
    (out / "model_card.md").write_text(markdown_text, encoding="utf-8")
    (out / "model_card.html").write_text(render_html(markdown_text, f"{spec.name} v{version}"), encoding="utf-8")
    client = registry.client
    client.log_artifacts(ref.run_id, str(out), "model_card")
    # In the MLflow UI the description shows as Markdown; plots are a click away in the run's artifacts.
    client.update_model_version(spec.name, version, description=markdown_text.split("## Plots")[0] + "\nPlots: the run's artifacts, folder `model_card/`.")
    return out / "model_card.html"


def write_evaluation_artifacts(spec: ModelSpec, registry, report: dict, snapshot, reports_dir: Path) -> Path:
    """Plots + saved report for the evaluated challenger (on the evaluation's holdout), then its model card."""
    from include.evaluation_plots import evaluation_plots
    from include.preprocessing import features_and_target, split_holdout

    version = str(report["challenger_version"])
    out = card_dir(reports_dir, spec.name, version)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation_report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    try:
        challenger = registry.load(registry.version(spec.name, version))
    except Exception:  # noqa: BLE001 - the evaluation already rejected it for that; the card says why
        challenger = None
    if challenger is not None:
        _, holdout = split_holdout(snapshot, spec.source.date_column, spec.evaluation.holdout_fraction)
        x, y = features_and_target(holdout, spec)
        evaluation_plots(spec, challenger, x, y, report, out)
    return publish_model_card(spec, registry, version, reports_dir)
