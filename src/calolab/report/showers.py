"""The report's section on shower comparisons: the ``compare.json`` files written by
``calolab compare`` (classifier AUCs, the histograms that separate most, and the plots of
the comparison directory)."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calolab.core.errors import DataError

#: Plots of a comparison directory shown in the report, in this order.
SHOWN_PLOTS = ("profile.png", "etot.png", "layers.png")


@dataclass(frozen=True)
class ComparisonInput:
    """A ``compare.json`` of ``calolab compare`` and the directory holding its plots."""

    path: Path
    data: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.data['a'].get('name')} vs {self.data['b'].get('name')}"


def read_comparison(path: Path) -> ComparisonInput:
    """Read a ``compare.json``; :class:`DataError` when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"'{path}' is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("task") != "shower-comparison":
        raise DataError(
            f'\'{path}\' is not a calolab compare result (no "task": "shower-comparison")'
        )
    for key in ("a", "b", "classifiers", "separation_power"):
        if key not in data:
            raise DataError(f"'{path}': the compare result has no '{key}'")
    return ComparisonInput(Path(path), data)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(v: object, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "—"


def section_showers(comparisons: list[ComparisonInput]) -> str | None:
    """HTML of the section, or ``None`` without comparisons."""
    if not comparisons:
        return None
    parts = [
        "<p>Two sets of showers compared with the CaloChallenge metrics (<code>calolab "
        "compare</code>): a classifier trained to tell them apart — AUC 0.5: it cannot, 1: "
        "it always can (± the Hanley–McNeil error of the test split) — and the separation "
        "power of each high-level histogram (0: identical, 1: disjoint; beside it the value "
        "statistical fluctuations alone would give).</p>"
    ]
    for c in comparisons:
        d = c.data
        rows = []
        for r in d["classifiers"]:
            feats = r.get("features", "")
            if feats == "low":
                feats += f" ({d.get('low_level', '')})"
            rows.append(
                f"<tr><td>{_e(r.get('classifier'))}</td><td>{_e(feats)}</td>"
                f'<td class="num">{_fmt(r.get("auc"))} ± {_fmt(r.get("auc_err"))}</td>'
                f'<td class="num">{_fmt(r.get("jsd"))}</td></tr>'
            )
        sep = d.get("separation_power", {})
        noise = d.get("separation_power_if_identical", {})
        worst = sorted(sep.items(), key=lambda kv: -kv[1])[:6]
        sep_rows = "".join(
            f'<tr><td>{_e(k)}</td><td class="num">{_fmt(v, 4)}</td>'
            f'<td class="num">{_fmt(noise.get(k), 4)}</td></tr>'
            for k, v in worst
        )
        windows = d.get("depth_windows") or []
        depth_note = (
            "<p>Depth windows (the layers holding these shares of the first sample's mean "
            "energy): "
            + ", ".join(
                f"{_e(w.get('features'))}: {_fmt(w.get('reference_energy', [None])[0], 2)}–"
                f"{_fmt(w.get('reference_energy', [None, None])[-1], 2)}"
                for w in windows
            )
            + ".</p>"
            if windows
            else ""
        )
        m = d.get("response_match")
        match_note = (
            "<p>Response matched: the second sample's energies × "
            f"{_fmt(m.get('factor'), 4)} ± {_fmt(m.get('error'), 4)} (mean E<sub>vis</sub>/"
            f"E<sub>inc</sub>: {_fmt(m.get('response_a'), 5)} and {_fmt(m.get('response_b'), 5)}"
            "); the classifiers and histograms compare the matched energies.</p>"
            if m
            else ""
        )
        figs = []
        for name in SHOWN_PLOTS:
            p = c.path.parent / name
            if name in d.get("plots", []) and p.is_file():
                b64 = base64.b64encode(p.read_bytes()).decode()
                figs.append(
                    f'<figure class="plot"><img alt="{_e(name)}" src="data:image/png;base64,'
                    f'{b64}"><figcaption>{_e(name)}</figcaption></figure>'
                )
        parts.append(
            f"<h3>{_e(c.label)}</h3><p>{_e(d['a'].get('events'))} and "
            f"{_e(d['b'].get('events'))} events; {_e(c.path)}</p>{match_note}"
            '<div class="table-wrap"><table><thead><tr><th>classifier</th><th>features</th>'
            '<th class="num">AUC</th><th class="num">JSD</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>{depth_note}"
            '<div class="table-wrap"><table><thead><tr><th>histogram</th>'
            '<th class="num">separation</th><th class="num">if identical</th></tr></thead>'
            f"<tbody>{sep_rows}</tbody></table></div>" + "".join(figs)
        )
    return "".join(parts)
