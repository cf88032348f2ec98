"""The reports and the runs index in a real browser (headless Chromium through Playwright): no
console error, nothing fetched from outside, the charts drawn, the filter working; screenshots
are saved in the test's folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.edges.test_cli import run_cli
from tests.rejects.test_bad_input import CORPUS

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


# The elements whose text is clipped: they hide what overflows and their text is wider than them.
CUT_TEXT = """() => [...document.querySelectorAll('td, th, .kpi *, h1, h2, h3, p, code, span')]
  .filter(el => el.innerText && el.innerText.trim())
  .filter(el => {
    const style = getComputedStyle(el);
    const clips = ['hidden', 'clip'].includes(style.overflowX) || style.textOverflow === 'ellipsis';
    return clips && el.scrollWidth > el.clientWidth + 1;
  })
  .map(el => el.tagName + ': ' + el.innerText.slice(0, 40))"""


def chromium() -> str:
    found = next((path for path in CHROMIUM if Path(path).exists()), None)
    if found is None:
        pytest.skip(
            "no Chromium here: install Debian's chromium package (apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    return found


@pytest.fixture
def run_with_reports(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("CSVDOCK_REPORT", "true")
    shutil.copy(CORPUS / "ragged.csv", workdir / "ragged.csv")
    shutil.copy(CORPUS / "compressed.csv", workdir / "compressed.csv")
    (workdir / "first.csv").write_text("id,city\n1,Oslo\n2,Lima\n")
    code, out, err = run_cli("ingest", "first.csv", "--json")
    assert code == 0, err
    # 2,000 people, one with an age that is not a number (an outlier: a cast reject)
    rows = [f"{i},name {i},{20 + i % 60},2024-01-{1 + i % 28:02d}" for i in range(2000)]
    rows[700] = "700,name 700,seventy,2024-01-01"
    (workdir / "people.csv").write_text("id,name,age,joined\n" + "\n".join(rows) + "\n")
    code, out, err = run_cli("ingest", "ragged.csv", "compressed.csv", "people.csv", "--json")
    assert code == 1, err  # one quarantined file
    return dict(json.loads(out))


def test_the_pages_render_offline_without_errors(run_with_reports: dict, workdir: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    reports = run_with_reports["reports"]
    index = workdir / ".csvdock" / "runs" / "index.html"
    pages = {"schema": Path(reports["schema"]), "errors": Path(reports["errors"]), "index": index}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems: list[str] = []
            outside: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None
                ),
            )
            for name, path in pages.items():
                page.goto(path.as_uri())
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(workdir / f"{name}.png"), full_page=True)
                assert (workdir / f"{name}.png").stat().st_size > 10_000
                charts = page.locator("svg.chart, svg.spark")
                assert charts.count() >= 1, name
                box = charts.first.bounding_box()
                assert box is not None and box["width"] > 50 and box["height"] > 10, name
                assert page.locator("svg.chart path, svg.chart rect, svg.spark rect").count()
            assert problems == []
            assert outside == []

            for width in (1280, 390):  # a laptop and a phone: no text cut anywhere
                narrow = browser.new_page(viewport={"width": width, "height": 900})
                for name, path in pages.items():
                    narrow.goto(path.as_uri())
                    narrow.wait_for_load_state("networkidle")
                    assert narrow.evaluate(CUT_TEXT) == [], (width, name)
                    wide = narrow.evaluate("document.documentElement.scrollWidth")
                    assert wide <= width + 1, (width, name, wide)
                narrow.close()

            page.goto(pages["errors"].as_uri())
            kpis = page.locator(".kpi").all_inner_texts()
            assert any("ROWS REJECTED" in k.upper() for k in kpis)
            assert page.locator(".raw mark").count() >= 1  # the offending value is marked
            assert "csvdock replay" in page.inner_text("body")

            page.goto(index.as_uri())
            rows = page.locator("table.runs tbody tr")
            assert rows.count() == 2
            page.fill("#filter", run_with_reports["run_id"])
            assert [r.is_visible() for r in rows.all()] == [True, False]
        finally:
            browser.close()
