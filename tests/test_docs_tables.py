"""The model columns of docs/validation.md's tables are what the code computes now: a table
whose numbers the code no longer gives fails here (the e/h table of 2026-12-03 kept GFlash's
thick-layer e/mip for two days after the hadronic response had moved to the sampling model's
e/mip with the transition effect). The simulated columns are measurements of a run and are
not checked here; `scripts/hadron_validation.py` regenerates the whole table."""

from __future__ import annotations

from pathlib import Path

from calolab.physics.hadronic import section_response
from calolab.simulation.hadron_references import REFERENCES

ROOT = Path(__file__).resolve().parents[1]


def _table_after(marker: str) -> list[list[str]]:
    """Cells of the rows of the first Markdown table after ``marker`` in docs/validation.md."""
    text = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    lines = text[text.index(marker) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_e_over_h_table_matches_the_hadronic_model():
    rows = _table_after("**e/h and π resolution of published designs**")
    assert len(rows) == len(REFERENCES)
    for row, ref in zip(rows, REFERENCES):
        r = section_response(ref.section())
        expected = [
            f"{r.ehat:.3f}",
            f"{r.p_over_mip:.2f}",
            f"{r.n_over_mip:.2f} ({r.neutron_to_hydrogen:.2f})",
            f"{r.h_over_mip:.3f}",
            f"**{r.e_over_h:.2f}**",
        ]
        assert row[1:6] == expected, (ref.name, row[1:6], expected)
