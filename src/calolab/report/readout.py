"""The report's statement of the readout: which energies the results are made of.

Every report says whether its datasets were digitised, with which readout (per section:
technology, light yield, noise in MIP, threshold in σ of the noise, range), at which
calibration scale, and whether the training runs used the digitised or the true visible
energies, so that a resolution is never read without knowing what was measured.
"""

from __future__ import annotations

import html
from typing import Any

from calolab.geometry.detector import Calorimeter
from calolab.report.inputs import ReportInputs


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _find(d: object, key: str) -> Any:
    """The first value of ``key`` in nested dicts (None if absent)."""
    stack = [d]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if key in cur:
                return cur[key]
            stack.extend(cur.values())
    return None


def _readout_rows(det: Calorimeter) -> list[list[str]]:
    rows = []
    for s in det.sections:
        for layer in (la for la in s.layers if la.sensitive):
            cr = s.readout.for_layer(layer.mip_loss_mev)
            rows.append(
                [
                    det.name,
                    s.name,
                    s.readout.technology,
                    f"{cr.mip_mev:.3g}",
                    f"{cr.photoelectrons_per_mip:.3g}" if cr.photoelectrons_per_mip else "–",
                    (
                        f"{cr.noise_mip:.3g} ({cr.noise_mip * cr.mip_mev:.3g} MeV)"
                        if cr.noise_mip
                        else "–"
                    ),
                    f"{s.readout.threshold_sigma:g}σ" if cr.noise_mip else "–",
                    f"{det.section_noise_hits(s):.3g}",
                    f"{s.readout.channel_cost_chf:g}",
                ]
            )
    return rows


def section_readout(found: ReportInputs, page: object = None) -> str:
    """HTML stating the readout of the report's results (never empty)."""
    out = []
    if found.datasets:
        rows = []
        for ds in found.datasets:
            prov = ds.summary.get("provenance") or {}
            cfg = prov.get("config", {}) if isinstance(prov, dict) else {}
            digi = cfg.get("digitizer") if isinstance(cfg, dict) else None
            source = (cfg.get("source") or {}) if isinstance(cfg, dict) else {}
            if ds.summary.get("digitized"):
                how = (
                    f"yes, {digi.get('calibration', '?')} scale"
                    if isinstance(digi, dict)
                    else "yes"
                )
            elif isinstance(source, dict) and source.get("format") == "edm4hep":
                how = "imported hits (as in the source file)"
            else:
                how = "no: true visible energies only"
            rows.append([ds.path.name, (ds.summary.get("detector") or {}).get("name", "–"), how])
        out.append(
            "<p>Digitised cells follow each section's readout (below): photo-statistics, "
            "electronic noise, zero suppression and saturation; the true visible energies are "
            "kept next to them in every file.</p>"
        )
        out.append(_table(["dataset", "detector", "digitised"], rows))
    runs = [(r.label, _find(r.config, "digitized")) for r in found.runs]
    if runs:
        out.append(
            _table(
                ["training run", "trained on"],
                [
                    [label, "digitised cells" if used else "true visible energies"]
                    for label, used in runs
                ],
            )
        )
    dets = found.all_detectors()
    if dets:
        rows = [r for d in dets for r in _readout_rows(d)]
        out.append(
            "<p>Readout per section (1 MIP = dE/dx|min × thickness of the sensitive layer; "
            "noise σ per channel; threshold in units of the noise).</p>"
        )
        out.append(
            _table(
                [
                    "detector",
                    "section",
                    "technology",
                    "MIP (MeV)",
                    "pe/MIP",
                    "noise (MIP)",
                    "threshold",
                    "noise hits/event",
                    "CHF/channel",
                ],
                rows,
            )
        )
        warnings = [w for d in dets for w in d.readout_warnings()]
        if warnings:
            out.append(
                "<ul>" + "".join(f'<li class="warn">{_e(d)}</li>' for d in warnings) + "</ul>"
            )
    if not out:
        out.append(
            "<p>No dataset or detector among the inputs: the readout of these results (true "
            "or digitised energies) cannot be stated. Add the dataset files to the report.</p>"
        )
    return "".join(out)
