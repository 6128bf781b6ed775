"""FGGB, xSSAB and CorrRISE pair maps (interpface.analysis.verification_maps): their signs on a model
whose embedding reads one known region, faithfulness against the random floor, the batched FGGB
against the per-dimension loop, closed forms on a linear model, CorrRISE against an independent
Spearman correlation, and a run on a black-box FaceModel."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis import verification_maps as vm
from interpface.analysis.faithfulness import deletion_insertion
from interpface.analysis.pair_maps import ALL_PAIR_METHODS, PAIR_METHODS, methods_for, pair_map
from interpface.errors import ConfigError, InterpfaceError
from interpface.models.face_model import FaceModel

SIZE = 96
REGION = (slice(48, 80), slice(24, 72))  # rows, cols of the input the embedding reads
NEW = ("fggb", "xssab", "corrrise")


class RegionNet(nn.Module):
    """f(x) = (mean over the 24x24 grid of each 4x4 block's mean intensity inside REGION, 0.5): the
    cosine to (1, 0) grows with the region's brightness a, the cosine to (-1, 0) falls with it."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(input_size=SIZE, num_filters=2)
        self.conv = nn.Conv2d(3, 2, 4, stride=4)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = 1.0 / 48
            self.conv.bias.copy_(torch.tensor([0.0, 0.5]))
        mask = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
        mask[0, 0, REGION[0].start // 4 : REGION[0].stop // 4, REGION[1].start // 4 : REGION[1].stop // 4] = 1
        mask[0, 1] = 1
        self.register_buffer("mask", mask)

    def forward(self, x):
        return (self.conv(x) * self.mask).mean(dim=(2, 3))


class BlackBox(FaceModel):
    """A FaceModel with no capabilities around a module on [0, 1] input."""

    def __init__(self, module, dim, size=SIZE):
        self.module, self.dim, self.input_size, self.name = module.eval(), dim, size, "black box"


@pytest.fixture(autouse=True)
def one_thread():
    """FGGB's batched backward runs many small operators: on a CPU shared with other jobs, OpenMP
    threads waiting on each other made it 10-40x slower than on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def region():
    torch.manual_seed(0)
    return BlackBox(RegionNet(), 2), torch.rand(3, SIZE, SIZE) * 0.8 + 0.1


def _grown(pixels: int) -> np.ndarray:
    inside = np.zeros((SIZE, SIZE), bool)
    inside[
        max(0, REGION[0].start - pixels) : REGION[0].stop + pixels,
        max(0, REGION[1].start - pixels) : REGION[1].stop + pixels,
    ] = True
    return inside


#: how far a map can reach past the region by construction: CorrRISE's squares (26 px at 96 px);
#: the gradient methods resolve single pixels
REACH = {"corrrise": vm.default_patch_size(SIZE)}


@pytest.mark.parametrize("method", NEW)
def test_signs_the_evidence_for_and_against_lands_on_the_region(region, method):
    """A = (1, 0): the region supports the match (similarity map there); A = (-1, 0): the same pixels
    count against it (dissimilarity map there). The gradient methods leave the other map empty.
    CorrRISE does not: every mask hides exactly 3 squares, so a square far from the region is one
    fewer on it and hiding the background goes with a *higher* score (a mild opposite sign there,
    as in the authors' masks); the region's own sign is the strong one."""
    model, face_b = region
    grown = _grown(REACH.get(method, 0))
    region_px = _grown(0)
    for f_a, kind, other, sign in (
        (torch.tensor([1.0, 0.0]), "similarity", "dissimilarity", 1),
        (torch.tensor([-1.0, 0.0]), "dissimilarity", "similarity", -1),
    ):
        m = pair_map(model, f_a, face_b, method)
        assert m.signed.shape == (SIZE, SIZE) and np.isfinite(m.signed).all()
        mass = getattr(m, kind)
        assert mass[grown].sum() / mass.sum() > 0.9, (method, kind)
        if method == "corrrise":
            inside, outside = sign * m.signed[region_px].mean(), sign * m.signed[~grown].mean()
            assert inside > 0.2 and inside > 2 * abs(outside), (inside, outside)
        else:
            assert getattr(m, other).sum() < 1e-6 * mass.sum(), (method, kind)


def test_every_new_method_beats_the_random_floor_on_deletion(region):
    model, face_b = region
    f_a = torch.tensor([1.0, 0.0])
    net = model.input_net()
    aucs = {
        m: deletion_insertion(net, f_a, face_b, pair_map(model, f_a, face_b, m).similarity).deletion_auc
        for m in NEW + ("random",)
    }
    for method in NEW:
        assert aucs[method] < aucs["random"] - 0.05, aucs


def test_registration():
    model = BlackBox(RegionNet(), 2)
    assert set(NEW) <= set(ALL_PAIR_METHODS) and not set(NEW) & set(PAIR_METHODS)
    assert not set(NEW) & set(methods_for(model))  # the default set is unchanged
    assert methods_for(model, verification=True)[-3:] == NEW
    with pytest.raises(InterpfaceError, match="corrrise"):
        pair_map(model, torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE), "shap")


# ------------------------------------------------------------------------------------------- FGGB
class SmallCNN(nn.Module):
    def __init__(self, dim=12, size=32):
        super().__init__()
        self.config = SimpleNamespace(input_size=size, num_filters=dim)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ELU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * (size // 2) ** 2, dim),
        )

    def forward(self, x):
        return self.body(x)


def _fggb_from(maps, f_hat, f_a, threshold):
    a = f_a / (f_a.norm() + 1e-8)
    w = a * f_hat - threshold / len(f_hat)
    return torch.einsum("k,kij->ij", w.double(), maps.double()).numpy()


def test_fggb_batched_equals_the_per_dimension_loop_on_a_black_box():
    torch.manual_seed(0)
    net = SmallCNN().eval()
    a, b = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    with torch.no_grad():
        f_a = net(a[None])[0]
    maps, f_hat = vm.fggb_gradients(net, b, chunk=5, precision="fp32")  # chunks of 5 over 12 dimensions
    naive, f_naive = vm.fggb_gradients_naive(net, b)
    assert torch.allclose(maps, naive, atol=1e-6) and torch.allclose(f_hat, f_naive, atol=1e-6)
    got = vm.fggb_map(net, b, f_a, threshold=0.3, precision="fp32", skip_mass=0)
    assert np.allclose(got, _fggb_from(naive, f_naive, f_a, 0.3), atol=1e-6)


def _part_filter_net(**overrides):
    """A tiny part-filter network, He-initialised, BatchNorm statistics from a few train-mode passes."""
    from interpface.models.networks import InterpretableFaceNet, get_model_config

    torch.manual_seed(0)
    net = InterpretableFaceNet(dataclasses.replace(get_model_config("tiny"), **overrides))
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(8, 3, SIZE, SIZE))
    return net.eval()


@pytest.mark.parametrize(
    "overrides",
    [{}, {"phi_conv": True}, {"l2_normalize_parts": False}, {"psi_batchnorm": True}],
    ids=["sparse-l2", "phi-conv-dense", "sparse-no-l2", "psi-bn"],
)
def test_fggb_part_filter_shortcut_equals_the_per_dimension_loop(monkeypatch, overrides):
    """Our network: the Psi-channel shortcut (LMF's sparse cotangents taken through the parts' L2
    normalisations, or the dense product below phi_conv) and the taped trunk backward give the
    autograd loop's maps, in float32."""
    rows = []
    original = vm._TrunkVJP.from_parts
    monkeypatch.setattr(vm._TrunkVJP, "from_parts", lambda self, g: rows.append(len(g)) or original(self, g))
    net = _part_filter_net(**overrides)
    torch.manual_seed(1)
    a, b = torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE)
    with torch.no_grad():
        f_a = net(a[None])[0]
    maps, f_hat = vm.fggb_gradients(net, b, chunk=8, precision="fp32")
    assert sum(rows) - 2 == net.num_filters  # every dimension through the tape (+ its check, + sum_j f_j U_j)
    naive, f_naive = vm.fggb_gradients_naive(net, b)
    assert torch.allclose(f_hat, f_naive, atol=1e-6)
    assert torch.allclose(maps, naive, atol=1e-5 * float(naive.abs().max()))
    got, want = (
        vm.fggb_map(net, b, f_a, threshold=0.2, precision="fp32", skip_mass=0),
        _fggb_from(naive, f_naive, f_a, 0.2),
    )
    assert np.allclose(got, want, atol=1e-5 * np.abs(want).max())


def test_fggb_in_bfloat16_keeps_the_float32_map():
    """The bfloat16 tape (the default where the CPU has native bf16): the same map as float32 within
    bf16 rounding; a rank correlation of 0.999 and 2 % in L2 norm."""
    from scipy.stats import spearmanr

    from tests.tiny import tiny_model

    net = tiny_model(0, he_init=True)
    torch.manual_seed(1)
    a, b = torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE)
    with torch.no_grad():
        f_a = net(a[None])[0]
    exact = vm.fggb_map(net, b, f_a, precision="fp32", skip_mass=0)
    fast = vm.fggb_map(net, b, f_a, precision="bf16", skip_mass=0)
    assert not np.array_equal(exact, fast)  # it did run in bfloat16
    assert np.linalg.norm(fast - exact) <= 0.02 * np.linalg.norm(exact)
    assert spearmanr(fast.ravel(), exact.ravel())[0] >= 0.999


@pytest.mark.parametrize("path", ["sparse-tape", "dense-tape", "generic"])
def test_fggb_skips_the_lightest_dimensions_within_its_bound(monkeypatch, path):
    """skip_mass: the dimensions of smallest |w_k| up to that share of sum |w_k| are not backpropagated
    (on each of FGGB's paths: LMF's sparse cotangents into the taped trunk, the dense product below
    phi_conv, the generic vmapped backward); the map is exactly the kept terms' sum and moves by at most
    the skipped mass (each G~_k has unit L2 norm)."""
    net = {
        "sparse-tape": lambda: _part_filter_net(),
        "dense-tape": lambda: _part_filter_net(phi_conv=True),
        "generic": lambda: SmallCNN(dim=32).eval(),
    }[path]()
    size = net.config.input_size
    torch.manual_seed(1)
    a, b = torch.rand(3, size, size), torch.rand(3, size, size)
    with torch.no_grad():
        f_a = net(a[None])[0]
    maps, f_hat = vm.fggb_gradients(net, b, precision="fp32")  # every dimension: (D, S, S)
    exact = vm.fggb_map(net, b, f_a, precision="fp32", skip_mass=0)

    picked, rows = [], []
    original_dims, original_parts = vm.fggb_dims, vm._TrunkVJP.from_parts
    monkeypatch.setattr(vm, "fggb_dims", lambda w, m: picked.append(original_dims(w, m)) or picked[-1])
    monkeypatch.setattr(vm._TrunkVJP, "from_parts", lambda self, g: rows.append(len(g)) or original_parts(self, g))
    fast = vm.fggb_map(net, b, f_a, precision="fp32", skip_mass=0.05)
    (kept,) = picked
    w = F.normalize(f_a, dim=0, eps=1e-8) * f_hat
    skipped = np.setdiff1d(np.arange(len(w)), kept.numpy())
    assert 0 < len(skipped) < len(w)
    if path != "generic":
        assert sum(rows) - 2 == len(kept)  # only the kept rows went through the tape (+ its check, + u_star)
    # the kept terms exactly, in their own order
    want = torch.einsum("k,kij->ij", w[kept].double(), maps[kept].double()).numpy()
    assert np.allclose(fast, want, atol=1e-6 * np.abs(want).max())
    # the lightest ones skipped, greedily, up to the mass
    lightest = float(w.abs()[kept].min())
    assert float(w.abs()[skipped].max()) <= lightest
    assert float(w.abs()[skipped].sum()) <= 0.05 * float(w.abs().sum()) < float(w.abs()[skipped].sum()) + lightest
    assert 0 < np.linalg.norm(fast - exact) <= float(w.abs()[skipped].sum()) * (1 + 1e-4)
    assert torch.equal(original_dims(w, 0.0), torch.arange(len(w)))
    for bad in (1.0, -0.1, float("nan"), "much", None):
        with pytest.raises(ConfigError):
            vm.fggb_map(net, b, f_a, skip_mass=bad)


class Linear(nn.Module):
    def __init__(self, dim=6, size=8, seed=0):
        super().__init__()
        self.config = SimpleNamespace(input_size=size, num_filters=dim)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(dim, 3 * size * size, generator=g, dtype=torch.float64))
        self.register_buffer("b", torch.randn(dim, generator=g, dtype=torch.float64))

    def forward(self, x):
        return (x.double().flatten(1) @ self.w.T + self.b).float()


def test_fggb_and_xssab_closed_forms_on_a_linear_model():
    """f = W x + b: d f_hat / d x = (I / (n + e) - f f^T / (n (n + e)^2)) W with n = |f|, e = 1e-8."""
    net = Linear()
    torch.manual_seed(2)
    b = torch.rand(3, 8, 8)
    f_a = torch.randn(6, dtype=torch.float64)
    f = b.double().flatten() @ net.w.T + net.b
    n = f.norm()
    jac = (torch.eye(6, dtype=torch.float64) / (n + 1e-8) - torch.outer(f, f) / (n * (n + 1e-8) ** 2)) @ net.w
    g = jac.view(6, 3, 8, 8).abs().mean(dim=1)
    g = g / (g.flatten(1).norm(dim=1)[:, None, None] + 1e-8)
    f_hat, a_hat = f / (n + 1e-8), f_a / f_a.norm()
    for threshold in (0.0, 0.4):
        w = a_hat * f_hat - threshold / 6
        assert np.allclose(
            vm.fggb_map(net, b, f_a.float(), threshold=threshold, skip_mass=0),
            torch.einsum("k,kij->ij", w, g).numpy(),
            atol=1e-5,
        )
        support = a_hat * f_hat >= threshold / 6
        pos, neg = vm.xssab_maps(net, b, f_a.float(), threshold=threshold)
        jac_unit = (torch.eye(6, dtype=torch.float64) - torch.outer(f_hat, f_hat)) @ net.w / n  # F.normalize
        for got, keep in ((pos, support), (neg, ~support)):
            want = (torch.where(keep, a_hat, 0.0) @ jac_unit).view(3, 8, 8).abs().mean(dim=0).numpy()
            assert np.allclose(got, want, atol=1e-6 * max(1.0, np.abs(want).max()))
        assert np.allclose(vm.xssab_map(net, b, f_a.float(), threshold=threshold), pos - neg)


# --------------------------------------------------------------------------------------- CorrRISE
def test_corrrise_masks_are_squares_inside_the_image():
    one = vm.corrrise_masks(300, 32, patches=1, patch_size=8, seed=0)
    assert ((1 - one).sum(dim=(1, 2)) == 64).all()  # never clipped at the border
    three = vm.corrrise_masks(200, 32, patches=3, patch_size=8, seed=1)
    zeros = (1 - three).sum(dim=(1, 2))
    assert (zeros >= 64).all() and (zeros <= 192).all() and set(three.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(three, vm.corrrise_masks(200, 32, patches=3, patch_size=8, seed=1))
    assert vm.default_patch_size(112) == 30 and vm.default_patch_size(SIZE) == 26


def test_corrrise_is_the_spearman_correlation_of_visibility_and_score():
    from scipy import stats

    torch.manual_seed(0)
    net = SmallCNN().eval()
    a, b = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    with torch.no_grad():
        f_a = net(a[None])[0]
    masks = vm.corrrise_masks(80, 32, patches=3, patch_size=8, seed=3)
    with torch.no_grad():
        scores = torch.nn.functional.cosine_similarity(net(b[None] * masks[:, None]), f_a[None], dim=1).numpy()
    got = vm.corrrise_map(net, b, f_a, masks=masks)
    keep = masks.numpy().reshape(80, -1)
    for p in np.random.default_rng(0).choice(32 * 32, 40, replace=False):
        if keep[:, p].std() == 0:
            assert got.flat[p] == 0
        else:
            assert got.flat[p] == pytest.approx(stats.spearmanr(keep[:, p], scores).statistic, abs=1e-9)
    pearson = vm.corrrise_map(net, b, f_a, masks=masks, rank=False)
    p = int(np.argmax(keep.std(axis=0)))
    assert pearson.flat[p] == pytest.approx(np.corrcoef(keep[:, p], scores)[0, 1], abs=1e-6)
    assert np.allclose(vm.average_ranks([3.0, 1.0, 3.0, 2.0]), stats.rankdata([3.0, 1.0, 3.0, 2.0]))
    assert np.abs(got).max() <= 1 + 1e-12


# ------------------------------------------------------------------------------- a black box model
def test_every_new_method_runs_on_the_dlib_port():
    """dlib's ResNet port (150 px, 0..255 input) through its [0, 1]-input module: FGGB takes the generic
    batched path (its 128 dimensions), xSSAB and CorrRISE their usual ones."""
    from interpface.models.adapters import DlibPortFaceModel

    model = DlibPortFaceModel()
    torch.manual_seed(0)
    a, b = torch.rand(3, 150, 150), torch.rand(3, 150, 150)
    maps = {m: pair_map(model, a, b, m, n_masks=48, precision="fp32", skip_mass=0) for m in NEW}
    for m, pm in maps.items():
        assert pm.signed.shape == (150, 150) and np.isfinite(pm.signed).all() and np.abs(pm.signed).max() > 0, m
    net = model.input_net()
    with torch.no_grad():
        f_a = net(a[None])[0]
    rows, f_hat = vm.fggb_gradients(net, b, chunk=48, precision="fp32")  # the batched rows on the real network ...
    dims = [0, 47, 48, 127]
    loop, f_loop = vm.fggb_gradients_naive(net, b, dims)  # ... against the loop, on a few dimensions
    assert torch.allclose(rows[dims], loop, atol=1e-4 * float(loop.max())) and torch.allclose(f_hat, f_loop, atol=1e-5)
    assert np.allclose(maps["fggb"].signed, _fggb_from(rows, f_hat, f_a, 0.0), atol=1e-6 * float(rows.abs().max()))


def test_fggb_in_bfloat16_keeps_the_float32_map_on_the_dlib_port():
    """The generic path under bf16 autocast (the default where the CPU has native bf16) on a real
    pair of faces: the map keeps a rank correlation of 0.99 to float32, and its similarity and
    dissimilarity parts keep their signs where they are large."""
    from scipy.stats import spearmanr

    from interpface.faces.pipeline import FacePipeline
    from interpface.faces.samples import sample_faces
    from interpface.models.adapters import DlibPortFaceModel

    model = DlibPortFaceModel()
    prepared = [FacePipeline().prepare(rgb) for rgb in list(sample_faces().values())[:2]]
    x01, _ = model.chips(np.stack([p.crop for p in prepared]), np.stack([p.landmarks for p in prepared]))
    net = model.input_net()
    with torch.no_grad():
        f_a = net(x01[:1])[0]
    exact = vm.fggb_map(net, x01[1], f_a, precision="fp32", skip_mass=0)
    fast = vm.fggb_map(net, x01[1], f_a, precision="bf16", skip_mass=0)
    assert not np.array_equal(exact, fast)
    assert spearmanr(fast.ravel(), exact.ravel())[0] >= 0.99
    large = np.abs(exact) > 0.5 * np.abs(exact).max()
    assert (np.sign(fast[large]) == np.sign(exact[large])).all()


def test_every_new_method_runs_on_an_onnx_graph(tmp_path):
    """An ONNX graph converted to a module (a tiny IResNet exported by torch.onnx): gradients flow
    through the converted operators, FGGB's batched rows equal the loop's."""
    from interpface.models.registry import resolve_model
    from tests.test_onnx_models import export, tiny_iresnet

    model = resolve_model(f"onnx:{export(tiny_iresnet(), tmp_path / 'tiny.onnx')}")
    s = model.input_size
    torch.manual_seed(0)
    a, b = torch.rand(3, s, s), torch.rand(3, s, s)
    for m in NEW:
        pm = pair_map(model, a, b, m, n_masks=32)
        assert pm.signed.shape == (s, s) and np.isfinite(pm.signed).all() and np.abs(pm.signed).max() > 0, m
    rows, f_hat = vm.fggb_gradients(model.input_net(), b, precision="fp32")
    loop, _ = vm.fggb_gradients_naive(model.input_net(), b, [0, model.dim - 1])
    assert torch.allclose(rows[[0, model.dim - 1]], loop, atol=1e-5 * float(loop.max()))


def test_the_faithfulness_command_takes_the_verification_methods(faces, faces_root, tmp_path, capsys):
    import json

    from interpface.cli.main import main
    from interpface.faces.prepare import prepare_dataset
    from interpface.models.checkpoint import save_checkpoint
    from tests.tiny import tiny_model

    prepare_dataset(faces, cache_dir=tmp_path / "cache", workers=1, progress=False)
    net = tiny_model(0, he_init=True)
    save_checkpoint(tmp_path / "tiny", net, model_config=net.config, extra={})
    out = tmp_path / "f.json"
    code = main(
        [
            "faithfulness",
            "--checkpoint",
            str(tmp_path / "tiny"),
            "--pairs",
            "1",
            "--steps",
            "4",
            "--methods",
            "fggb,xssab,random",
            "--data-root",
            str(faces_root),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["fggb", "xssab", "random"]
    assert all(np.isfinite(r["black_similarity_deletion_auc"]) for r in rows)
