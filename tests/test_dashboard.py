"""Every dashboard page under streamlit.testing.v1.AppTest with a tiny model zoo."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from interpface.files import dashboard_app
from tests.dashboard_fixtures import dashboard_env, make_tiny_analyses, make_tiny_zoo, make_user_black_box

APP = dashboard_app()

PAGES = [
    "views/overview.py",
    "views/probe.py",
    "views/filters.py",
    "views/atlas.py",
    "views/card.py",
    "views/distributions.py",
    "views/verification.py",
    "views/pair.py",
    "views/failures.py",
    "views/compare.py",
    "views/export.py",
]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, faces, faces_root):
    root = make_tiny_zoo(tmp_path_factory.mktemp("zoo"))
    analyses = make_tiny_analyses(root, tmp_path_factory.mktemp("analyses"), faces)
    user = make_user_black_box(tmp_path_factory.mktemp("user_models"), analyses, faces)
    return {
        **dashboard_env(root, analyses, faces_root, tmp_path_factory.mktemp("dash_cache")),
        "INTERPFACE_USER_MODELS": user,
    }


@pytest.fixture
def app(zoo, monkeypatch):
    for key, value in zoo.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(app, page):
    app.switch_page(page)
    app.run()
    _ok(app)
    assert app.title, page


def test_probe_widgets_change_the_result(app):
    app.switch_page("views/probe.py")
    app.run()
    before = {m.label: m.value for m in app.metric}
    app.selectbox(key="probe_region").select("mouth")
    app.run()
    _ok(app)
    after = {m.label: m.value for m in app.metric}
    assert before["largest |Δf|"] != after["largest |Δf|"]
    app.radio(key="probe_mode").set_value("Sliders")
    app.run()
    app.slider(key="probe_cx").set_value(40.0)
    app.slider(key="probe_angle").set_value(30.0)
    app.run()
    _ok(app)
    app.toggle(key="probe_second_on").set_value(True)
    app.run()
    app.selectbox(key="probe_second_sample").select("grace_hopper")
    app.run()
    _ok(app)
    assert any(m.label.startswith("cos(f(Î), second") for m in app.metric)
    app.radio(key="probe_mode").set_value("Realistic occluder")
    app.run()
    app.selectbox(key="probe_occ_kind").select("sunglasses")
    app.run()
    _ok(app)
    sunglasses = {m.label: m.value for m in app.metric}["largest |Δf|"]
    app.selectbox(key="probe_occ_kind").select("surgical_mask")
    app.run()
    _ok(app)
    assert {m.label: m.value for m in app.metric}["largest |Δf|"] != sunglasses
    assert any("Threshold" in md.value for md in app.markdown)


def _bad_image_script():
    import streamlit as st

    from interpface.dashboard import common

    with common.guarded("This image cannot be used"):
        common.prepare_bytes(b"definitely not an image")
    st.write("the page goes on")


def test_bad_image_shows_a_message_not_a_traceback(zoo, monkeypatch):
    for key, value in zoo.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_function(_bad_image_script, default_timeout=60)
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "cannot decode image" in at.error[0].value
    assert "Traceback" not in at.error[0].value
    assert any("the page goes on" in m.value for m in at.markdown)


def test_compare_two_models(app):
    app.switch_page("views/compare.py")
    app.run()
    app.selectbox(key="cmp_b").select("full")
    app.selectbox(key="cmp_region").select("mouth")
    app.run()
    _ok(app)
    assert len([m for m in app.metric if m.label == "cos(f(I), f(Î))"]) == 2


def test_filters_page_choose_filters(app):
    app.switch_page("views/filters.py")
    app.run()
    app.radio(key="flt_how").set_value("Choose")
    app.run()
    _ok(app)


def test_probe_sensitivity_sweep(app):
    app.switch_page("views/probe.py")
    app.run()
    app.select_slider(key="sens_stride").set_value(12.0)
    app.button(key="sens_run").click()
    app.run()
    _ok(app)
    assert "sensitivity_map" in app.session_state["last_figures"]


@pytest.mark.parametrize("method", ["LayerGradCam (on psi)", "IntegratedGradients", "Occlusion"])
def test_filters_page_attributions(app, method):
    app.switch_page("views/filters.py")
    app.run()
    app.selectbox(key="attr_method").select(method)
    app.button(key="attr_go").click()
    app.run()
    _ok(app)
    assert "attribution" in app.session_state["last_figures"]


def test_pair_page_maps_and_curves(app):
    app.switch_page("views/pair.py")
    app.run()
    _ok(app)
    assert any(m.label == "cosine similarity" for m in app.metric)
    assert {"pair_maps", "pair_curves"} <= set(app.session_state["last_figures"])
    app.multiselect(key="pair_methods").set_value(["representation", "rise", "random"])
    app.radio(key="pair_baseline").set_value("blur")
    app.run()
    _ok(app)
    fig = app.session_state["last_figures"]["pair_maps"]
    assert [t.name for t in fig.data if t.type == "heatmap"] == ["representation", "rise", "random"]
    # a test-zoo model only shares its name with a shipped one: no shipped card is shown for it
    assert any("No trust card has been measured" in i.value for i in app.info)


def test_a_shared_url_restores_the_view(zoo, monkeypatch):
    """Model, face, occluder and filter live in the URL's query parameters: opening the page with
    them shows that view, and the sidebar offers the link."""
    for key, value in zoo.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(
        {
            "probe_mode": "Realistic occluder",
            "probe_occ_kind": "sunglasses",
            "probe_occ_seed": "7",
            "probe_face_sample": "grace_hopper",
        }
    )
    at.switch_page("views/probe.py")
    at.run()
    _ok(at)
    assert at.radio(key="probe_mode").value == "Realistic occluder"
    assert at.selectbox(key="probe_occ_kind").value == "sunglasses" and at.number_input(key="probe_occ_seed").value == 7
    assert at.selectbox(key="probe_face_sample").value == "grace_hopper"
    link = [c.value for c in at.code]
    assert link and "probe_occ_kind=sunglasses" in link[0]

    at2 = AppTest.from_file(str(APP), default_timeout=120)
    at2.query_params.update({"flt_how": "Choose", "flt_ids": ["5", "9"]})
    at2.switch_page("views/filters.py")
    at2.run()
    _ok(at2)
    assert at2.radio(key="flt_how").value == "Choose" and at2.multiselect(key="flt_ids").value == [5, 9]


def test_filter_card_shows_location_top_faces_and_occlusion_effect(zoo, monkeypatch):
    """The card of a filter opened from the URL: its region, std, a location figure with the mean and
    the ellipse of both signs, the faces it fires on most (from the shipped analysis), the bars of
    the occlusion effect per region, and the heatmap on the chosen face."""
    import numpy as np

    from interpface.analysis import load_precomputed

    for key, value in zoo.items():
        monkeypatch.setenv(key, value)
    from interpface.dashboard.common import label

    pre = load_precomputed("base", zoo["INTERPFACE_ANALYSES"])
    k = int(np.nanargmax(pre.std[:, 0]))  # not the default (the smallest std): the URL must choose it
    at = AppTest.from_file(str(APP), default_timeout=120)
    # a bound selectbox keeps its displayed label in the URL (the default model is "full": base must come from it)
    at.query_params.update({"model": label("base"), "card_filter": str(k)})
    at.switch_page("views/card.py")
    at.run()
    _ok(at)
    assert at.selectbox(key="model").value == "base" and at.number_input(key="card_filter").value == k
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Positive-peak std"] == f"{pre.std[k, 0]:.1f} px"
    region = metrics["Region (positive peak)"]
    figs = at.session_state["last_figures"]
    loc = figs["filter_card_location"]
    means = [t for t in loc.data if t.name and t.name.endswith(": mean")]
    ellipses = [t for t in loc.data if t.name and "std" in t.name]
    assert means and len(ellipses) == len(means)
    assert np.allclose([means[0].x[0], means[0].y[0]], pre.mean_xy[k, 0], atol=1e-4)
    effect = figs["filter_card_effect"]
    assert np.allclose(effect.data[0].y, pre.differences.mean_abs[:, k], atol=1e-6)
    colors = list(effect.data[0].marker.color)
    if region.replace(" ", "_") in pre.differences.names:  # its own region is highlighted, and only it
        assert colors.count("#009E73") == 1 and effect.data[0].x[colors.index("#009E73")] == region
    else:
        assert "#009E73" not in colors
    # the top faces: one image per face with a positive peak, captioned with the person
    shown = int((pre.top.index[k] >= 0).sum())
    captions = [c for img in at.get("image") for c in img.captions]
    assert shown >= 1 and len(captions) == shown, captions
    people = {str(r).split("/")[0].replace("_", " ") for r in pre.top.relpaths[k] if r}
    assert {c.split(" · ")[0] for c in captions} <= people
    other = int(np.nanargmin(pre.std[:, 0]))
    at.number_input(key="card_filter").set_value(other)
    at.run()
    _ok(at)
    assert {m.label: m.value for m in at.metric}["Positive-peak std"] == f"{pre.std[other, 0]:.1f} px"


def test_pair_page_explains_a_black_box(app):
    """Picked as the model, the dlib port is explained on its own 150x150 chips with the
    model-agnostic methods only (the verification methods among them)."""
    app.switch_page("views/pair.py")
    app.run()
    app.selectbox(key="model").select("dlib_port")
    app.run()
    _ok(app)
    assert set(app.multiselect(key="pair_methods").options) == {
        "occlusion sweep",
        "integrated gradients",
        "RISE (randomised masks)",
        "random (floor)",
        "FGGB (per-dimension gradients, a few s)",
        "xSSAB (for / against)",
        "CorrRISE (masks, slow)",
    }
    fig = app.session_state["last_figures"]["pair_maps"]
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert [t.name for t in heat] == ["occlusion", "random"] and len(heat[0].z) == 150
    # the dlib port's shipped trust cards: one per shown method, the random map marked as the floor
    assert any(h.value == "Can I trust these maps?" for h in app.subheader)
    text = " ".join(m.value for m in app.markdown)
    assert "**occlusion sweep**" in text and "**random (floor)**" in text and "the floor" in text
    assert "sanity check: fails" in text  # the random map ignores the model
    assert any(m.label == "cosine similarity" for m in app.metric)
    # the decision uses the port's own DevTest calibration (its cosines sit high; 0.5 would call everyone the same)
    assert app.selectbox(key="pair_far").value == "0.01"
    decision = {m.label: m.value for m in app.metric}["decision"]
    score = float({m.label: m.value for m in app.metric}["cosine similarity"])
    assert decision == ("same person" if score >= 0.906 else "different people")


#: the widget that picks the model on each page (single-model pages: the sidebar's "model")
_MULTI = {
    "views/overview.py": "ov_models",
    "views/atlas.py": "atlas_models",
    "views/distributions.py": "dist_models",
    "views/verification.py": "ver_models",
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("black_box", ["r18", "dlib_port"])
def test_every_page_runs_on_a_black_box(app, page, black_box):
    """A user's random IResNet-18 (INTERPFACE_USER_MODELS, with a precomputed analysis) and the dlib
    port are listed beside ours, and every page works on them."""
    app.switch_page(page)
    app.run()
    if page in _MULTI:
        app.multiselect(key=_MULTI[page]).set_value(["full", black_box])
    elif page == "views/compare.py":
        app.selectbox(key="cmp_a").select("full")
        app.selectbox(key="cmp_b").select(black_box)
    elif page != "views/export.py":
        app.selectbox(key="model").select(black_box)
    app.run()
    _ok(app)
    shown = " ".join(str(e.value) for e in [*app.markdown, *app.caption, *app.subheader])
    if page == "views/compare.py":
        assert len([m for m in app.metric if m.label == "cos(f(I), f(Î))"]) == 2
        dims = [m.value for m in app.metric if m.label == "dimensions changed"]
        assert dims[1].endswith("/ 512" if black_box == "r18" else "/ 128")
    if page == "views/probe.py":
        assert "probe_heatmaps" in app.session_state["last_figures"]
        heat = [t for t in app.session_state["last_figures"]["probe_heatmaps"].data if t.type == "heatmap"]
        assert heat and len(heat[0].z) == 22 and "channel" in heat[0].name
    if page == "views/card.py" and black_box == "r18":
        assert any(m.label == "Positive-peak std" for m in app.metric)  # its analysis ships with the test zoo
    if page == "views/verification.py" and black_box == "dlib_port":
        assert "dlib" in str(app.dataframe[0].value)
    if page in ("views/card.py", "views/probe.py"):
        assert "black box" in shown or "Channels of" in shown  # the page says what its "filters" are


def test_probe_sweep_and_attributions_on_a_black_box(app):
    app.switch_page("views/probe.py")
    app.run()
    app.selectbox(key="model").select("r18")
    app.run()
    app.select_slider(key="sens_stride").set_value(12.0)
    app.button(key="sens_run").click()
    app.run()
    _ok(app)
    assert "sensitivity_map" in app.session_state["last_figures"]
    app.switch_page("views/filters.py")
    app.run()
    app.selectbox(key="model").select("r18")
    app.run()
    assert app.selectbox(key="attr_method").options == ["IntegratedGradients", "Occlusion"]
    app.selectbox(key="attr_method").select("Occlusion")
    app.button(key="attr_go").click()
    app.run()
    _ok(app)
    fig = app.session_state["last_figures"]["attribution"]
    assert len([t for t in fig.data if t.type == "heatmap"][0].z) == 112  # drawn on its own 112x112 input


def _upload(app, name: str, filename: str, data: bytes, arch: str = "iresnet18"):
    app.text_input(key="add_model_name").input(name)
    app.file_uploader(key="add_model_file").set_value((filename, data, "application/octet-stream"))
    app.selectbox(key="add_model_arch").select(arch)
    app.get("form_submit_button")[0].click()
    app.run()


def test_a_model_uploaded_in_the_sidebar(app, zoo):
    """The sidebar's form loads an uploaded model before listing it, for this session only: a broken
    file is a message, not a model; a visitor has no way to name a path on the server."""
    user_file = Path(zoo["INTERPFACE_USER_MODELS"].split(":", 1)[1])
    app.switch_page("views/probe.py")
    app.run()
    assert not [w for w in app.text_input if w.key == "add_model_spec"]  # no path / spec field at all
    _upload(app, "broken", "broken.safetensors", b"not safetensors")
    assert any("cannot be used" in e.value for e in app.error)
    assert "broken" not in app.selectbox(key="model").options
    _upload(app, "mine", "r18.safetensors", user_file.read_bytes())
    _ok(app)
    assert "mine" in app.selectbox(key="model").options
    assert any("Added mine" in m.value for m in app.success)
    box = app.selectbox(key="model")
    box.select_index(box.options.index("mine"))
    app.run()
    _ok(app)
    assert any(m.label == "cos(f(I), f(Î))" for m in app.metric)
    folder = app.session_state["upload_folder"].path
    assert folder.is_dir() and list(folder.rglob("model.safetensors"))
    # another visitor's session sees none of it
    other = AppTest.from_file(str(APP), default_timeout=120)
    other.switch_page("views/probe.py")
    other.run()
    assert "mine" not in other.selectbox(key="model").options


def test_a_visitor_cannot_load_code_or_name_a_server_path(app, zoo, tmp_path):
    """A spec (it imports code) is refused through the browser, as is any file type but ONNX and
    safetensors; a URL naming a path selects nothing from the disk."""
    spec = tmp_path / "spec.json"
    spec.write_text('{"module": "os:getcwd", "input_size": 112, "layers": ["x"]}')
    app.switch_page("views/probe.py")
    app.run()
    _upload(app, "sneaky", "spec.json", spec.read_bytes())  # the uploader itself takes .onnx / .safetensors only
    assert any("Invalid file extension" in str(e.value) for e in app.exception)
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.switch_page("views/probe.py")
    app.run()
    _upload(app, "sneaky", "spec.onnx", spec.read_bytes())  # a spec renamed: not an ONNX graph, nothing imported
    assert any("cannot be used" in e.value for e in app.error)
    assert "sneaky" not in app.selectbox(key="model").options
    from interpface.errors import CheckpointError
    from interpface.models.registry import resolve_model

    with pytest.raises(CheckpointError, match="import code"):
        resolve_model(f"spec:{spec}", allow_code=False)
    # a shared link naming a path: not an option, so the page falls back to a listed model
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["model"] = "/etc/passwd"
    at.switch_page("views/probe.py")
    at.run()
    _ok(at)
    assert (
        at.selectbox(key="model").value in at.selectbox(key="model").options_values
        if hasattr(at.selectbox(key="model"), "options_values")
        else at.selectbox(key="model").value != "/etc/passwd"
    )
    assert at.selectbox(key="model").value != "/etc/passwd"


@pytest.mark.parametrize("location", ["/etc/passwd", "../../../../etc/passwd"])
def test_an_uploaded_onnx_naming_a_server_file_is_refused(app, tmp_path, location):
    """ONNX external data is a path: an upload whose tensor lives in /etc/passwd (or climbs out of the
    session's folder) is refused with a message before anything is read; a plain upload works."""
    import onnx

    from tests.test_onnx_models import _external, export, tiny_iresnet

    plain = export(tiny_iresnet(), tmp_path / "tiny.onnx")
    app.switch_page("views/probe.py")
    app.run()
    _upload(app, "outside", "evil.onnx", _external(onnx.load(str(plain)), location).SerializeToString())
    errors = [e.value for e in app.error]
    assert any("cannot be used: evil.onnx" in e and "external data" in e for e in errors), errors
    assert not any("interpface-upload" in e for e in errors)  # the server's folders are not shown
    assert "outside" not in app.selectbox(key="model").options
    _upload(app, "tiny onnx", "tiny.onnx", plain.read_bytes())
    _ok(app)
    assert "tiny onnx" in app.selectbox(key="model").options


def test_the_served_models_folder_is_listed_and_never_left(tmp_path, zoo, monkeypatch):
    """`--models-dir`: checkpoint folders and IResNet weights with sidecars are listed; a symlink out of
    the folder (to a model file or a checkpoint folder elsewhere) and a sidecar-less weight file are not."""
    import json
    import shutil

    from interpface.dashboard.common import scan_models_dir

    user_file = Path(zoo["INTERPFACE_USER_MODELS"].split(":", 1)[1])
    served, outside = tmp_path / "served", tmp_path / "outside"
    served.mkdir()
    outside.mkdir()
    shutil.copytree(Path(zoo["INTERPFACE_MODELS"]) / "full", served / "ours")
    shutil.copy(user_file, served / "r18.safetensors")
    (served / "r18.json").write_text(json.dumps({"architecture": "iresnet18"}))
    shutil.copy(user_file, served / "nosidecar.safetensors")
    shutil.copy(user_file, outside / "secret.safetensors")
    (outside / "secret.json").write_text(json.dumps({"architecture": "iresnet18"}))
    (served / "secret.safetensors").symlink_to(outside / "secret.safetensors")
    (served / "secret.json").symlink_to(outside / "secret.json")
    shutil.copytree(Path(zoo["INTERPFACE_MODELS"]) / "base", outside / "elsewhere")
    (served / "elsewhere").symlink_to(outside / "elsewhere")
    found = scan_models_dir(served.resolve())
    assert set(found) == {"ours", "r18"}
    assert found["r18"].startswith("iresnet18:") and found["ours"].startswith("interpface:")
    monkeypatch.setenv("INTERPFACE_MODELS_DIR", str(served))
    for key, value in zoo.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    _ok(at)
    assert any(str(served.resolve()) in c.value for c in at.caption)  # the Overview says where models come from
    at.switch_page("views/probe.py")
    at.run()
    options = at.selectbox(key="model").options
    assert "r18 (black box)" in options and "ours" in options and not [o for o in options if "secret" in o]
    box = at.selectbox(key="model")
    box.select_index(options.index("r18 (black box)"))
    at.run()
    _ok(at)


def test_a_prepared_folder_is_a_dataset_of_the_pages(zoo, monkeypatch, tmp_path, faces):
    """Folders prepared in the cache (a folder per identity, a flat folder) join LFW in the sidebar's
    Dataset picker; the pages that show dataset faces show theirs."""
    import shutil

    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import prepare_dataset

    people, flat, cache = tmp_path / "team", tmp_path / "snaps", tmp_path / "cache"
    flat.mkdir()
    for r in faces.records[::3]:
        (people / r.identity).mkdir(parents=True, exist_ok=True)
        shutil.copy(faces.path(r.relpath), people / r.relpath)
        shutil.copy(faces.path(r.relpath), flat / r.relpath.split("/")[1])
    for folder in (people, flat):
        prepare_dataset(load_dataset(f"folder:{folder}"), cache_dir=cache, workers=1, progress=False)
    for key, value in {**zoo, "INTERPFACE_CACHE": str(cache)}.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    _ok(at)
    picker = at.selectbox(key="dataset")
    ids = list(picker.options)
    assert len(ids) == 3 and ids[0].startswith("LFW") and "/" not in "".join(ids)  # labels; no server path
    team = next(o for o in ids if o.startswith("team"))
    snaps = next(o for o in ids if o.startswith("snaps"))
    assert "no identities" in snaps and "no identities" not in team
    picker.set_value(team)
    at.switch_page("views/probe.py")
    at.run()
    at.radio(key="probe_face_src").set_value("Dataset")
    at.run()
    _ok(at)
    assert set(at.selectbox(key="probe_face_person").options) == {r.identity for r in faces.records[::3]}
    for page in ("views/filters.py", "views/atlas.py", "views/overview.py"):
        at.switch_page(page)
        at.run()
        _ok(at)
    assert any("team" in s.value for s in at.success)
    at.selectbox(key="dataset").set_value(snaps)
    at.switch_page("views/atlas.py")
    at.run()
    _ok(at)
