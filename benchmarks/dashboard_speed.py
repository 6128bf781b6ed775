#!/usr/bin/env python
"""Dashboard speed: (1) occlusion-probe update on the server (median ms over 60 placements, the
CPU-sized reference model, one thread as the dashboard runs it), (2) page switches in a real browser
(click -> script finished and every chart drawn), (3) server memory with 8 concurrent sessions.

    .venv/bin/python benchmarks/dashboard_speed.py [--model assets/models/full] [--json out/bench_dashboard.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def probe_update_ms(model_dir: str, n: int = 60) -> dict:
    import numpy as np
    import torch

    from interpface.analysis.probe import OcclusionProbe
    from interpface.faces.occlusion import random_rect
    from interpface.faces.pipeline import FacePipeline
    from interpface.faces.samples import sample_face
    from interpface.models.registry import resolve_model

    torch.set_num_threads(1)
    model = resolve_model(model_dir)
    model.module.to(memory_format=torch.channels_last)
    pipe = FacePipeline()
    face, other = pipe.prepare(sample_face("astronaut")), pipe.prepare(sample_face("grace_hopper"))
    t = time.perf_counter()
    probe = OcclusionProbe(model, face.crop, face.landmarks, other.crop)
    setup = time.perf_counter() - t
    rng = np.random.default_rng(0)
    times = []
    for i in range(n + 3):
        rect = random_rect(rng)
        t = time.perf_counter()
        probe.update(rect)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return {
        "model": model_dir,
        "probe_setup_ms": 1000 * setup,
        "update_median_ms": 1000 * statistics.median(times),
        "update_p90_ms": 1000 * float(np.percentile(times, 90)),
        "n": n,
    }


def settled(page, done_js: str, title: str, t0: float, hold: float = 0.5, timeout: float = 120.0) -> float:
    """Seconds from t0 until the page reached a state that then held for `hold` s (the start of the
    final stable streak): guards against counting a half-rendered page as done."""
    streak = None
    while time.perf_counter() - t0 < timeout:
        now = time.perf_counter()
        if page.evaluate(done_js, title):
            streak = streak or now
            if now - streak >= hold:
                return streak - t0
        else:
            streak = None
        page.wait_for_timeout(50)
    raise TimeoutError(f"page {title!r} did not settle")


def browser_timings(models_root: str | None, screenshots: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, rss_mib, running_dashboard, wait_charts, wait_idle

    # link text -> the page's st.title
    pages = {
        "Occlusion probe": "Occlusion probe",
        "Filter explorer": "Filter explorer",
        "Peak atlas": "Peak atlas",
        "Filter card": "Filter card",
        "Distributions": "Distributions",
        "Verification": "Verification and identification",
        "Compare": "Compare two models",
        "Export": "Export",
        "Overview": "interpface — interpretable face recognition",
    }
    # Done = the new page's title is shown, the script has finished (no status widget) and every plotly
    # chart on it is drawn; polled every 50 ms, no fixed waits.
    done_js = """(title) => {
        const h = document.querySelector('h1');
        if (!h || h.innerText.trim() !== title) return false;
        if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
        if (document.querySelector('[data-testid="stSkeleton"]')) return false;
        return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => {
            const e = c.querySelector('.js-plotly-plot'); return e && e._fullData; });
    }"""
    env = {"INTERPFACE_DASHBOARD_THREADS": "1", **({"INTERPFACE_MODELS": models_root} if models_root else {})}
    out = {"page_switch_s": {}}
    with running_dashboard(env) as (url, proc), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        wait_idle(page)
        for round_ in range(2):  # first round warms caches (model loads, analyses); the second is timed
            for name, title in pages.items():
                t = time.perf_counter()
                page.get_by_role("link", name=name, exact=True).click()
                out["page_switch_s"][name] = settled(page, done_js, title, t)
                wait_charts(page)  # let the last drawing settle before the next click / screenshot
                if screenshots and round_ == 1:
                    Path(screenshots).mkdir(parents=True, exist_ok=True)
                    page.screenshot(
                        path=str(Path(screenshots) / f"{name.lower().replace(' ', '_')}.png"), full_page=True
                    )
        out["server_rss_mib_1_session"] = rss_mib(proc.pid)
        if screenshots:
            # a black box on the pages that differ most for one (the probe: its channels; Compare), and the
            # pair page once its maps and trust cards are drawn (the maps take seconds, behind a spinner)
            from urllib.parse import quote_plus

            tall = b.new_page(viewport={"width": 1400, "height": 2400})
            dlib = quote_plus("dlib ResNet (black box, PyTorch port)")
            full = quote_plus("SAD + FAD (the paper's method)")
            views = {
                "probe_black_box": (f"/probe?model={dlib}", "Occlusion probe", None),
                "compare_black_box": (f"/compare?cmp_a={full}&cmp_b={dlib}", "Compare two models", None),
                "why_this_match": (  # two faces of one person from the dataset (sample faces without one)
                    f"/pair?model={full}&pair_a_src=Dataset&pair_b_src=Dataset&pair_b_img=2",
                    "Why this match?",
                    "Can I trust these maps?",
                ),
            }
            for shot, (path, title, last) in views.items():
                tall.goto(url + path, wait_until="domcontentloaded")
                if last:
                    tall.get_by_text(last).wait_for(timeout=300_000)
                settled(tall, done_js, title, time.perf_counter())
                wait_charts(tall)
                tall.screenshot(path=str(Path(screenshots) / f"{shot}.png"), full_page=True)
            tall.close()
        contexts = [b.new_context() for _ in range(8)]
        tabs = [c.new_page() for c in contexts]
        for tab in tabs:
            tab.goto(url + "/probe", wait_until="domcontentloaded")
        for tab in tabs:
            wait_idle(tab, timeout=180_000)
        out["server_rss_mib_8_sessions"] = rss_mib(proc.pid)
        b.close()
    out["page_switch_median_s"] = statistics.median(out["page_switch_s"].values())
    out["page_switch_max_s"] = max(out["page_switch_s"].values())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "assets" / "models" / "full"))
    ap.add_argument(
        "--models-root", default=None, help="INTERPFACE_MODELS for the browser part (default: assets/models)"
    )
    ap.add_argument("--json")
    ap.add_argument("--screenshots", help="also save a full-page screenshot of every page here")
    args = ap.parse_args()
    result = {"probe": probe_update_ms(args.model)}
    print(
        f"probe update: median {result['probe']['update_median_ms']:.1f} ms, p90 {result['probe']['update_p90_ms']:.1f} ms "
        f"({args.model}, 1 thread)"
    )
    result["browser"] = browser_timings(args.models_root, args.screenshots)
    for name, s in result["browser"]["page_switch_s"].items():
        print(f"page switch to {name}: {s:.2f} s")
    print(
        f"page switch median {result['browser']['page_switch_median_s']:.2f} s, max {result['browser']['page_switch_max_s']:.2f} s"
    )
    print(
        f"server RSS: {result['browser']['server_rss_mib_1_session']:.0f} MiB with 1 session, "
        f"{result['browser']['server_rss_mib_8_sessions']:.0f} MiB with 8"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
