"""The report's section on design studies (``calolab report STUDY_DIR``).

For each study directory of ``calolab optimize run``: the Pareto front of every performance
objective against cost, with error bars, the reference designs (the presets) and, when
``calolab optimize confirm`` ran, the confirmed values; a table of the front; the objectives
against the design quantities behind the physics rules (sampling term 2.7 % √(d/f), depth in
X0, total depth in λI); Optuna's parameter importances; every objective against every
parameter; and the material stacks of the best designs.
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from calolab.report import plots

log = logging.getLogger(__name__)

STUDY_MARKER = "study.json"


# ----------------------------------------------------------------------------- inputs
def is_study_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a study directory (``study.json`` and ``study.db``)."""
    p = Path(path)
    return (p / STUDY_MARKER).is_file() and (p / "study.db").is_file()


def inside_study(path: Path) -> bool:
    """Whether a file lies in a study directory (its designs are shown by this section)."""
    return any(is_study_dir(parent) for parent in path.parents)


def add_study(found: Any, directory: Path) -> None:
    """Read a study into ``found.studies`` (a note instead when it cannot be read)."""
    try:
        from calolab.optimization import load_study, read_confirmation

        results = load_study(directory)
        confirm = read_confirmation(directory)
    except Exception as exc:  # a damaged study never stops the report
        found.note(directory, f"study not readable: {type(exc).__name__}: {exc}")
        return
    if any(s[0].directory.resolve() == results.directory.resolve() for s in found.studies):
        return
    found.studies.append((results, confirm))


# ----------------------------------------------------------------------------- plots
def _pct(o: Any) -> float:
    return 100.0 if o.is_fraction else 1.0


def _axis_label(o: Any) -> str:
    return f"{o.label.split(' (')[0]} (%)" if o.is_fraction else o.label


def pareto_figure(results: Any, confirm: dict[str, Any] | None) -> Figure:
    """Each performance objective against cost: all measured designs, the front with error
    bars, the references, and the confirmed values."""
    perf = list(results.performance_objectives)
    n = max(1, len(perf))
    cols = min(2, n)
    rows = math.ceil(n / cols)
    feasible = [t for t in results.complete if t.feasible]
    front = results.front()
    refs = results.references()
    confirmed = {d["trial"]: d for d in (confirm or {}).get("designs", [])}
    with plots.style():
        fig = Figure(figsize=(6.2 * cols, 4.2 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, o in zip(axes, perf):
            s = _pct(o)
            ax.scatter(
                [results.cost(t) for t in feasible],
                [s * t.value(o.name) for t in feasible],
                s=9,
                color="#b0b0b0",
                label="measured designs",
            )
            ax.errorbar(
                [results.cost(t) for t in front],
                [s * t.value(o.name) for t in front],
                yerr=[s * t.error_of(o.name) for t in front],
                fmt="o",
                color=plots.COLOURS[0],
                ms=4,
                label="Pareto front",
            )
            cx, cy, ce = [], [], []
            bx, by = [], []  # confirmations that disagree with the search
            for t in front:
                c = confirmed.get(t.number)
                if c and o.name in c.get("confirm", {}):
                    cx.append(results.cost(t))
                    cy.append(s * c["confirm"][o.name]["value"])
                    ce.append(s * c["confirm"][o.name]["error"])
                    if c.get("disagreements"):
                        bx.append(results.cost(t))
                        by.append(s * c["confirm"][o.name]["value"])
            if bx:
                ax.scatter(
                    bx,
                    by,
                    marker="x",
                    s=70,
                    color="#d62728",
                    zorder=5,
                    label="confirmation disagrees",
                )
            if cx:
                ax.errorbar(
                    cx,
                    cy,
                    yerr=ce,
                    fmt="s",
                    mfc="none",
                    color=plots.COLOURS[2],
                    ms=5,
                    label="front, confirmed",
                )
            for k, r in enumerate(refs):
                ax.errorbar(
                    [results.cost(r)],
                    [s * r.value(o.name)],
                    yerr=[s * r.error_of(o.name)],
                    fmt="*",
                    ms=12,
                    color=plots.COLOURS[(3 + k) % len(plots.COLOURS)],
                    label=r.reference,
                )
            budget = results.space.constraints.budget_chf
            if budget is not None:
                ax.axvline(budget, color="black", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_xlabel(f"{results.space.constraints.cost_label} (CHF)")
            ax.set_ylabel(_axis_label(o))
            ax.set_ylim(0, None)
        for ax in axes[len(perf) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize=8.5, loc="upper right")
    return fig


def quantity_figure(results: Any, quantities: Sequence[tuple[str, str]]) -> Figure | None:
    """Performance objectives against design quantities (the physics rules)."""
    perf = list(results.performance_objectives)
    trials = [t for t in results.complete if t.duplicate_of is None]
    qs = [
        (k, lab)
        for k, lab in quantities
        if any(np.isfinite(t.design.get(k, np.nan)) for t in trials)
    ]
    if not perf or not qs or not trials:
        return None
    front = {t.number for t in results.front()}
    with plots.style():
        fig = Figure(figsize=(3.6 * len(qs), 3.0 * len(perf)), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(perf), len(qs), squeeze=False))
        for i, o in enumerate(perf):
            s = _pct(o)
            for j, (k, lab) in enumerate(qs):
                ax = axes[i, j]
                x = np.array([t.design.get(k, np.nan) for t in trials])
                y = np.array([s * t.value(o.name) for t in trials])
                f = np.array([t.number in front for t in trials])
                ax.scatter(x[~f], y[~f], s=7, color="#9a9a9a")
                ax.scatter(x[f], y[f], s=12, color=plots.COLOURS[0])
                if i == len(perf) - 1:
                    ax.set_xlabel(lab, fontsize=10)
                if j == 0:
                    ax.set_ylabel(_axis_label(o), fontsize=9)
                ax.tick_params(labelsize=8)
                finite = y[np.isfinite(y)]
                if finite.size:
                    ax.set_ylim(0, float(np.percentile(finite, 97)) * 1.3)
    return fig


def parameter_figure(results: Any, objective: Any) -> Figure:
    """One objective against every parameter (categorical ones as categories)."""
    params = list(results.space.parameters)
    trials = [t for t in results.complete if t.duplicate_of is None]
    front = {t.number for t in results.front()}
    cols = min(4, max(1, len(params)))
    rows = max(1, math.ceil(len(params) / cols))
    s = _pct(objective)
    with plots.style():
        fig = Figure(figsize=(3.3 * cols, 2.6 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        y = np.array([s * t.value(objective.name) for t in trials])
        f = np.array([t.number in front for t in trials])
        for ax, p in zip(axes, params):
            raw = [t.params.get(p.name) for t in trials]
            if p.kind == "categorical":
                labels = [str(c) for c in p.choices]
                x = np.array([labels.index(str(v)) if str(v) in labels else -1 for v in raw], float)
                x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))
                ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=20)
            else:
                x = np.array([np.nan if v is None else float(v) for v in raw])
            ax.scatter(x[~f], y[~f], s=6, color="#9a9a9a")
            ax.scatter(x[f], y[f], s=10, color=plots.COLOURS[0])
            ax.set_xlabel(p.name, fontsize=9)
            ax.tick_params(labelsize=8)
            finite = y[np.isfinite(y)]
            if finite.size:
                ax.set_ylim(0, float(np.percentile(finite, 97)) * 1.3)
        for ax in axes[len(params) :]:
            ax.set_visible(False)
        fig.suptitle(_axis_label(objective), fontsize=11)
    return fig


def importance_figure(importances: dict[str, dict[str, float]], labels: dict[str, str]) -> Figure:
    """Optuna's parameter importances, one panel per objective (top 8 parameters)."""
    names = list(importances)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    with plots.style():
        fig = Figure(figsize=(4.6 * cols, 2.8 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, name in zip(axes, names):
            items = sorted(importances[name].items(), key=lambda kv: -kv[1])[:8][::-1]
            ax.barh([k for k, _ in items], [v for _, v in items], color=plots.COLOURS[0])
            ax.set_title(labels.get(name, name), fontsize=10)
            ax.tick_params(labelsize=8)
            ax.set_xlim(0, 1)
        for ax in axes[len(names) :]:
            ax.set_visible(False)
    return fig


# ----------------------------------------------------------------------------- html
def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _pm(v: float, err: float, scale: float = 1.0) -> str:
    if not math.isfinite(v):
        return "–"
    x = v * scale
    if not math.isfinite(err) or err <= 0:
        return f"{x:.4g}"
    e = err * scale
    dec = max(0, 1 - math.floor(math.log10(e)))
    return f"{x:.{dec}f} ± {e:.{dec}f}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int = 1) -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i >= numeric_from else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(v)}</td>' if i >= numeric_from else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _quantities(results: Any) -> list[tuple[str, str]]:
    """Design quantities worth plotting: the first section's sampling variable and depth in
    X0, and the total depth in λI."""
    sections = [s.get("name") for s in results.space.table.get("sections", [])]
    out = []
    if sections:
        first = sections[0]
        out.append((f"{first}.rule_stochastic", f"{first}: 2.7 % √(d[mm] / f_samp)"))
        out.append((f"{first}.depth_x0", f"{first} depth (X0)"))
    out.append(("depth_lambda_i", "total depth (λI)"))
    out.append(("length_cm", "length (cm)"))
    return out


def _best_designs(results: Any) -> list[Any]:
    front = results.front()
    picks: dict[int, Any] = {}
    for o in results.performance_objectives:
        best = min(front, key=lambda t: t.value(o.name), default=None)
        if best is not None:
            picks.setdefault(best.number, best)
    if front:
        cheapest = min(front, key=results.cost)
        picks.setdefault(cheapest.number, cheapest)
    return list(picks.values())[:5]


def section(studies: Sequence[tuple[Any, dict[str, Any] | None]], page: Any) -> str | None:
    """HTML of the design-optimisation section (``None`` without studies)."""
    if not studies:
        return None
    out = []
    for results, confirm in studies:
        out.append(_one_study(results, confirm, page))
    return "".join(out)


def _one_study(results: Any, confirm: dict[str, Any] | None, page: Any) -> str:
    name = results.space.name
    counts: dict[str, int] = {}
    for t in results.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    perf = list(results.performance_objectives)
    out = [
        f"<h3>Study of the space '{_e(name)}' <small>({_e(results.directory)})</small></h3>",
        "<p class='lead'>"
        + _e(
            f"{counts.get('complete', 0)} designs measured with {results.info.get('events')} "
            f"showers per particle and energy ({results.info.get('method')}, seed "
            f"{results.info.get('seed')}); {counts.get('infeasible', 0)} proposals outside the "
            f"constraints ({results.space.constraints.describe()}) were skipped without "
            f"simulation; {counts.get('failed', 0)} failed; {results.showers:,} showers "
            f"simulated in {results.wall_seconds / 3600:.2f} h of wall time."
        )
        + "</p>",
    ]
    front = sorted(results.front(), key=results.cost)
    refs = results.references()
    c = results.space.constraints
    if not front:
        out.append("<p>No feasible design measured yet.</p>")
        return "".join(out)
    out.append(
        page.figure(
            f"pareto-{name}",
            pareto_figure(results, confirm),
            "Each performance objective against cost: grey, every measured feasible design; "
            "blue, the Pareto front (all objectives together) with statistical errors; stars, "
            "the reference designs; open squares, the front measured again by "
            "<code>calolab optimize confirm</code>. Dotted: the budget. Cost: "
            f"{_e(c.cost_label)}, the cost the budget constrains.",
            f"Pareto front of {name}",
        )
    )
    confirmed = {d["trial"]: d for d in (confirm or {}).get("designs", [])}

    def verdict(number: int) -> list[str]:
        if not confirm:
            return []
        d = confirmed.get(number)
        if d is None:
            return ["not confirmed"]
        why = d.get("disagreements") or []
        return ["DISAGREES: " + "; ".join(why) if why else "agrees"]

    headers = ["design", c.cost_short, "length (cm)"] + [_axis_label(o) for o in perf] + ["beats"]
    if confirm:
        headers.append("confirmation")
    rows = []
    for r in refs:
        rows.append(
            [r.reference + ("" if r.feasible else " (outside the constraints)")]
            + [f"{results.cost(r):,.0f}", f"{r.design.get('length_cm', 0):.1f}"]
            + [_pm(r.value(o.name), r.error_of(o.name), _pct(o)) for o in perf]
            + [""]
            + verdict(r.number)
        )
    for t in front:
        rows.append(
            [f"trial {t.number}" + (f" ({t.reference})" if t.reference else "")]
            + [f"{results.cost(t):,.0f}", f"{t.design.get('length_cm', 0):.1f}"]
            + [_pm(t.value(o.name), t.error_of(o.name), _pct(o)) for o in perf]
            + [", ".join(r.reference for r in refs if results.beats(t, r))]
            + verdict(t.number)
        )
    out.append("<h4>The front and the references</h4>")
    out.append(_table(headers, rows, numeric_from=1))
    if confirm:
        out.append(_confirm_html(confirm, perf))
    fig = quantity_figure(results, _quantities(results))
    if fig is not None:
        out.append("<h4>What the designs teach: objectives against design quantities</h4>")
        out.append(
            page.figure(
                f"quantities-{name}",
                fig,
                "Every measured design (grey; blue: on the front) against the stochastic term "
                "the sampling rule predicts for the first section, a ≈ 2.7 % √(d/f_samp) (d: "
                "active thickness per period in mm, f_samp: MIP sampling fraction; PDG review "
                "'Calorimetry'), the depth of the first section in X0 and the total depth in λI.",
                "objectives against design quantities",
            )
        )
    imps = results.importances()
    if imps:
        labels = {o.name: o.label for o in results.objectives}
        out.append(
            page.figure(
                f"importances-{name}",
                importance_figure(imps, labels),
                "Parameter importances for each objective (Optuna, PED-ANOVA: how much each "
                "parameter separates the best tenth of the designs from the rest).",
                "parameter importances",
            )
        )
    details = []
    for o in perf:
        details.append(
            page.figure(
                f"params-{name}-{o.name}",
                parameter_figure(results, o),
                _e(f"{o.label} against every parameter (blue: on the front)."),
                f"{o.name} against the parameters",
            )
        )
    out.append(
        "<details><summary>Each objective against each parameter</summary>"
        + "".join(details)
        + "</details>"
    )
    stacks = []
    for t in _best_designs(results):
        try:
            det = results.design(t)
        except Exception as exc:  # pragma: no cover - a design of the study always builds
            log.warning("design of trial %d: %s", t.number, exc)
            continue
        best_for = [o.label for o in perf if t is min(front, key=lambda x: x.value(o.name))]
        what = ("best " + ", ".join(best_for)) if best_for else "cheapest on the front"
        stacks.append(
            page.figure(
                f"stack-{name}-{t.number}",
                plots.detector_layout(det),
                _e(
                    f"Trial {t.number} ({what}): {det.material_cost_chf:,.0f} CHF of materials "
                    f"+ {det.channel_cost_chf:,.0f} CHF of readout ({det.n_channels:,} "
                    f"channels; the budget counts {c.cost}), "
                    f"{det.depth_cm:.1f} cm, {det.depth_x0:.1f} X0, {det.depth_lambda_i:.2f} λI "
                    f"— designs/trial-{t.number}.toml"
                ),
                f"stack of trial {t.number}",
            )
        )
    if stacks:
        out.append("<h4>The best designs</h4>" + "".join(stacks))
    return "".join(out)


def _num(x: Any) -> float:
    """A number of a JSON file (``null`` for NaN)."""
    return math.nan if x is None else float(x)


def _confirm_html(confirm: dict[str, Any], perf: Sequence[Any]) -> str:
    rows = []
    for d in confirm.get("designs", []):
        name = d.get("reference") or f"trial {d['trial']}"
        cells = []
        for o in perf:
            a = d.get("search", {}).get(o.name)
            b = d.get("confirm", {}).get(o.name)
            if a and b:
                cells.append(
                    f"{_pm(a['value'], a['error'], _pct(o))} → {_pm(b['value'], b['error'], _pct(o))}"
                )
            else:
                cells.append("–")
        why = d.get("disagreements")
        rows.append([name, *cells, "DISAGREES: " + "; ".join(why) if why else "agrees"])
    lines = []
    for name, r in (confirm.get("ranking") or {}).items():
        flips = r.get("reversed_pairs") or []
        lines.append(
            f"<li>Ranking by {_e(name)}: "
            + (
                "<b>holds</b>"
                if r.get("holds")
                else f"<b>does not hold</b> ({len(flips)} pairs reversed beyond "
                f"{_e(confirm.get('reversal_sigma'))}σ)"
            )
            + _e(
                f"; Kendall τ {_num(r.get('kendall_tau')):.2f} over {r.get('designs')} "
                f"designs; best in the search: trial {r.get('best_in_search')}, confirmed: "
                f"trial {r.get('best_confirmed')}"
            )
            + "</li>"
        )
    for c in confirm.get("comparisons", []):
        beaten = c.get("beaten_by_confirmed") or []
        lines.append(
            f"<li>{_e(c['reference'])}: "
            + (
                _e("beaten at equal or lower cost by " + ", ".join(f"trial {n}" for n in beaten))
                if beaten
                else "no front design beats it on every performance objective"
            )
            + "</li>"
        )
    return (
        f"<h4>Confirmation with {_e(confirm.get('events_confirm'))} showers per point "
        f"(search: {_e(confirm.get('events_search'))})</h4>"
        + _table(["design", *(_axis_label(o) for o in perf), "confirmation"], rows, numeric_from=1)
        + "<p>"
        + _e(
            f"A design disagrees when a confirmed value lies more than "
            f"{confirm.get('pull_limit', 3)} standard deviations from its search value, or a "
            "reference it beat in the search is no longer beaten; the search picks the front "
            "from noisy numbers, so its values are biased low."
        )
        + "</p>"
        + f"<ul class='notes'>{''.join(lines)}</ul>"
    )
