"""The Failures page: under AppTest (the face set's LFW DevTest, analysed on opening the page) and in a
real browser (its links open the pair in "Why this match?")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from interpface.files import dashboard_app
from tests.dashboard_fixtures import dashboard_env, make_tiny_zoo

APP = dashboard_app()
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def env(tmp_path_factory, faces, faces_root):
    """The tiny zoo, and the face set (LFW layout) prepared in the dashboard's cache."""
    from interpface.faces.prepare import prepare_dataset

    zoo = make_tiny_zoo(tmp_path_factory.mktemp("zoo"))
    cache = tmp_path_factory.mktemp("dash_cache")
    prepare_dataset(faces, cache_dir=cache, workers=1, progress=False)
    return dashboard_env(zoo, tmp_path_factory.mktemp("analyses"), faces_root, cache)


@pytest.fixture
def app(env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    at.switch_page("views/failures.py")
    at.run()
    _ok(at)
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def _links(at, page: str) -> list[dict]:
    return [
        {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
        for link in at.get("page_link")
        if link.proto.page == page
    ]


def test_failures_page_shows_mistakes_slices_and_map(app):
    """Opened on a small dataset the page analyses it, then shows the operating point, the slice chart
    and table, a gallery whose every pair links to "Why this match?", and the embedding map."""
    assert app.title[0].value == "Failures"
    metrics = {m.label: m.value for m in app.metric}
    assert {"threshold (cosine)", "false accepts", "false rejects", "false reject rate"} <= set(metrics)
    figures = app.session_state["last_figures"]
    assert any(k.startswith("failures_slices_") for k in figures) and "failures_map" in figures
    pairs = _links(app, "pair")
    assert pairs and int(metrics["false rejects"].replace(",", "")) >= len(pairs) > 0
    for q in pairs:
        assert q["pair_a_src"] == q["pair_b_src"] == "Dataset" and q["pair_a_person"] == q["pair_b_person"]
        assert int(q["pair_a_img"]) >= 1 and q["model"] == "SAD + FAD (the paper's method)"
    app.radio(key="fail_kind").set_value("false_accepts")
    app.run()
    _ok(app)
    assert all(q["pair_a_person"] != q["pair_b_person"] for q in _links(app, "pair"))


def test_a_slice_filters_the_gallery_and_the_url_keeps_it(app):
    slices = app.selectbox(key="fail_slice").options
    assert slices[0] == "(every slice)" and len(slices) > 3
    everyone = len(_links(app, "pair"))
    sizes = {}
    for label in slices[1:]:
        app.selectbox(key="fail_slice").select(label)
        app.run()
        _ok(app)
        sizes[label] = len(_links(app, "pair"))
    assert all(n <= everyone for n in sizes.values()) and min(sizes.values()) < everyone
    for colour in app.selectbox(key="fail_colour").options[:4]:
        app.selectbox(key="fail_colour").select(colour)
        app.run()
        _ok(app)
    rate = app.radio(key="fail_rate")
    rate.set_value("far")
    app.run()
    _ok(app)


def test_the_pair_link_opens_that_pair(env, monkeypatch, app):
    """The query string of a gallery link, opened as the pair page's URL, shows those two faces."""
    q = _links(app, "pair")[0]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params.update(q)
    at.switch_page("views/pair.py")
    at.run()
    _ok(at)
    assert at.radio(key="pair_a_src").value == "Dataset"
    assert at.selectbox(key="pair_a_person").value == q["pair_a_person"]
    assert at.number_input(key="pair_b_img").value == int(q["pair_b_img"])
    assert any(m.label == "cosine similarity" for m in at.metric)


def test_a_larger_dataset_waits_for_a_click(env, monkeypatch):
    """Above INTERPFACE_FAILURES_AUTO_FACES faces a set is analysed on a click only; a set too small for
    any of the FARs says so instead of drawing empty charts."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("INTERPFACE_FAILURES_AUTO_FACES", "0")
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params.update({"fail_protocol": "LFW View 2: the pairs of pairs.txt"})
    at.run()
    at.switch_page("views/failures.py")
    at.run()
    _ok(at)
    assert at.selectbox(key="fail_protocol").value == "lfw-view2"
    assert not at.metric and [b for b in at.button if b.key == "fail_run"]
    at.button(key="fail_run").click()
    at.run()
    _ok(at)
    assert any("impostor pairs" in w.value for w in at.warning)  # 12 pairs: no FAR is resolvable


# ------------------------------------------------------------------------------------------ browser
# the pixel position of a chart's first point (chart: index among the page's plotly charts)
_POINT_JS = """(i) => { const el = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[i];
    const L = el._fullLayout, d = el._fullData[0], r = el.getBoundingClientRect();
    return [r.left + L.xaxis._offset + L.xaxis.d2p(d.x[0]), r.top + L.yaxis._offset + L.yaxis.d2p(d.y[0])]; }"""


def test_failures_page_in_a_browser(env):
    """In chromium: the page draws its charts without an error; a click on a slice filters the gallery
    (and goes into the URL); a gallery link opens that pair in Why this match?; a click on the map
    shows the face, whose link opens it in the Occlusion probe."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, errors_on, running_dashboard, wait_charts, wait_idle

    def ready(page):
        # the first visit analyses the set, then reruns: wait for the analysis' last section
        page.get_by_role("heading", name="The faces on a map").wait_for(timeout=300_000)
        wait_idle(page, timeout=300_000)
        wait_charts(page)

    with running_dashboard({**env, "INTERPFACE_DASHBOARD_THREADS": "1"}) as (url, _), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("link", name="Failures", exact=True).click()
        ready(page)
        assert not errors_on(page), errors_on(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "failures.png"), full_page=True)
        main = page.locator('[data-testid="stMain"]')

        page.mouse.click(*page.evaluate(_POINT_JS, 0))  # the slice chart's first point
        page.wait_for_timeout(1000)
        wait_idle(page)
        assert "fail_slice=" in page.url and not errors_on(page)

        main.get_by_role("link", name="Why this match?").first.click()
        page.get_by_role("heading", name="Why this match?").wait_for(timeout=60_000)
        wait_idle(page, timeout=120_000)
        assert "pair_a_src=Dataset" in page.url and "pair_b_person=" in page.url and not errors_on(page)

        page.goto(url + "/failures", wait_until="domcontentloaded")
        ready(page)
        page.locator('[data-testid="stPlotlyChart"]').nth(1).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.mouse.click(*page.evaluate(_POINT_JS, 1))  # a face on the map
        main.get_by_text("face(s) selected").wait_for(timeout=60_000)
        main.get_by_role("link", name="Probe", exact=True).first.click()
        page.get_by_role("heading", name="Occlusion probe").wait_for(timeout=60_000)
        wait_idle(page, timeout=120_000)
        assert "probe_face_src=Dataset" in page.url and not errors_on(page)
        b.close()
