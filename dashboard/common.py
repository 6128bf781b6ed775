"""Shared dashboard plumbing: cached models and faces, the sidebar pickers, and error guarding.

Models are cached with st.cache_resource (one copy per process, shared by every session: never
mutate them); prepared faces and arrays with st.cache_data.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from interpface.errors import InterpfaceError
from interpface.models.zoo import BLACK_BOXES, VARIANT_LABELS, available_models, peer_evaluation, user_models

#: Widgets that define a view (model, face, occluder, filter, ...) are bound to the URL's query
#: parameters (Streamlit's `bind`): the URL restores the view and can be shared.
BIND = "query-params"

# Several sessions share two cores: one intra-op thread per forward keeps latency predictable.
torch.set_num_threads(int(os.environ.get("INTERPFACE_DASHBOARD_THREADS", "1")))

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@contextmanager
def guarded(what: str = ""):
    """Show user errors as a message and never a traceback; the rest of the page keeps working."""
    try:
        yield
    except InterpfaceError as exc:
        st.error(f"{what + ': ' if what else ''}{exc}")
    except Exception as exc:  # noqa: BLE001 - a dashboard must not show tracebacks
        st.error(f"{what + ': ' if what else ''}unexpected {type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------------------ models
def model_root() -> Path | None:
    """$INTERPFACE_MODELS (tests point it at a tiny model) or the bundled assets/models."""
    env = os.environ.get("INTERPFACE_MODELS")
    return Path(env) if env else None


@st.cache_resource(show_spinner="Loading model...")
def get_model(path: str):
    from interpface.models.checkpoint import load_model

    model, info = load_model(path)
    model.eval()
    model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info


def black_boxes() -> dict[str, str]:
    """{name: --checkpoint value} of the black-box models: the dlib port, INTERPFACE_USER_MODELS, and
    those added in this session's sidebar."""
    out = {} if os.environ.get("INTERPFACE_NO_BLACK_BOXES") == "1" else dict(BLACK_BOXES)
    try:
        out.update(user_models(os.environ.get("INTERPFACE_USER_MODELS")))
    except InterpfaceError as exc:
        st.sidebar.error(str(exc))
    out.update(st.session_state.get("user_models", {}))
    return out


def models() -> dict[str, Path | str]:
    """{name: checkpoint folder (ours) or --checkpoint value (a black box)}, ours first."""
    found: dict[str, Path | str] = dict(available_models(model_root()))
    for name, spec in black_boxes().items():
        found.setdefault(name, spec)
    return found


def is_black_box(name: str) -> bool:
    return not isinstance(models().get(name), Path)


@st.cache_resource(show_spinner="Loading the face model...")
def get_face_model(spec: str):
    """A black box (interpface.models.adapters.FaceModel) from its --checkpoint value; shared, read-only."""
    from interpface.models.adapters import load_face_model

    fm = load_face_model(spec)
    fm.module.eval()
    for p in fm.module.parameters():
        p.requires_grad_(False)
    return fm


def load(name: str):
    """(model, info): our InterpretableFaceNet and its checkpoint info, or a black box's FaceModel and
    {"black_box": True}. Every page's analyses take either."""
    if is_black_box(name):
        return get_face_model(model_path(name)), {"black_box": True}
    return get_model(model_path(name))


def model_inputs(fm, faces: list[dict]) -> np.ndarray:
    """(N, S, S, 3) uint8: the images a black box sees, cut from aligned faces by its own alignment
    (for methods that run on its input: captum attributions, pair maps)."""
    from interpface.models.adapters import input_space_net

    x, _ = fm.prepare(np.stack([f["crop"] for f in faces]), np.stack([f["landmarks"] for f in faces]))
    wrapped = input_space_net(fm)
    x01 = (x - wrapped.shift) / wrapped.scale
    return (x01 * 255).permute(0, 2, 3, 1).numpy().round().clip(0, 255).astype(np.uint8)


def label(name: str) -> str:
    return VARIANT_LABELS.get(name, name + (" (black box)" if name in black_boxes() else ""))


def pick_model(key: str = "model", *, where=st.sidebar, default: str = "full", text: str = "Model") -> str | None:
    found = models()
    if not found:
        where.warning("No models found in assets/models. Train or export one (see README).")
        return None
    names = list(found)
    index = names.index(default) if default in names else 0
    chosen = where.selectbox(text, names, index=index, format_func=label, key=key, bind=BIND,
                             help="Ours (interpretable filters) first, then black-box face models: the dlib port, "
                                  "and any added below or through INTERPFACE_USER_MODELS.")
    if where is st.sidebar:
        add_user_model_form(where)
    share_link()
    return chosen


def add_user_model_form(where=st.sidebar) -> None:
    """Sidebar form: add a black-box face model for this session (checked by loading it)."""
    with where.expander("Add a face model", icon=":material/add:"):
        st.caption("A state dict of insightface's IResNet (`iresnet50:/path/r50.pth`, safetensors or .pth read "
                   "with weights_only) or a model spec (`spec:/path/spec.json`). Read from this machine's disk.")
        with st.form("add_model", border=False):
            name = st.text_input("Name", key="add_model_name")
            spec = st.text_input("Model", key="add_model_spec", placeholder="iresnet50:/models/r50.pth")
            if st.form_submit_button("Add"):
                from interpface.models.adapters import is_face_model_spec

                with guarded("This model cannot be used"):
                    if not name.strip() or not is_face_model_spec(spec.strip()):
                        raise InterpfaceError("give a name and iresnet<depth>:<file> or spec:<file>")
                    get_face_model(spec.strip())  # loads and checks it now, not on some later page
                    st.session_state.setdefault("user_models", {})[name.strip()] = spec.strip()
                    st.session_state["user_model_added"] = name.strip()
                    st.rerun()  # the model lists above were drawn before it existed
        added = st.session_state.pop("user_model_added", None)
        if added:
            st.success(f"Added {added}: pick it in the model lists.")


def require_models() -> list[str]:
    """The available model names; stops the page with a warning when there are none."""
    found = list(models())
    if not found:
        st.warning("No models in assets/models. Train or export one (see README).")
        st.stop()
    add_user_model_form()
    share_link()
    return found


def model_path(name: str) -> str:
    return str(models()[name])


# ------------------------------------------------------------------------------------------- faces
@st.cache_resource(show_spinner="Loading face detector...")
def get_pipeline():
    from interpface.faces.pipeline import FacePipeline

    return FacePipeline()


@st.cache_data(max_entries=128, show_spinner="Detecting and aligning the face...")
def prepare_bytes(data: bytes, fallback: bool = False) -> dict:
    """Image bytes -> {'crop': (110,110,3) uint8, 'landmarks': (68,2), 'status', 'n_faces',
    'detector', 'fit_residual'}."""
    return _face_dict(get_pipeline().prepare(data, fallback=fallback))


def _face_dict(face) -> dict:
    return {"crop": face.crop, "landmarks": face.landmarks, "status": face.detection.status,
            "n_faces": face.detection.n_faces, "detector": face.detection.detector,
            "fit_residual": float(face.fit_residual)}


@st.cache_data(max_entries=16, show_spinner=False)
def prepare_sample(name: str) -> dict:
    from interpface.faces.samples import sample_face

    return _face_dict(get_pipeline().prepare(sample_face(name)))


@st.cache_resource(show_spinner=False)
def dataset_handle():
    """(FaceDataset, PreparedDataset or None) when a dataset is configured, else None."""
    from interpface.faces.datasets import load_lfw
    from interpface.faces.prepare import PreparedDataset

    try:
        ds = load_lfw()
    except InterpfaceError:
        return None
    try:
        cache = PreparedDataset.open(ds)
    except InterpfaceError:
        cache = None
    return ds, cache


@st.cache_data(max_entries=256, show_spinner=False)
def prepare_dataset_image(relpath: str) -> dict:
    handle = dataset_handle()
    ds, cache = handle
    if cache is not None:
        row = int(cache.rows([relpath], missing_ok=True)[0])
        if row >= 0 and cache.status[row] != "failed":
            entry = cache.entries[row]
            return {"crop": np.array(cache.crops[row]), "landmarks": cache.landmarks[row].copy(),
                    "status": str(cache.status[row]), "n_faces": int(entry["n_faces"]),
                    "detector": entry.get("detector", "hog"),
                    "fit_residual": entry.get("fit_residual") if entry.get("fit_residual") is not None else float("nan")}
    return prepare_bytes(Path(ds.path(relpath)).read_bytes(), fallback=True)


@st.cache_data(show_spinner=False)
def dataset_people() -> dict[str, list[str]]:
    handle = dataset_handle()
    if handle is None:
        return {}
    people: dict[str, list[str]] = {}
    for rec in handle[0].records:
        people.setdefault(rec.identity, []).append(rec.relpath)
    return people


def pick_face(key: str, *, where=None, text: str = "Face") -> dict | None:
    """Face source tabs (samples, dataset, upload, camera) -> a prepared face dict with a 'label'."""
    where = where or st.container()
    with where:
        st.markdown(f"**{text}**")
        sources = ["Sample faces"] + (["Dataset"] if dataset_handle() is not None else []) + ["Upload", "Camera"]
        source = st.radio("Source", sources, horizontal=True, key=f"{key}_src", bind=BIND, label_visibility="collapsed")
        face = None
        with guarded("This image cannot be used"):
            if source == "Sample faces":
                name = st.selectbox("Sample", ["astronaut", "grace_hopper"], key=f"{key}_sample", bind=BIND)
                face = {**prepare_sample(name), "label": name}
            elif source == "Dataset":
                people = dataset_people()
                names = sorted(people)
                default = names.index("Colin_Powell") if "Colin_Powell" in names else 0
                person = st.selectbox("Person (type to search)", names, index=default, key=f"{key}_person", bind=BIND)
                images = people[person]
                idx = st.number_input(f"Image (1-{len(images)})", 1, len(images), 1, key=f"{key}_img", bind=BIND)
                rel = images[int(idx) - 1]
                face = {**prepare_dataset_image(rel), "label": rel}
            elif source == "Upload":
                up = st.file_uploader("Image (jpg, png, webp; at most 10 MB)", type=UPLOAD_TYPES, key=f"{key}_up")
                if up is not None:
                    data = up.getvalue()
                    if len(data) > MAX_UPLOAD_BYTES:
                        raise InterpfaceError("the file is larger than 10 MB")
                    fallback = st.checkbox("No face found? Fit landmarks in the central box", key=f"{key}_fb")
                    face = {**prepare_bytes(data, fallback), "label": up.name}
            else:
                shot = st.camera_input("Take a picture", key=f"{key}_cam")
                if shot is not None:
                    face = {**prepare_bytes(shot.getvalue()), "label": "camera"}
        if face is not None and face["status"] in ("multiple", "fallback"):
            st.caption({"multiple": f"{face['n_faces']} faces found: the largest is used.",
                        "fallback": "No face detected: landmarks fitted in the central box."}[face["status"]])
        if face is not None:
            st.caption(face_note(face))
        return face


def face_note(face: dict) -> str:
    """One line on how the face was found and how well its 68 points fit."""
    from interpface.faces.align import MAX_FIT_RESIDUAL

    by = {"hog": "Found by HOG", "mmod": "Found by the MMOD CNN detector (HOG found no face)",
          "hog_relaxed": "Found by HOG at a lowered threshold (neither detector found it as usual: check the landmarks)",
          "fallback": "No detector found a face"}.get(face.get("detector"), "Found")
    residual = face.get("fit_residual")
    if residual is None or not np.isfinite(residual):
        return by + "."
    quality = "poor fit: check the landmarks" if residual > MAX_FIT_RESIDUAL else "good fit"
    return f"{by}; landmark fit residual {residual:.1f} px ({quality}; poor above {MAX_FIT_RESIDUAL:g} px)."


def face_key(face: dict) -> str:
    return hashlib.sha1(face["crop"].tobytes()).hexdigest()[:12]


# --------------------------------------------------------------------------------------- analyses
def analyses_dir() -> Path | None:
    """$INTERPFACE_ANALYSES (tests) or the bundled assets/analyses."""
    env = os.environ.get("INTERPFACE_ANALYSES")
    return Path(env) if env else None


@st.cache_data(show_spinner=False)
def precomputed(name: str):
    """The shipped analysis of a model, or None."""
    from interpface.analysis import load_precomputed

    try:
        return load_precomputed(name, analyses_dir())
    except InterpfaceError:
        return None


def analyses_for(names: list[str]) -> dict:
    """{name: analysis} for the models that have one; says which do not."""
    out, missing = {}, []
    for n in names:
        a = precomputed(n)
        (out.__setitem__(n, a) if a is not None else missing.append(n))
    if missing:
        st.info("No precomputed analysis for: " + ", ".join(label(m) for m in missing) +
                ". Make one with `interpface analyze --checkpoint DIR --precompute NAME`.")
    return out


def evaluation_of(name: str) -> dict | None:
    """The shipped evaluation (tables, ROC points, thresholds) of a model or black box, or None."""
    from interpface.models.zoo import model_card

    if is_black_box(name):
        return peer_evaluation(name)
    return model_card(models()[name]).get("evaluation")


def remember_figure(key: str, fig) -> None:
    """Offer a figure on the Export page."""
    st.session_state.setdefault("last_figures", {})[key] = fig


def share_link(where=None) -> str:
    """The URL of the current view (page + bound widget values), shown with a copy button."""
    from urllib.parse import urlencode

    where = where or st.sidebar
    base = str(getattr(st.context, "url", "") or "").split("?")[0]
    params = st.query_params.to_dict()
    link = base + ("?" + urlencode(params) if params else "")
    with where.expander("Share this view", icon=":material/link:"):
        st.caption("The page, model, face, occluder and filter are in this link; opening it restores the view "
                   "(an uploaded image must be uploaded again).")
        st.code(link or "(open the dashboard in a browser to get a link)", language=None, wrap_lines=True)
    return link
