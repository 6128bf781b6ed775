#!/usr/bin/env python
"""Cross-check our FGGB, xSSAB and CorrRISE pair maps against the reference implementations on the
same models and pairs: FAME's ``fggb`` and ``corrise`` (AIML-IfI/fame, fame/baselines/gradient.py and
perturbation.py, pinned by its tests to the authors' code_fggb.py and Corrise.py) and xSSAB's own
``methodology/gradient_calculator.py`` (marcohuber/xSSAB). Prints, per model, pair and method, the
Spearman rank correlation over B's pixels of our signed map and the reference's (similar minus
dissimilar; xSSAB: its positive minus negative gradient map), and the largest difference relative
to the reference's largest value; --time also times each method per map on one thread.

    .venv/bin/python benchmarks/fame_crosscheck.py --fame FAME_DIR --xssab XSSAB_DIR \\
        --reference-python /tmp/fame-venv/bin/python [--xssab-stubs DIR] [--models cnn,full,dlib] [--time]

Two processes: this one (the project's environment) builds the models (a seeded small CNN, our
network assets/models/full, the dlib port), the pairs (the first genuine and impostor LFW DevTest
pairs where a dataset is configured, else the bundled sample faces: astronaut vs Grace Hopper, Grace
Hopper vs her mirror image), one shared CorrRISE mask set per input size, and our maps; a child run by
--reference-python (a separate environment with torch 2.13.0, numpy, scipy, opencv, scikit-image, scikit-learn,
tqdm, matplotlib, safetensors, pyyaml) loads the reference code from the folders given, rebuilds the
same modules (the CNN from its weights, ours and the dlib port from the project's own files) and writes
its maps back. Both directions are tensors only (torch.load(weights_only=True), np.load without pickle). xSSAB's
utils_os imports its two IResNet backbone files, which its repository does not ship: --xssab-stubs is a
folder with a ``backbones`` package of stand-ins (never called: the check passes its own backbone).
xSSAB takes images in 0..255, normalised to [-1, 1] inside: its gradients are 1/2 of ours on [0, 1].
Nothing third-party is imported when the project is.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.0, 0.3)
#: the face models of the check, as model URIs both processes resolve
FACE_MODELS = {"full": str(ROOT / "assets" / "models" / "full"), "dlib": "dlib-resnet"}


class SmallCNN(nn.Module):
    """A seeded stand-in embedding network (He init, BatchNorm, ELU), 96 px -> 64-d."""

    def __init__(self, dim: int = 64, size: int = 96, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.BatchNorm2d(32),
            nn.ELU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ELU(),
            nn.Flatten(),
            nn.Linear(32 * (size // 8) ** 2, dim),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        self.body.train()
        with torch.no_grad():
            for _ in range(3):
                self.body(torch.rand(8, 3, size, size))
        self.eval()

    def forward(self, x):
        return self.body(x)


# ----------------------------------------------------------------------------------- the reference
def _load_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _NormalisedInput(nn.Module):
    """xSSAB feeds ((x / 255) - 0.5) / 0.5; our modules take x / 255."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x * 0.5 + 0.5)


def _model(name: str, job: dict) -> nn.Module:
    """The module a case names, rebuilt in this process: the CNN from the job's weights, ours and the
    dlib port from the project's files (the same weights as in the main process)."""
    if name == "cnn":
        net = SmallCNN()
        net.load_state_dict(job["cnn_state"])
        return net.eval()
    from interpface.models.registry import resolve_model

    return resolve_model(FACE_MODELS[name]).input_net().eval()


def run_reference(args) -> int:
    import numpy as np

    torch.set_num_threads(1)
    job = torch.load(args.job, weights_only=True)
    nets = {name: _model(name, job) for name in job["models"]}
    fame_fggb = _load_file("fame_gradient", Path(args.fame) / "fame" / "baselines" / "gradient.py").fggb
    fame_corrise = _load_file("fame_perturbation", Path(args.fame) / "fame" / "baselines" / "perturbation.py").corrise
    sys.path[:0] = [str(args.xssab)] + ([str(args.xssab_stubs)] if args.xssab_stubs else [])
    from methodology.face_matching_module import FaceMatching
    from methodology.gradient_calculator import get_gradient, load_gradient_mean

    out = {}
    tmp = Path(tempfile.mkdtemp())
    for key, item in job["cases"].items():
        net = nets[item["model"]]
        a, b = item["a"][None], item["b"][None]
        res = {}
        for thr in THRESHOLDS:
            m = fame_fggb(net, b, a, threshold=thr)
            res[f"fggb@{thr}"] = (m["similar"] - m["dissimilar"])[0].double().numpy()
            backbone = _NormalisedInput(net).eval()
            matcher = FaceMatching(backbone, "cross-check").eval()
            img_b = item["b"].permute(1, 2, 0).double().numpy() * 255.0
            img_a = item["a"].permute(1, 2, 0).double().numpy() * 255.0
            maps = []
            for version, name in ((1, "pos"), (2, "neg")):
                g = get_gradient(img_b, img_a, matcher, backbone, version, "cross-check", thr)
                np.save(tmp / f"{name}.npy", g)
                maps.append(load_gradient_mean(tmp / f"{name}.npy"))
            res[f"xssab@{thr}"] = (maps[0] - maps[1]).astype(np.float64)
        m = fame_corrise(net, b, a, masks=job["masks"][item["model"]][:, None])
        res["corrrise"] = (m["similar"] - m["dissimilar"])[0].double().numpy()
        out.update({f"{key}|{method}": value for method, value in res.items()})
        print(f"  reference: {key} done", flush=True)
    np.savez(args.out, **out)
    return 0


# ------------------------------------------------------------------------------------------ ours
def _pairs(n_pairs=2):
    """[(name, crop_a, lm_a, crop_b, lm_b)]: LFW DevTest's first genuine and impostor pairs, else the
    bundled sample faces."""
    import numpy as np

    from interpface.errors import DatasetError
    from interpface.faces.images import load_image
    from interpface.faces.pipeline import FacePipeline

    pipe = FacePipeline()
    try:
        from interpface.faces.datasets import LFWProtocols, load_lfw

        lfw = load_lfw(None)
        pairs = LFWProtocols.load(lfw.protocol_dir).dev_test_pairs
        chosen = [next(p for p in pairs if p.same), next(p for p in pairs if not p.same)]
        faces = [
            (
                f"{'genuine' if p.same else 'impostor'} {Path(p.a).stem}|{Path(p.b).stem}",
                pipe.prepare(load_image(lfw.path(p.a)), fallback=True),
                pipe.prepare(load_image(lfw.path(p.b)), fallback=True),
            )
            for p in chosen
        ]
    except DatasetError:
        from interpface.faces.samples import sample_faces

        s = sample_faces()
        astro, grace = (pipe.prepare(s[k], fallback=True) for k in ("astronaut", "grace_hopper"))
        mirror = pipe.prepare(np.ascontiguousarray(s["grace_hopper"][:, ::-1]), fallback=True)
        faces = [("impostor astronaut|grace_hopper", astro, grace), ("mirror grace_hopper|mirrored", grace, mirror)]
    return faces[:n_pairs]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--role", choices=("main", "reference"), default="main")
    p.add_argument("--fame", type=Path, required=True, help="a FAME checkout (fame/baselines/*.py)")
    p.add_argument("--xssab", type=Path, required=True, help="an xSSAB checkout (methodology/, utils_os.py)")
    p.add_argument("--xssab-stubs", type=Path, help="a folder with stand-in backbones/ for xSSAB's utils_os")
    p.add_argument("--reference-python", default=sys.executable)
    p.add_argument("--models", default="cnn,full,dlib")
    p.add_argument("--masks", type=int, default=500)
    p.add_argument("--time", action="store_true", help="also time each method per map (one thread)")
    p.add_argument("--job")
    p.add_argument("--out")
    args = p.parse_args()
    if args.role == "reference":
        return run_reference(args)

    import numpy as np
    from scipy.stats import spearmanr

    sys.path.insert(0, str(ROOT))
    from interpface.analysis import verification_maps as vm
    from interpface.analysis.pair_maps import pair_map
    from interpface.models.registry import resolve_model

    torch.set_num_threads(1)
    full = resolve_model(FACE_MODELS["full"])
    models, cases, masks, ours, fms = {}, {}, {}, {}, {}
    pairs = _pairs()
    for name in args.models.split(","):
        if name == "cnn":
            fm, net = full, SmallCNN().eval()  # the CNN reads our network's 96-px chips
        else:
            fm = full if name == "full" else resolve_model(FACE_MODELS[name])
            net = fm.input_net().eval()
            fms[name] = fm
        models[name] = net
        size = fm.input_size
        masks[name] = vm.corrrise_masks(args.masks, size, seed=0)
        for pair_name, fa, fb in pairs:
            chips, _ = fm.chips(np.stack([fa.crop, fb.crop]), np.stack([fa.landmarks, fb.landmarks]))
            a, b = chips[0].contiguous(), chips[1].contiguous()
            key = f"{name}: {pair_name}"
            cases[key] = {"model": name, "a": a, "b": b}
            with torch.no_grad():
                f_a = net(a[None])[0]
            res = {}
            for thr in THRESHOLDS:
                res[f"fggb@{thr}"] = vm.fggb_map(net, b, f_a, threshold=thr, precision="fp32", skip_mass=0.0)
                # the default: bfloat16 where the CPU has native bf16, the lightest dimensions skipped
                res[f"fggb(default)@{thr}"] = vm.fggb_map(net, b, f_a, threshold=thr)
                res[f"xssab@{thr}"] = vm.xssab_map(net, b, f_a, threshold=thr)
            res["corrrise"] = vm.corrrise_map(net, b, f_a, masks=masks[name])
            ours[key] = res
            print(f"  ours: {key} done", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.pt", Path(tmp) / "out.npz"
        cnn_state = models["cnn"].state_dict() if "cnn" in models else {}
        torch.save({"models": list(models), "cnn_state": cnn_state, "cases": cases, "masks": masks}, job)
        cmd = [
            args.reference_python,
            str(Path(__file__).resolve()),
            "--role",
            "reference",
            "--fame",
            str(args.fame),
            "--xssab",
            str(args.xssab),
            "--job",
            str(job),
            "--out",
            str(out),
        ]
        if args.xssab_stubs:
            cmd += ["--xssab-stubs", str(args.xssab_stubs)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))  # the reference rebuilds ours and the port from the project
        subprocess.run(cmd, check=True, env=env, cwd=tmp)
        with np.load(out, allow_pickle=False) as z:
            theirs: dict[str, dict] = {}
            for name in z.files:
                key, method = name.rsplit("|", 1)
                theirs.setdefault(key, {})[method] = z[name]
    print(f"\n{'case':<58}{'method':<19}{'spearman':>9}{'max|diff|/max|ref|':>20}")
    for key, res in ours.items():
        for method, mine in res.items():
            ref = theirs[key][method.replace("(default)", "")]
            if method.startswith("xssab"):
                ref = ref * 2.0  # their gradients are on [-1, 1] input
            rho = spearmanr(mine.ravel(), ref.ravel()).statistic
            rel = float(np.abs(mine - ref).max() / max(np.abs(ref).max(), 1e-30))
            print(f"{key:<58}{method:<19}{rho:9.5f}{rel:20.2e}")
    if args.time:
        print("\ntime per map, one thread (best of 2; face A's embedding included):")
        for name, fm in fms.items():
            key = next(k for k in cases if k.startswith(name + ":"))
            a, b = cases[key]["a"], cases[key]["b"]
            for method in ("fggb", "xssab", "corrrise"):
                best = min(pair_map(fm, a, b, method).seconds for _ in range(2))
                print(f"  {fm.name:<32}{method:<10}{best:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
