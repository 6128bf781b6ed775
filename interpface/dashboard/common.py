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
# Where models come from, and who may choose them:
# - the bundled reference models (assets/models, or $INTERPFACE_MODELS in tests) and the dlib port;
# - the operator's folder (`interpface dashboard --models-dir DIR` / $INTERPFACE_MODELS_DIR): listed, never
#   left (a symlink out of it or a `..` is not followed);
# - the operator's own URIs ($INTERPFACE_USER_MODELS, spec: allowed: the operator runs the server);
# - a visitor's uploads (ONNX or safetensors), kept in a temporary folder of that session only.
# A visitor never types a path and never loads a spec (a spec imports code).
MAX_MODEL_UPLOAD_BYTES = 200 * 1024 * 1024
IRESNET_ARCHITECTURES = ("iresnet18", "iresnet34", "iresnet50", "iresnet100")


def model_root() -> Path | None:
    """$INTERPFACE_MODELS (tests point it at a tiny model) or the bundled assets/models."""
    env = os.environ.get("INTERPFACE_MODELS")
    return Path(env) if env else None


def served_models_dir() -> Path | None:
    """The operator's folder of models ($INTERPFACE_MODELS_DIR, set by `interpface dashboard --models-dir`)."""
    env = os.environ.get("INTERPFACE_MODELS_DIR")
    return Path(env).resolve() if env else None


def _frozen(fm):
    """A shared model is read-only: eval mode, no gradients kept on its weights."""
    fm.module.eval()
    for p in fm.module.parameters():
        p.requires_grad_(False)
    return fm


@st.cache_resource(show_spinner="Loading the model...")
def get_face_model(uri: str):
    """The FaceModel of a server-side model URI (bundled, the operator's folder or environment); one copy
    per process, shared by every session: never mutate it."""
    from interpface.models.registry import resolve_model

    return _frozen(resolve_model(uri))


def black_boxes() -> dict[str, str]:
    """{name: model URI} of the models beside ours: the dlib port and $INTERPFACE_USER_MODELS."""
    out = {} if os.environ.get("INTERPFACE_NO_BLACK_BOXES") == "1" else dict(BLACK_BOXES)
    try:
        out.update(user_models(os.environ.get("INTERPFACE_USER_MODELS")))
    except InterpfaceError as exc:
        st.sidebar.error(str(exc))
    return out


def models() -> dict[str, str]:
    """{name: model URI}: ours first, then the dlib port, the operator's folder and environment, and
    this session's uploads ("upload:<name>", held in the session, never a path)."""
    found: dict[str, str] = {name: f"interpface:{path}" for name, path in available_models(model_root()).items()}
    for name, uri in black_boxes().items():
        found.setdefault(name, uri)
    root = served_models_dir()
    if root is not None:
        for name, uri in scan_models_dir(root).items():
            found.setdefault(name, uri)
    for name in st.session_state.get("uploaded_models", {}):
        found.setdefault(name, f"upload:{name}")
    return found


def is_black_box(name: str) -> bool:
    """A model without part filters (the pages show its layer's channels instead)."""
    from interpface.models.face_model import PART_FILTERS

    return not load(name)[0].has(PART_FILTERS)


def load(name: str):
    """(FaceModel, info) of a listed model; info: the checkpoint's record for ours, else {}. Every
    page's analyses take the FaceModel, whatever is inside it."""
    uri = models().get(name)
    if uri is None:
        raise InterpfaceError(f"no model named {name!r}")
    if uri.startswith("upload:"):
        fm = st.session_state["uploaded_models"][name]["model"]
    else:
        fm = get_face_model(uri)
    return fm, getattr(fm, "info", {})


def pick_layer(model, key: str, help: str) -> str | None:
    """The sidebar's response-layer picker for a model without part filters (its "filters" are the
    channels of a layer); None for ours, whose filters are the part filters."""
    from interpface.models.face_model import PART_FILTERS

    if model.has(PART_FILTERS):
        return None
    layers = list(model.layers)
    return st.sidebar.selectbox(
        "Response layer", layers, index=layers.index(model.default_layer), key=key, bind=BIND, help=help
    )


def model_key(name: str) -> str:
    """A key for caches shared by all sessions: the model's URI, or for an upload this session's own
    folder (two visitors' uploads of the same name never share a cache entry)."""
    uri = models()[name]
    if uri.startswith("upload:"):
        return f"{uri}@{st.session_state['upload_folder'].path}"
    return uri


def model_inputs(fm, faces: list[dict]) -> np.ndarray:
    """(N, S, S, 3) uint8: the images a model sees, cut from aligned faces by its own alignment (before
    its normalisation), for methods that run on its input: captum attributions, pair maps."""
    x01, _ = fm.chips(np.stack([f["crop"] for f in faces]), np.stack([f["landmarks"] for f in faces]))
    return (x01 * 255).permute(0, 2, 3, 1).numpy().round().clip(0, 255).astype(np.uint8)


def label(name: str) -> str:
    """A model's display name: the reference variants' long names; models without part filters from
    the server (the dlib port, the operator's folder and environment) marked "(black box)"; uploads
    by the name their visitor gave."""
    if name in VARIANT_LABELS:
        return VARIANT_LABELS[name]
    root = served_models_dir()
    served = {**black_boxes(), **(scan_models_dir(root) if root is not None else {})}
    return name + (" (black box)" if name in served and not served[name].startswith("interpface:") else "")


def pick_model(key: str = "model", *, where=st.sidebar, default: str = "full", text: str = "Model") -> str | None:
    found = models()
    if not found:
        where.warning("No models found in assets/models. Train or export one (see README).")
        return None
    names = list(found)
    index = names.index(default) if default in names else 0
    chosen = where.selectbox(
        text,
        names,
        index=index,
        format_func=label,
        key=key,
        bind=BIND,
        help="Ours (interpretable filters) first, then other face models: the dlib port, the "
        "server's model folder, and any uploaded below.",
    )
    if where is st.sidebar:
        add_user_model_form(where)
    share_link()
    return chosen


def scan_models_dir(root: Path) -> dict[str, str]:
    """{name: URI} of the models in the operator's folder: ``*.onnx`` (with ``NAME.json`` sidecars),
    IResNet weights ``NAME.safetensors`` / ``NAME.pth`` with a sidecar ``{"architecture": "iresnet50"}``,
    and checkpoint folders. Entries whose real path leaves the folder (symlinks) are skipped."""
    import json

    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        real = entry.resolve()
        if not real.is_relative_to(root):  # a symlink out of the folder: never followed
            continue
        if real.is_dir() and (real / "model.safetensors").is_file() and (real / "config.json").is_file():
            out[entry.name] = f"interpface:{real}"
        elif real.suffix == ".onnx" and real.is_file():
            out[entry.stem] = f"onnx:{real}"
        elif real.suffix in (".safetensors", ".pth") and real.is_file():
            sidecar = real.with_suffix(".json")
            try:
                arch = json.loads(sidecar.read_text()).get("architecture") if sidecar.is_file() else None
            except (OSError, ValueError):
                arch = None
            if arch in IRESNET_ARCHITECTURES:
                out[entry.stem] = f"{arch}:{real}"
    return out


class _SessionFolder:
    """A temporary folder owned by one browser session: removed when the session's state is dropped
    (the session ends) or the interpreter exits."""

    def __init__(self):
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="interpface-upload-")
        self.path = Path(self._tmp.name)


def add_uploaded_model(
    name: str, data: bytes, filename: str, sidecar: bytes | None = None, architecture: str | None = None
):
    """Check and load a visitor's model file (ONNX, or an IResNet safetensors state dict) from bytes;
    it is written only into this session's temporary folder, under a fixed name."""
    import re

    from interpface.models.registry import resolve_model

    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}", name):
        raise InterpfaceError("a model name is 1-64 letters, digits, spaces, '.', '_' or '-'")
    if name in models() and name not in st.session_state.get("uploaded_models", {}):
        raise InterpfaceError(f"a model named {name!r} exists already")
    if len(data) > MAX_MODEL_UPLOAD_BYTES:
        raise InterpfaceError(f"the model file is larger than {MAX_MODEL_UPLOAD_BYTES >> 20} MB")
    suffix = Path(filename).suffix.lower()
    folder = st.session_state.setdefault("upload_folder", _SessionFolder()).path
    slot = folder / hashlib.sha1(name.encode()).hexdigest()[:12]
    slot.mkdir(exist_ok=True)
    if suffix == ".onnx":
        (slot / "model.onnx").write_bytes(data)
        if sidecar is not None:
            (slot / "model.json").write_bytes(sidecar)
        uri = f"onnx:{slot / 'model.onnx'}"
    elif suffix == ".safetensors":
        if architecture not in IRESNET_ARCHITECTURES:
            raise InterpfaceError(
                f"a safetensors upload is an IResNet state dict: choose one of {', '.join(IRESNET_ARCHITECTURES)}"
            )
        (slot / "model.safetensors").write_bytes(data)
        uri = f"{architecture}:{slot / 'model.safetensors'}"
    else:
        raise InterpfaceError("upload an .onnx file (with its optional .json sidecar) or an IResNet .safetensors file")
    try:
        fm = _frozen(resolve_model(uri, allow_code=False))
    except InterpfaceError as exc:  # name the visitor's file, not the server's temporary folder
        raise type(exc)(str(exc).replace(str(slot / Path(uri.partition(":")[2]).name), filename)) from None
    fm.name = name
    st.session_state.setdefault("uploaded_models", {})[name] = {"model": fm, "file": filename}
    return fm


def add_user_model_form(where=st.sidebar) -> None:
    """Sidebar form: upload a face model for this session (checked by loading it). Nothing is read
    from the server's disk by a visitor's choice."""
    root = served_models_dir()
    with where.expander("Add a face model", icon=":material/add:"):
        st.caption(
            "Upload an ONNX model (with its optional `NAME.json` sidecar: input_size, alignment, mean, std, "
            "channel_order) or an IResNet state dict (.safetensors). It stays in this session only."
            + (f" Models in the server's folder `{root}` are listed already." if root else "")
        )
        with st.form("add_model", border=False):
            name = st.text_input("Name", key="add_model_name")
            up = st.file_uploader("Model file", type=["onnx", "safetensors"], key="add_model_file")
            side = st.file_uploader("Sidecar (optional, ONNX)", type=["json"], key="add_model_sidecar")
            arch = st.selectbox("Architecture (safetensors)", IRESNET_ARCHITECTURES, index=2, key="add_model_arch")
            if st.form_submit_button("Add"):
                with guarded("This model cannot be used"):
                    if up is None or not name.strip():
                        raise InterpfaceError("give a name and a model file")
                    add_uploaded_model(
                        name, up.getvalue(), up.name, side.getvalue() if side is not None else None, arch
                    )
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
    return {
        "crop": face.crop,
        "landmarks": face.landmarks,
        "status": face.detection.status,
        "n_faces": face.detection.n_faces,
        "detector": face.detection.detector,
        "fit_residual": float(face.fit_residual),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def prepare_sample(name: str) -> dict:
    from interpface.faces.samples import sample_face

    return _face_dict(get_pipeline().prepare(sample_face(name)))


#: The id of LFW among the datasets (the others: their cache folder's name, never a server path).
LFW = "lfw"


def _where() -> tuple[str, str]:
    """(cache root, data root) as the environment says now: the key of the dataset caches below."""
    from interpface.faces.prepare import cache_root

    return str(cache_root()), os.environ.get("INTERPFACE_DATA", "")


def datasets() -> dict[str, str]:
    """{id: label} of the datasets whose faces the pages can show: LFW when configured (prepared or
    not: its faces are then aligned on demand), then every dataset prepared in the cache
    (`interpface data prepare --dataset folder:PATH`). An id is "lfw" or a cache folder's name, so a
    URL never carries a server path."""
    return _datasets(*_where())


@st.cache_data(ttl=60, show_spinner=False)
def _datasets(cache: str, data: str) -> dict[str, str]:
    from interpface.faces.datasets import load_lfw
    from interpface.faces.sources import list_prepared

    out: dict[str, str] = {}
    try:
        lfw = load_lfw()
        out[LFW] = f"LFW ({len(lfw):,} images)"
    except InterpfaceError:
        lfw = None
    for info in list_prepared(cache):
        if info.spec == "lfw":
            if lfw is not None and Path(info.image_dir).resolve() == Path(lfw.image_dir).resolve():
                out[LFW] = f"LFW ({info.n_images:,} images, prepared)"
            continue
        out.setdefault(info.directory.parent.name, info.label)
    return out


def _prepared_dirs(cache: str) -> dict[str, Path]:
    from interpface.faces.sources import list_prepared

    return {i.directory.parent.name: i.directory for i in list_prepared(cache) if i.spec != "lfw"}


def current_dataset() -> str | None:
    """The dataset chosen in the sidebar (:func:`pick_dataset`), else the first one; None without any."""
    found = datasets()
    chosen = st.session_state.get("dataset")
    return chosen if chosen in found else next(iter(found), None)


def pick_dataset(where=st.sidebar) -> str | None:
    """The sidebar's dataset picker (shown when there is a choice; bound to the URL). Returns the id."""
    found = datasets()
    if len(found) < 2:
        return next(iter(found), None)
    ids = list(found)
    current = current_dataset()
    return where.selectbox(
        "Dataset",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda i: found.get(i, i),
        key="dataset",
        bind=BIND,
        help="Whose faces the pages show: LFW, or a folder of your own prepared with "
        "`interpface data prepare --dataset folder:PATH`.",
    )


def dataset_id_of(spec: str | None) -> str | None:
    """The id of a dataset given by its spec (``lfw`` / ``folder:PATH``, as an analysis records it),
    when it is available here; None otherwise."""
    if not spec:
        return None
    if spec == LFW:
        return LFW if LFW in datasets() else None
    if spec.startswith("folder:"):
        from interpface.faces.sources import list_prepared

        path = Path(spec[len("folder:") :]).expanduser().resolve()
        for info in list_prepared(_where()[0]):
            if info.spec != "lfw" and Path(info.image_dir).resolve() == path:
                return info.directory.parent.name
    return None


@st.cache_resource(show_spinner=False)
def _dataset_handle(dataset_id: str, cache_dir: str, data: str):
    from interpface.faces.datasets import FaceDataset, ImageRecord, load_lfw
    from interpface.faces.prepare import PreparedDataset

    if dataset_id == LFW:
        try:
            ds = load_lfw()
        except InterpfaceError:
            return None
        try:
            cache = PreparedDataset.open(ds, cache_dir)
        except InterpfaceError:
            cache = None
        return ds, cache
    directory = _prepared_dirs(cache_dir).get(dataset_id)
    if directory is None:
        return None
    cache = PreparedDataset(directory)  # the cache alone: its folder need not be scanned (or even exist)
    records = [ImageRecord(r, i) for r, i in zip(cache.relpaths, cache.identities)]
    name = str(cache.index.get("dataset", dataset_id))
    ds = FaceDataset(name, Path(cache.index["image_dir"]), records, has_identities=any(cache.identities))
    return ds, cache


def dataset_handle(dataset_id: str | None = None):
    """(FaceDataset, PreparedDataset or None) of a dataset (default: the one chosen in the sidebar), or
    None when there is none."""
    dataset_id = dataset_id or current_dataset()
    return None if dataset_id is None else _dataset_handle(dataset_id, *_where())


@st.cache_data(max_entries=256, show_spinner=False)
def _dataset_image(dataset_id: str, relpath: str, cache_dir: str, data: str) -> dict:
    handle = _dataset_handle(dataset_id, cache_dir, data)
    if handle is None:
        raise InterpfaceError("this dataset is not available here")
    ds, cache = handle
    if cache is not None:
        row = int(cache.rows([relpath], missing_ok=True)[0])
        if row >= 0 and cache.status[row] != "failed":
            entry = cache.entries[row]
            return {
                "crop": np.array(cache.crops[row]),
                "landmarks": cache.landmarks[row].copy(),
                "status": str(cache.status[row]),
                "n_faces": int(entry["n_faces"]),
                "detector": entry.get("detector", "hog"),
                "fit_residual": entry.get("fit_residual") if entry.get("fit_residual") is not None else float("nan"),
            }
        if dataset_id != LFW:
            raise InterpfaceError(f"{relpath}: no face was found in it when the dataset was prepared")
    return prepare_bytes(Path(ds.path(relpath)).read_bytes(), fallback=True)


def prepare_dataset_image(relpath: str, dataset_id: str | None = None) -> dict:
    """A dataset image's prepared face dict (from the cache; LFW without a cache: aligned now)."""
    return _dataset_image(dataset_id or current_dataset(), relpath, *_where())


@st.cache_data(show_spinner=False)
def _dataset_people(dataset_id: str, cache_dir: str, data: str) -> dict[str, list[str]]:
    handle = _dataset_handle(dataset_id, cache_dir, data)
    if handle is None:
        return {}
    ds, cache = handle
    usable = None if cache is None or dataset_id == LFW else set(np.flatnonzero(cache.usable()).tolist())
    people: dict[str, list[str]] = {}
    for i, rec in enumerate(ds.records):
        if usable is None or i in usable:
            # a dataset without identities: every image stands for itself
            people.setdefault(rec.identity or rec.relpath, []).append(rec.relpath)
    return people


def dataset_people(dataset_id: str | None = None) -> dict[str, list[str]]:
    """{identity: [relpath, ...]} of a dataset (default: the chosen one); images without a face left
    out of a prepared folder; a flat folder's images each under their own name."""
    dataset_id = dataset_id or current_dataset()
    return {} if dataset_id is None else _dataset_people(dataset_id, *_where())


def pick_face(key: str, *, where=None, text: str = "Face") -> dict | None:
    """Face source tabs (samples, dataset, upload, camera) -> a prepared face dict with a 'label'."""
    where = where or st.container()
    with where:
        st.markdown(f"**{text}**")
        has_dataset = dataset_handle() is not None
        sources = ["Sample faces"] + (["Dataset"] if has_dataset else []) + ["Upload", "Camera"]
        source = st.radio("Source", sources, horizontal=True, key=f"{key}_src", bind=BIND, label_visibility="collapsed")
        face = None
        with guarded("This image cannot be used"):
            if source == "Sample faces":
                name = st.selectbox("Sample", ["astronaut", "grace_hopper"], key=f"{key}_sample", bind=BIND)
                face = {**prepare_sample(name), "label": name}
            elif source == "Dataset":
                found = datasets()
                if len(found) > 1:
                    st.caption(f"From {found[current_dataset()]} (another dataset: the sidebar's Dataset).")
                people = dataset_people()
                names = sorted(people)
                if not names:
                    raise InterpfaceError("no face was found in this dataset's images when it was prepared")
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
            st.caption(
                {
                    "multiple": f"{face['n_faces']} faces found: the largest is used.",
                    "fallback": "No face detected: landmarks fitted in the central box.",
                }[face["status"]]
            )
        if face is not None:
            st.caption(face_note(face))
        return face


def face_note(face: dict) -> str:
    """One line on how the face was found and how well its 68 points fit."""
    from interpface.faces.align import MAX_FIT_RESIDUAL

    by = {
        "hog": "Found by HOG",
        "mmod": "Found by the MMOD CNN detector (HOG found no face)",
        "hog_relaxed": "Found by HOG at a lowered threshold (neither detector found it as usual: check the landmarks)",
        "fallback": "No detector found a face",
    }.get(face.get("detector"), "Found")
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
        st.info(
            "No precomputed analysis for: "
            + ", ".join(label(m) for m in missing)
            + ". Make one with `interpface analyze --checkpoint DIR --precompute NAME`."
        )
    return out


def trust_cards_of(name: str) -> dict | None:
    """{method: trust card} of a listed model: shipped with the reference models and the dlib port, or
    NAME.trust.json beside a model in the served folder; None where none was measured (uploads)."""
    from interpface.analysis.trust import load_trust_cards

    uri = models().get(name)
    if uri is None or uri.startswith("upload:"):
        return None
    # the shipped cards describe the shipped models: the bundled folder and the dlib port, not a
    # model that merely has the same name ($INTERPFACE_MODELS in tests, the operator's folder)
    bundled = model_root() is None and name in available_models(None)
    if bundled or (name in BLACK_BOXES and uri == BLACK_BOXES[name]):
        return load_trust_cards(name)
    root = served_models_dir()
    if root is not None and name in scan_models_dir(root):
        return load_trust_cards(name, root)
    return None


def evaluation_of(name: str) -> dict | None:
    """The shipped evaluation (tables, ROC points, thresholds) of a model or black box, or None."""
    from interpface.models.registry import scheme_of
    from interpface.models.zoo import model_card

    uri = models().get(name, "")
    if uri.startswith("interpface:"):
        return model_card(scheme_of(uri)[1]).get("evaluation")
    return peer_evaluation(name) if name in BLACK_BOXES else None


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
        st.caption(
            "The page, model, face, occluder and filter are in this link; opening it restores the view "
            "(an uploaded image must be uploaded again)."
        )
        st.code(link or "(open the dashboard in a browser to get a link)", language=None, wrap_lines=True)
    return link
