#!/usr/bin/env python
"""The dashboard's Failures page on a real dataset: (1) the first analysis (a click on "Find the
failures": embed, score every pair, slice, then the UMAP map), (2) page switches once it is computed
(Verification -> Failures, click -> script finished and every chart drawn; median and max of N), and
(3) optionally a screenshot of the page for the docs.

    .venv/bin/python benchmarks/failures_page.py [--model-label "SAD + FAD (the paper's method)"]
        [--switches 5] [--screenshot docs/screenshots/failures.png] [--json out/bench_failures.json]

The dashboard uses $INTERPFACE_CACHE (LFW prepared there: `interpface data prepare --dataset lfw`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_speed import settled as settled_on  # noqa: E402

TITLE = "Failures"
DONE_JS = """(title) => {
    const h = document.querySelector('h1');
    if (!h || h.innerText.trim() !== title) return false;
    if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    return charts.every(c => { const e = c.querySelector('.js-plotly-plot'); return e && e._fullData; });
}"""
# the analysis is on the page: its last section's heading and both charts drawn
READY_JS = """() => [...document.querySelectorAll('h3')].some(h => h.innerText.includes('The faces on a map'))
    && document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot').length >= 2"""

ASKS_JS = """() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Find the failures'))"""


def settled(page, title: str, t0: float, hold: float = 0.5, timeout: float = 600.0) -> float:
    """Seconds from t0 until the Failures page reached a done state that then held for `hold` s."""
    return settled_on(page, DONE_JS, title, t0, hold, timeout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-label", default="SAD + FAD (the paper's method)", help="the model picker's label")
    ap.add_argument("--switches", type=int, default=5)
    ap.add_argument("--screenshot", help="save a screenshot of the computed page here (PNG)")
    ap.add_argument("--json")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_dashboard, wait_charts, wait_idle

    out: dict = {"model": args.model_label}
    with running_dashboard({"INTERPFACE_DASHBOARD_THREADS": "1"}) as (url, _), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/failures?model={quote_plus(args.model_label)}", wait_until="domcontentloaded")
        page.get_by_role("heading", name=TITLE).wait_for(timeout=120_000)
        wait_idle(page, timeout=120_000)
        page.wait_for_function(f"() => ({ASKS_JS})() || ({READY_JS})()", timeout=120_000, polling=200)
        t0 = time.perf_counter()
        run = page.get_by_role("button", name="Find the failures")
        if run.count():
            run.click()
            page.wait_for_function(READY_JS, timeout=900_000, polling=500)
            out["first_analysis_s"] = round(settled(page, TITLE, t0, timeout=900), 2)
            print(f"first analysis (embed, score, slice, map): {out['first_analysis_s']:.1f} s")
        else:
            page.wait_for_function(READY_JS, timeout=900_000, polling=500)
            print("analysis already on disk")
        wait_charts(page)
        times = []
        for _ in range(args.switches):
            page.get_by_role("link", name="Verification", exact=True).click()
            settled(page, "Verification and identification", time.perf_counter())
            t = time.perf_counter()
            page.get_by_role("link", name=TITLE, exact=True).click()
            times.append(settled(page, TITLE, t))
        out["page_switch_s"] = [round(x, 3) for x in times]
        out["page_switch_median_s"] = round(statistics.median(times), 3)
        out["page_switch_max_s"] = round(max(times), 3)
        print(
            f"page switch to Failures: median {out['page_switch_median_s']:.2f} s, max {out['page_switch_max_s']:.2f} s"
        )
        if args.screenshot:
            tall = b.new_page(viewport={"width": 1400, "height": 3300})
            tall.goto(page.url, wait_until="domcontentloaded")
            tall.wait_for_function(READY_JS, timeout=300_000, polling=500)
            settled(tall, TITLE, time.perf_counter())
            wait_charts(tall)
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            tall.screenshot(path=args.screenshot)
            print(f"-> {args.screenshot}")
        b.close()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
