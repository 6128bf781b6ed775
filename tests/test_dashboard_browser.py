"""The dashboard in a real browser: Playwright driving Debian's chromium against `streamlit run`
on 127.0.0.1. Screenshots of every page go to artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    choose,
    errors_on,
    rss_mib,
    running_dashboard,
    server_log,
    wait_chart,
    wait_charts,
    wait_idle,
)
from tests.dashboard_fixtures import dashboard_env, make_tiny_analyses, make_tiny_zoo

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PAGES = [
    "Overview",
    "Occlusion probe",
    "Filter explorer",
    "Peak atlas",
    "Filter card",
    "Distributions",
    "Verification",
    "Why this match?",
    "Compare",
    "Export",
]
DIFF_TITLE = "Feature difference per dimension"


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces, faces_root):
    zoo = make_tiny_zoo(tmp_path_factory.mktemp("zoo"))
    analyses = make_tiny_analyses(zoo, tmp_path_factory.mktemp("analyses"), faces)
    env = {
        **dashboard_env(zoo, analyses, faces_root, tmp_path_factory.mktemp("dash_cache")),
        "INTERPFACE_DASHBOARD_THREADS": "1",
    }
    with running_dashboard(env) as (url, proc):
        yield url, proc


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(page, url, name):
    """Open the page whose sidebar link and title are `name` by its own URL. Clicking the link right
    after the first load can be lost while the session connects (the Overview then stays on screen)."""
    page.goto(url, wait_until="domcontentloaded")
    href = page.get_by_role("link", name=name, exact=True).get_attribute("href", timeout=60_000)
    page.goto(urljoin(page.url, href), wait_until="domcontentloaded")
    page.get_by_role("heading", name=name, exact=True).wait_for(timeout=60_000)
    wait_idle(page)


def test_every_page_opens(server, browser):
    url, _ = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading").first.wait_for(timeout=60_000)  # connected: a click now is not lost
    wait_idle(page)
    for name in PAGES:
        page.get_by_role("link", name=name, exact=True).click()
        wait_idle(page)
        wait_charts(page)
        assert not errors_on(page), (name, errors_on(page))
        page.screenshot(path=str(SHOTS / f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.png"), full_page=True)
    page.close()


def test_occlusion_changes_the_difference_chart(server, browser):
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_page(page, url, "Occlusion probe")
    before = wait_chart(page, DIFF_TITLE)
    choose(page, "Region", "mouth")
    wait_idle(page)
    after = wait_chart(page, DIFF_TITLE)
    assert before and after and before != after
    assert not errors_on(page)
    page.close()


# (frag) -> rendered [width, height] in px of the face images of the plotly chart whose title has frag
_TILE_BOXES_JS = """(frag) => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = JSON.stringify((el.layout && el.layout.title) || '');
        if (!t.includes(frag)) continue;
        return [...el.querySelectorAll('g.imagelayer image')].map(e => {
            const r = e.getBoundingClientRect(); return [r.width, r.height]; }).filter(b => b[0] > 0);
    }
    return [];
}"""


def _tile_boxes(page, title_fragment: str) -> list[tuple[float, float]]:
    """Rendered (width, height) in px of the face images of the plotly chart whose title has the fragment."""
    return page.evaluate(_TILE_BOXES_JS, title_fragment)


@pytest.mark.parametrize(
    "page_name,title", [("Filter explorer", "Filter responses"), ("Occlusion probe", "before and after the occluder")]
)
def test_heatmap_faces_are_legible(server, browser, page_name, title):
    """At a 1400 px viewport every face of a heatmap grid is drawn >= 160 px wide, square like the
    110x110 aligned crop (aspect within 5%)."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    open_page(page, url, page_name)
    page.wait_for_function(
        """(frag) => [...document.querySelectorAll('.js-plotly-plot')].some(e => e._fullData &&
              e._fullData.length && JSON.stringify((e.layout && e.layout.title) || '').includes(frag))""",
        arg=title,
        timeout=120_000,
    )
    # plotly draws the image layer after the figure's data arrive: wait for the faces themselves (a
    # loaded machine took over 500 ms), then measure them
    page.wait_for_function(f"(frag) => ({_TILE_BOXES_JS})(frag).length >= 4", arg=title, timeout=120_000)
    page.wait_for_timeout(300)  # let the layout settle before measuring
    boxes = _tile_boxes(page, title)
    assert len(boxes) >= 4, boxes
    for w, h in boxes:
        assert w >= 160 and abs(w / h - 1.0) <= 0.05, (w, h)
    page.close()


def test_a_shared_url_opens_the_same_view(server, browser):
    """The occluder and the filters chosen in one session come back from the URL in another."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(
        url + "/probe?probe_mode=Realistic+occluder&probe_occ_kind=sunglasses&probe_occ_seed=7",
        wait_until="domcontentloaded",
    )
    page.get_by_role("heading", name="Occlusion probe").wait_for(timeout=60_000)
    wait_idle(page)
    # expect() polls: on a loaded machine the widgets may take a moment to show the restored values
    expect(page.locator('input[role="combobox"][aria-label="Occluder"]').first).to_have_value(
        "sunglasses", timeout=30_000
    )
    expect(page.get_by_label("Seed (shape, colour, texture)").first).to_have_value("7", timeout=30_000)
    assert not errors_on(page)
    page.goto(url + "/filters?flt_how=Choose&flt_ids=5&flt_ids=9", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Filter explorer").wait_for(timeout=60_000)
    wait_idle(page)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].some(e => e.layout && e.layout.annotations &&
              e.layout.annotations.some(a => String(a.text).startsWith('#9 ')))""",
        timeout=120_000,
    )
    titles = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(e =>
        ((e.layout && e.layout.annotations) || []).map(a => String(a.text)))""")
    assert any(t.startswith("#5 ") for t in titles) and any(t.startswith("#9 ") for t in titles)
    page.close()


def test_filter_card_from_a_url_shows_legible_top_faces(server, browser):
    """/card?card_filter=K opens that filter's card: the chosen id, its location figure, and the faces it
    fires on most drawn at least 160 px wide (the 32 px thumbnails must not be shown at their size)."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + "/card?model=Base+CNN&card_filter=3", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Filter card").wait_for(timeout=60_000)
    wait_idle(page)
    expect(page.get_by_label(re.compile("^Filter id")).first).to_have_value("3", timeout=30_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].some(e => e.layout &&
              JSON.stringify(e.layout.title || '').includes('Filter #3'))""",
        timeout=120_000,
    )
    page.get_by_text("Faces it fires on most").wait_for(timeout=60_000)
    widths = page.eval_on_selector_all(
        '[data-testid="stImage"] img', "els => els.map(e => e.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 160, widths
    assert not errors_on(page)
    page.close()


def test_a_black_box_in_the_probe_and_compare(server, browser):
    """The dlib port, opened from a URL: the probe draws its level2 channels over the aligned face as
    legible tiles, and Compare puts it beside one of ours on the same occluder."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + "/probe?model=dlib+ResNet+%28black+box%2C+PyTorch+port%29", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Occlusion probe").wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_role("heading", name="Channels of level2 that changed most").wait_for(timeout=120_000)
    title = "Responses level2 before and after"
    page.wait_for_function(
        """(frag) => [...document.querySelectorAll('.js-plotly-plot')].some(e => e._fullData &&
              e._fullData.length && JSON.stringify((e.layout && e.layout.title) || '').includes(frag))""",
        arg=title,
        timeout=120_000,
    )
    boxes = _tile_boxes(page, title)
    assert len(boxes) >= 4 and min(w for w, _ in boxes) >= 160, boxes
    assert not errors_on(page)
    page.goto(
        url + "/compare?cmp_a=SAD+%2B+FAD+%28the+paper%27s+method%29&cmp_b=dlib+ResNet+%28black+box%2C+PyTorch+port%29",
        wait_until="domcontentloaded",
    )
    page.get_by_role("heading", name="Compare two models").wait_for(timeout=60_000)
    wait_idle(page)
    expect(page.get_by_text("dimensions changed")).to_have_count(2, timeout=120_000)
    expect(page.get_by_text(re.compile(r"/ 128$"))).to_have_count(1, timeout=30_000)
    assert not errors_on(page)
    page.close()


def test_bad_upload_shows_a_message(server, browser, tmp_path):
    url, _ = server
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_page(page, url, "Occlusion probe")
    main = page.locator('[data-testid="stMain"]')  # the sidebar has a (model) uploader of its own
    main.get_by_text("Upload", exact=True).first.click()
    wait_idle(page)
    main.locator('input[type="file"]').first.set_input_files(str(bad))
    page.get_by_text("cannot decode image").first.wait_for(timeout=60_000)
    assert not page.query_selector('[data-testid="stException"]')
    assert "Traceback" not in page.inner_text("body")
    page.close()


def test_download_a_figure(server, browser, tmp_path):
    url, proc = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    open_page(page, url, "Export")
    button = page.get_by_role("button", name="Download figure").first
    try:  # it appears once the figure is rendered: slow on a loaded 2-core CI machine
        button.wait_for(timeout=120_000)
    except PlaywrightTimeoutError:
        pytest.fail(f"no download button; errors {errors_on(page)}; server log: {server_log(proc)!r}")
    with page.expect_download(timeout=120_000) as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.stat().st_size > 1000
    page.close()


def test_eight_concurrent_sessions(server, browser):
    url, proc = server
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(8)]
    pages = [c.new_page() for c in contexts]
    for p in pages:  # all eight sessions load the probe at once on the server
        p.goto(url + "/probe", wait_until="domcontentloaded")
    for p in pages:
        wait_idle(p, timeout=120_000)
    rss_loaded = rss_mib(proc.pid)
    regions = ["mouth", "nose", "chin", "forehead", "left_eye", "right_eye", "left_cheek", "right_cheek"]
    for p, region in zip(pages, regions):
        # one browser renders all eight pages: on a loaded machine a click can take longer than 30 s
        choose(p, "Region", region, timeout=120_000)
    for p in pages:
        wait_idle(p, timeout=120_000)
        assert not errors_on(p), errors_on(p)
        assert wait_chart(p, DIFF_TITLE)
    rss_after = rss_mib(proc.pid)
    for c in contexts:
        c.close()
    print(f"server RSS with 8 sessions: {rss_loaded:.0f} MiB loaded, {rss_after:.0f} MiB after probing")
    assert rss_after < 3000
