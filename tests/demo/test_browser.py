"""The demo report in a real browser: headless Chromium (Debian's package) driven by
Playwright. No console errors, no network requests, every section visible, and the event
display draws showers and responds to the mouse."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("quick_demo")]

#: Chromium flags for a headless run without network or sandbox (CI containers run as root).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: The sections the demo's report must show.
DEMO_SECTIONS = ("summary", "events", "performance", "training", "datasets", "detectors")


def find_chromium() -> str | None:
    """$CALOLAB_CHROMIUM, else chromium on the PATH, else Debian's /usr/bin/chromium."""
    env = os.environ.get("CALOLAB_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install 'calolab[browser]'"
    )
    exe = find_chromium()
    if exe is None:
        pytest.skip(
            "no Chromium found: install Debian's chromium (bash scripts/setup-browser.sh) or "
            "set CALOLAB_CHROMIUM to a Chromium executable"
        )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _shower_pixels(img: np.ndarray) -> int:
    """Pixels in the warm colours of the energy scale (inferno): red well above blue. The
    background, the detector outline (blue-grey) and the white text are not."""
    r, b = img[..., 0], img[..., 2]
    return int(np.count_nonzero((r > 120) & (r > b + 60)))


def test_demo_report_in_chromium(quick_demo, browser, tmp_path):
    report = quick_demo / "report.html"
    shots = Path(os.environ.get("CALOLAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto(report.resolve().as_uri())
    page.wait_for_function("window.calolabEventDisplay !== undefined")
    page.wait_for_timeout(300)

    # every section is there and visible, with its title in the navigation
    for sid in DEMO_SECTIONS:
        sec = page.locator(f"section#{sid}")
        assert sec.count() == 1, f"section {sid} missing"
        sec.scroll_into_view_if_needed()
        assert sec.is_visible(), f"section {sid} not visible"
        assert page.locator(f'nav.toc a[href="#{sid}"]').count() == 1
    # every plot image decoded (a broken data URI has naturalWidth 0)
    widths = page.eval_on_selector_all("figure.plot img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) >= 8 and min(widths) > 100

    # the event display draws showers
    canvas = page.locator("#evd-canvas")
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    first = canvas.screenshot(path=str(shots / "event_display.png"))
    img = _pixels(first)
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert img.std() > 12, "event display looks blank"
    assert _shower_pixels(img) > 300, "no shower cells drawn"

    # dragging rotates, the wheel zooms, the selector changes the event
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 160, cy + 50, steps=6)
    page.mouse.up()
    page.wait_for_timeout(200)
    rotated = _pixels(canvas.screenshot(path=str(shots / "event_display_rotated.png")))
    assert np.abs(rotated - img).mean() > 2, "dragging did not rotate the view"
    page.mouse.wheel(0, -600)
    page.wait_for_timeout(200)
    zoomed = _pixels(canvas.screenshot())
    assert np.abs(zoomed - rotated).mean() > 2, "the wheel did not zoom"
    n_events = page.locator(".evd-select option").count()
    assert n_events >= 2
    page.select_option(".evd-select", index=n_events - 1)
    page.wait_for_timeout(200)
    other = _pixels(canvas.screenshot(path=str(shots / "event_display_last.png")))
    assert _shower_pixels(other) > 300 and np.abs(other - zoomed).mean() > 2

    page.screenshot(path=str(shots / "report_full.png"), full_page=True)
    assert errors == [], f"console errors: {errors}"
    assert external == [], f"the report requested resources from outside: {external}"
    page.close()
