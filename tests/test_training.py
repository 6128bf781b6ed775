"""Trainer: loss falls, exact resume, DDP keeps ranks identical, NaN stops the run, init_from."""

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interpface.models.checkpoint import load_model, read_checkpoint_info
from training.config import TrainConfig, load_config, read_config
from training.data import BatchMaker, load_training_set
from training.export import export_run
from training.trainer import TrainingDivergedError, train

PEOPLE = {"Grace_Hopper": 6, "Wide_Hopper": 3, "Eileen_Collins": 6, "Long_Hopper": 4}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, faces):
    """19 faces of 4 people (the test face set), prepared into a private cache."""
    from interpface.faces.datasets import scan_identity_folders
    from interpface.faces.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("faces")
    for person, n in PEOPLE.items():
        (root / person).mkdir()
        for k in range(1, n + 1):
            shutil.copy(faces.path(f"{person}/{person}_{k:04d}.jpg"), root / person)
    from interpface.faces.prepare import PreparedDataset
    from interpface.models.teacher import compute_teacher

    cache = root.parent / (root.name + "_cache")
    dataset = scan_identity_folders(root)
    prepare_dataset(dataset, cache_dir=cache, workers=1, progress=False)
    compute_teacher(PreparedDataset.open(dataset, cache), workers=1, progress=False)  # dlib's descriptors
    spec = dict(dataset=f"folder:{root}", split="all", cache_dir=str(cache))
    return spec, load_training_set(spec["dataset"], "all", cache_dir=spec["cache_dir"], teacher="dlib_resnet_v1")


def tiny_cfg(spec, **kw):
    base = dict(
        name="t",
        model="tiny",
        steps=4,
        batch_size=8,
        lr=3e-3,
        schedule="constant",
        warmup_steps=0,
        bf16=False,
        channels_last=False,
        log_every=1,
        ckpt_every=2,
        threads=1,
        **spec,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_loss_falls(tiny_data, tmp_path):
    """The tiny run learns: at a learning rate it trains stably at (1e-2 spikes on some CPUs' numerics),
    with a fixed seed and one thread, the median of the last ten losses (a single spike cannot decide)
    is under 80% of the first five. The same check fails for a run that cannot learn (lr 0)."""
    spec, data = tiny_data

    def losses(lr: float) -> list[float]:
        cfg = tiny_cfg(spec, steps=40, batch_size=12, ckpt_every=40, flip=False, lr=lr, seed=0)
        train(cfg, tmp_path / f"run_{lr}", data=data, progress=False)
        rows = (tmp_path / f"run_{lr}" / "log.csv").read_text().splitlines()[1:]
        return [float(r.split(",")[2]) for r in rows]

    def falls(values: list[float]) -> bool:
        return float(np.median(values[-10:])) < 0.8 * float(np.mean(values[:5]))

    learned, frozen = losses(3e-3), losses(0.0)
    assert falls(learned), learned
    assert not falls(frozen), frozen


def test_resume_is_exact(tiny_data, tmp_path):
    spec, data = tiny_data
    cfg = tiny_cfg(
        spec, occlusion=True, w_sad_filter=1.0, w_sad_response=1.0, w_fad=0.1, w_occluded_identity=1.0, fad_t=24
    )
    train(cfg, tmp_path / "once", data=data, progress=False)
    train(cfg, tmp_path / "twice", data=data, progress=False, stop_after=2)
    summary = train(cfg, tmp_path / "twice", data=data, progress=False, resume=True)
    assert summary["steps"] == 4 and summary["finished"]
    a, _ = load_model(tmp_path / "once" / "checkpoints" / "step_000004")
    b, _ = load_model(tmp_path / "twice" / "checkpoints" / "step_000004")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    log = (tmp_path / "twice" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log[1:]] == ["1", "2", "3", "4"]


def test_export_records_the_command_that_started_the_run(tiny_data, tmp_path):
    """`interpface export` ships a run as fp16 weights + training.json, whose command names the config
    the run was started with (kept in the run folder, also across a resume), not one guessed from the
    run's name; a folder with no checkpoint is refused."""
    from interpface.errors import CheckpointError
    from training.export import export_run

    spec, data = tiny_data
    cfg = tiny_cfg(spec, steps=4)
    command = "interpface train --config training/configs/patient/base.yaml --set steps=4"
    train(cfg, tmp_path / "run", data=data, progress=False, stop_after=2, command=command)
    train(cfg, tmp_path / "run", data=data, progress=False, resume=True)
    shipped = export_run(tmp_path / "run", tmp_path / "out")
    training = json.loads((tmp_path / "out" / "training.json").read_text())
    assert training["command"] == shipped["command"] == command
    assert training["finished"] and training["steps"] == 4 and np.isfinite(training["final"]["loss"])
    model, info = load_model(tmp_path / "out")
    assert info["weights_dtype"] == "float16" and info["training"]["name"] == "t"
    (tmp_path / "run" / "command.txt").unlink()  # a run from before command.txt: no config is named "t"
    assert export_run(tmp_path / "run", tmp_path / "out2")["command"] is None
    from training.cli import _command_line

    assert _command_line("training/configs/patient/full.yaml", ["steps=4", "out_dir=a b"]) == (
        "interpface train --config training/configs/patient/full.yaml --set steps=4 --set 'out_dir=a b'"
    )
    assert _command_line(str(Path.cwd() / "training/configs/patient/full.yaml"), []).endswith(
        "--config training/configs/patient/full.yaml"
    )
    with pytest.raises(CheckpointError, match="no checkpoint"):
        export_run(tmp_path / "empty", tmp_path / "out3")


def test_every_variant_runs_one_step(tiny_data, tmp_path):
    spec, data = tiny_data
    configs = Path(__file__).resolve().parent.parent / "training" / "configs"
    variants = sorted((configs / "patient").glob("*.yaml"))
    assert len(variants) == 7
    for path in (configs / "stem_patient.yaml", *variants):
        name = path.stem
        cfg = load_config(
            path,
            [f"{k}={v}" for k, v in spec.items()]
            + [
                "model=tiny",
                "steps=1",
                "batch_size=8",
                "bf16=false",
                "init_from=null",
                "psi_init_norm=null",
                "fad_t=16",
            ],
        )
        s = train(cfg, tmp_path / name, data=data, progress=False)
        assert np.isfinite(s["final"]["loss"]), name
        row = s["final"]
        if cfg.w_fad > 0:
            assert row["fad"] >= 0 and "occluded_identity" in row
        if cfg.uses_sad:
            assert row["sad_filter"] > 0 and row["sad_response"] > 0


def test_distillation_pulls_the_student_toward_the_teacher(tiny_data, tmp_path):
    """Only the two distillation terms: the projection's cosine to the teacher and the batch cosine
    matrix both move toward the teacher's; the model gets a 320 -> 128 projection head."""
    spec, data = tiny_data
    assert data.teacher.shape == (len(data), 2, 128)
    np.testing.assert_allclose(np.linalg.norm(data.teacher, axis=-1), 1.0, atol=1e-5)
    cfg = tiny_cfg(
        spec,
        steps=40,
        batch_size=12,
        ckpt_every=40,
        lr=3e-3,
        teacher="dlib_resnet_v1",
        w_identity=0.0,
        w_distill_cosine=1.0,
        w_distill_relation=10.0,
        occlusion=True,
    )
    s = train(cfg, tmp_path / "run", data=data, progress=False)
    log = np.genfromtxt(tmp_path / "run" / "log.csv", delimiter=",", names=True)
    first, last = log[:5], log[-5:]
    assert last["distill_cosine"].mean() < 0.7 * first["distill_cosine"].mean()
    assert last["distill_relation"].mean() < 0.7 * first["distill_relation"].mean()
    model, _ = load_model(s["checkpoint"])
    assert model.teacher_projection.weight.shape == (128, model.num_filters)


def test_batches_carry_the_teacher_target_of_the_shown_flip(tiny_data):
    _, data = tiny_data
    maker = BatchMaker(data, 8, seed=5, flip=True)
    b = maker.batch(0)
    idx = maker.indices(0)
    rng = np.random.default_rng([5, 2, 0])
    rng.integers(0, 110 - 96 + 1, size=(8, 2))
    flips = rng.random(8) < 0.5
    assert 0 < flips.sum() < 8
    expected = data.teacher[idx, flips.astype(int)]
    assert torch.equal(b["teacher"], torch.from_numpy(expected))


def test_identity_paired_batches(tiny_data):
    """pairs_per_batch: the first 2P images of every batch are P identities x 2 different images."""
    _, data = tiny_data
    maker = BatchMaker(data, 8, seed=1, pairs_per_batch=3)
    for step in range(5):
        idx = maker.indices(step)
        assert len(idx) == 8
        pairs = idx[:6].reshape(3, 2)
        assert all(data.labels[a] == data.labels[b] and a != b for a, b in pairs)
        assert len({int(data.labels[a]) for a, _ in pairs}) == 3
        assert np.array_equal(idx, maker.indices(step))  # a function of the step
    with pytest.raises(ValueError, match="at least"):
        BatchMaker(data, 4, pairs_per_batch=3)


def test_distillation_config_errors():
    from interpface.errors import ConfigError

    with pytest.raises(ConfigError, match="teacher"):
        TrainConfig(w_distill_relation=1.0)
    assert TrainConfig(teacher="dlib_resnet_v1", w_distill_cosine=1.0).teacher_dim == 128
    assert TrainConfig(teacher="dlib_resnet_v1", w_distill_relation=1.0).teacher_dim == 0


def test_missing_teacher_descriptors_say_how_to_make_them(tiny_data, tmp_path):
    from interpface.errors import CacheError

    spec, _ = tiny_data
    with pytest.raises(CacheError, match="interpface data teacher"):
        load_training_set(spec["dataset"], "all", cache_dir=spec["cache_dir"], teacher="no_such_teacher")


def test_compiled_training_matches_eager(tiny_data, tmp_path):
    """`compile: true` runs the objective under torch.compile: same losses as eager up to float
    rounding, and it saves plain (uncompiled) weights that load back."""
    spec, data = tiny_data
    kw = dict(
        steps=2, occlusion=True, w_sad_filter=1.0, w_sad_response=1.0, w_fad=0.1, w_occluded_identity=1.0, fad_t=24
    )
    train(tiny_cfg(spec, compile=True, **kw), tmp_path / "compiled", data=data, progress=False)
    train(tiny_cfg(spec, **kw), tmp_path / "eager", data=data, progress=False)
    rows = [np.genfromtxt(tmp_path / r / "log.csv", delimiter=",", names=True) for r in ("compiled", "eager")]
    assert len(rows[0]) == len(rows[1]) == 2
    assert np.allclose(rows[0]["loss"], rows[1]["loss"], rtol=1e-3)  # total loss of steps 1 and 2
    model, _ = load_model(tmp_path / "compiled" / "checkpoints" / "step_000002")
    assert not any(k.startswith("_orig_mod") for k in model.state_dict())


def test_one_physical_mask_per_batch_and_same_augmentation(tiny_data):
    _, data = tiny_data
    maker = BatchMaker(data, 8, seed=3, occlusion=True)
    b = maker.batch(0)
    diff = (b["clean"] != b["occluded"]).any(dim=1)  # (8, 96, 96) pixels the mask changed
    assert diff.flatten(1).any(dim=1).all()  # every image occluded
    assert torch.equal(maker.batch(0)["occluded"], b["occluded"])  # a function of the step
    # A DDP rank gets exactly its slice of the global batch.
    r1 = BatchMaker(data, 8, seed=3, occlusion=True, rank=1, world_size=2).batch(0)
    assert torch.equal(r1["occluded"], b["occluded"][4:]) and torch.equal(r1["labels"], b["labels"][4:])


@pytest.mark.parametrize("occluder", ["sunglasses", "mix"])
def test_realistic_occluders_in_training_batches(tiny_data, occluder):
    """`occluder:` puts a realistic occluder (or a per-batch draw of all six) on the occluded copy."""
    _, data = tiny_data
    maker = BatchMaker(data, 8, seed=3, occlusion=True, occluder=occluder)
    kinds = set()
    for step in range(6 if occluder == "mix" else 1):
        b = maker.batch(step)
        diff = (b["clean"] != b["occluded"]).any(dim=1)
        assert diff.flatten(1).any(dim=1).all()
        assert torch.equal(maker.batch(step)["occluded"], b["occluded"])  # a function of the step
        kinds.add(int(diff.sum()))
    assert len(kinds) > 1 or occluder != "mix"
    with pytest.raises(Exception, match="occluder must be"):
        TrainConfig(occlusion=True, occluder="helmet")


def test_taller_occluders_vary_the_rectangle_height(tiny_data):
    """occluder_height_max: each batch's rectangle is 32 px wide and between 12 and that many px tall,
    so its area varies and on average exceeds the paper's fixed 32x12; without it nothing changes."""
    from interpface.errors import ConfigError

    _, data = tiny_data
    fixed = BatchMaker(data, 8, seed=3, occlusion=True)
    tall = BatchMaker(data, 8, seed=3, occlusion=True, occluder_height_max=26.7)
    area = lambda b: int((b["clean"] != b["occluded"]).any(dim=1).sum())
    fixed_areas = [area(fixed.batch(s)) for s in range(8)]
    tall_areas = [area(tall.batch(s)) for s in range(8)]
    assert np.mean(tall_areas) > 1.3 * np.mean(fixed_areas)
    assert len(set(tall_areas)) > 1
    assert torch.equal(tall.batch(2)["occluded"], tall.batch(2)["occluded"])  # a function of the step
    with pytest.raises(ConfigError, match="occluder_height_max"):
        TrainConfig(occlusion=True, occluder_height_max=8.0)


def test_occluded_distillation_weight_scales_only_the_occluded_branch():
    """The distillation terms are (clean + w * occluded) / 2: linear in w_distill_occluded, and w = 1 is
    the plain average of the two branches."""
    from interpface.models.networks import InterpretableFaceNet, get_model_config
    from training.objective import SiameseObjective

    torch.manual_seed(0)
    net = InterpretableFaceNet(get_model_config("tiny", num_classes=4, teacher_dim=128)).eval()
    clean, occluded = torch.rand(6, 3, 96, 96), torch.rand(6, 3, 96, 96)
    labels, teacher = torch.tensor([0, 1, 2, 3, 0, 1]), torch.nn.functional.normalize(torch.randn(6, 128), dim=1)
    terms = {}
    for w in (0.0, 1.0, 3.0):
        cfg = TrainConfig(
            model="tiny",
            occlusion=True,
            teacher="dlib_resnet_v1",
            w_distill_cosine=1.0,
            w_distill_relation=10.0,
            w_distill_occluded=w,
        )
        with torch.no_grad():
            terms[w] = SiameseObjective(net, cfg)(clean, occluded, labels, teacher)
    for key in ("distill_cosine", "distill_relation"):
        t0, t1, t3 = (float(terms[w][key]) for w in (0.0, 1.0, 3.0))
        assert t1 > t0 > 0
        assert t3 - t1 == pytest.approx(2 * (t1 - t0), rel=1e-4)
    with torch.no_grad():
        clean_only = SiameseObjective(net, TrainConfig(model="tiny", teacher="dlib_resnet_v1", w_distill_cosine=1.0))(
            clean, None, labels, teacher
        )
    assert float(terms[0.0]["distill_cosine"]) == pytest.approx(float(clean_only["distill_cosine"]) / 2, rel=1e-5)


def test_sad_response_on_a_wider_gaussian_of_its_own():
    """sad_smooth_kernel feeds Eq. 2 g_sigma * LMF(psi) with the loss's own Gaussian: a kernel and sigma
    equal to the model's reproduce the default term, a wider one dilates the maps (more overlap, a larger
    term)."""
    from interpface.errors import ConfigError
    from interpface.models.lmf import gaussian_smooth
    from interpface.models.losses import SADResponseLoss
    from interpface.models.networks import InterpretableFaceNet, get_model_config
    from training.objective import SiameseObjective

    torch.manual_seed(0)
    net = InterpretableFaceNet(get_model_config("tiny", num_classes=4)).eval()
    clean, labels = torch.rand(4, 3, 96, 96), torch.tensor([0, 1, 2, 3])
    k, s = net.config.smooth_kernel, net.config.smooth_sigma
    with torch.no_grad():
        default, same, wide = (
            float(
                SiameseObjective(net, TrainConfig(model="tiny", w_sad_response=1.0, **kw))(clean, None, labels)[
                    "sad_response"
                ]
            )
            for kw in (
                {},
                {"sad_smooth_kernel": k, "sad_smooth_sigma": s},
                {"sad_smooth_kernel": 7, "sad_smooth_sigma": 2.5},
            )
        )
        lmf = net.forward_intermediates(clean).psi_lmf
    assert same == pytest.approx(default, rel=1e-5)
    assert wide == pytest.approx(float(SADResponseLoss()(gaussian_smooth(lmf, 7, 2.5))), rel=1e-4)
    assert wide > default
    for bad in (
        {"sad_smooth_kernel": 4},
        {"sad_smooth_kernel": 0},
        {"sad_smooth_sigma": 0.0},
        {"sad_filter_form": "x"},
    ):
        with pytest.raises(ConfigError):
            TrainConfig(model="tiny", **bad)


def test_nan_stops_and_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    spec, data = tiny_data
    from training import objective

    real = objective.SiameseObjective.forward
    calls = {"n": 0}

    def poisoned(self, *a, **k):
        calls["n"] += 1
        terms = real(self, *a, **k)
        if calls["n"] == 3:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(objective.SiameseObjective, "forward", poisoned)
    with pytest.raises(TrainingDivergedError, match="step 2"):
        train(tiny_cfg(spec, steps=6), tmp_path / "run", data=data, progress=False)
    latest = json.loads((tmp_path / "run" / "latest.json").read_text())
    assert latest["step"] == 2
    load_model(tmp_path / "run" / latest["dir"])  # the last good checkpoint loads


def test_init_from_copies_weights(tiny_data, tmp_path):
    spec, data = tiny_data
    train(tiny_cfg(spec, steps=2), tmp_path / "base", data=data, progress=False)
    src = tmp_path / "base" / "checkpoints" / "step_000002"
    cfg = tiny_cfg(spec, steps=1, lr=0.0, init_from=str(src))
    train(cfg, tmp_path / "child", data=data, progress=False)
    a, _ = load_model(src)
    b, child_info = load_model(tmp_path / "child" / "checkpoints" / "step_000001")
    assert child_info["init_sha256"] == read_checkpoint_info(src)["sha256"]  # what it started from, by hash
    assert export_run(tmp_path / "child", tmp_path / "export")["init_sha256"] == child_info["init_sha256"]
    conv = "backbone.0.conv.weight" if "backbone.0.conv.weight" in a.state_dict() else next(iter(a.state_dict()))
    assert torch.equal(a.state_dict()[conv], b.state_dict()[conv])
    # the identity classifier starts afresh unless keep_classifier asks for it (same classes)
    assert not torch.equal(a.state_dict()["classifier.weight"], b.state_dict()["classifier.weight"])
    train(
        tiny_cfg(spec, steps=1, lr=0.0, init_from=str(src), keep_classifier=True),
        tmp_path / "kept",
        data=data,
        progress=False,
    )
    c, _ = load_model(tmp_path / "kept" / "checkpoints" / "step_000001")
    assert torch.equal(a.state_dict()["classifier.weight"], c.state_dict()["classifier.weight"])


def test_psi_init_norm_rescales_psi(tiny_data, tmp_path):
    spec, data = tiny_data
    train(tiny_cfg(spec, steps=2), tmp_path / "base", data=data, progress=False)
    src = tmp_path / "base" / "checkpoints" / "step_000002"
    train(
        tiny_cfg(spec, steps=1, lr=0.0, init_from=str(src), psi_init_norm=2.5),
        tmp_path / "child",
        data=data,
        progress=False,
    )
    a, _ = load_model(src)
    b, _ = load_model(tmp_path / "child" / "checkpoints" / "step_000001")
    assert b.psi.weight.norm().item() == pytest.approx(2.5, rel=1e-3)
    # Psi (weight and bias) scaled by one factor, so f only changes scale (the step's BatchNorm
    # statistics update aside: lr 0 still moves running means, so compare the parameters)
    scale = 2.5 / a.psi.weight.norm().item()
    torch.testing.assert_close(b.psi.weight, a.psi.weight * scale)
    torch.testing.assert_close(b.psi.bias, a.psi.bias * scale)
    # a kept classifier is divided by the same factor: its logits (and the identity loss) do not move
    train(
        tiny_cfg(spec, steps=1, lr=0.0, init_from=str(src), psi_init_norm=2.5, keep_classifier=True),
        tmp_path / "kept",
        data=data,
        progress=False,
    )
    c, _ = load_model(tmp_path / "kept" / "checkpoints" / "step_000001")
    torch.testing.assert_close(c.classifier.weight, a.classifier.weight / scale)
    # (the source's other weights with the child's Psi and classifier: BatchNorm statistics aside)
    d = copy.deepcopy(a).eval()
    d.psi.load_state_dict(c.psi.state_dict())
    d.classifier.load_state_dict(c.classifier.state_dict())
    x = torch.rand(3, 3, a.config.input_size, a.config.input_size)
    with torch.no_grad():
        torch.testing.assert_close(d.classifier(d(x)), a.eval().classifier(a(x)), rtol=1e-4, atol=1e-5)
    from interpface.errors import ConfigError

    with pytest.raises(ConfigError, match="psi_init_norm"):
        tiny_cfg(spec, psi_init_norm=2.5)


def test_refuses_to_overwrite_a_run(tiny_data, tmp_path):
    spec, data = tiny_data
    train(tiny_cfg(spec, steps=2), tmp_path / "r", data=data, progress=False)
    from interpface.errors import ConfigError

    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_cfg(spec, steps=2), tmp_path / "r", data=data, progress=False)


def test_ddp_two_processes_end_identical(tiny_data, tmp_path):
    spec, _ = tiny_data
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        "--master_port=29517",
        "-m",
        "training",
        "--out",
        str(tmp_path / "ddp"),
        "--no-progress",
        "--set",
        "model=tiny",
        "--set",
        "steps=3",
        "--set",
        "batch_size=8",
        "--set",
        "bf16=false",
        "--set",
        "device=cpu",
        "--set",
        "threads=1",
        "--set",
        "occlusion=true",
        "--set",
        "w_fad=0.1",
        "--set",
        "w_occluded_identity=1.0",
        "--set",
        "fad_t=16",
        "--set",
        "w_sad_response=1.0",
    ]
    cmd += ["--set", f"dataset={spec['dataset']}", "--set", "split=all", "--set", f"cache_dir={spec['cache_dir']}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert len(summary["rank_weight_checksums"]) == 2 and summary["ranks_identical"] is True


def test_resuming_a_finished_run_keeps_its_summary(tiny_data, tmp_path):
    spec, data = tiny_data
    first = train(tiny_cfg(spec, steps=2), tmp_path / "r", data=data, progress=False)
    again = train(tiny_cfg(spec, steps=2), tmp_path / "r", data=data, progress=False, resume=True)
    assert again["final"] == first["final"] and again["steps"] == 2


def test_benchmark_command_writes_its_figures(tmp_path, capsys):
    from interpface.cli.main import main

    assert (
        main(["benchmark", "--model", "tiny", "--steps", "1", "--batch", "4", "--json", str(tmp_path / "b.json")]) == 0
    )
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["forward_gflop_per_img"] > 0 and result["matmul_peak_gflop_s"]["fp32"] > 0
    assert result["training"]["fp32"]["train_img_s"] > 0
    assert "img/s" in capsys.readouterr().out


def test_shipped_model_is_current_only_with_the_same_recipe(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from shipped_is_current import main as is_current

    d = tmp_path / "m"
    d.mkdir()
    (d / "training.json").write_text(json.dumps({"finished": True}))
    (d / "config.json").write_text(
        json.dumps({"training": {"name": "base", "steps": 3000, "lr": 0.001, "teacher": "x"}})
    )
    cfg = tmp_path / "base.yaml"
    cfg.write_text("name: base\nsteps: 3000\nlr: 0.001\nteacher: x\n")
    assert is_current(str(d), str(cfg)) == "yes"
    cfg.write_text("name: base\nsteps: 3000\nlr: 0.001\nteacher: x\nw_distill_relation: 10.0\n")  # a newer recipe
    assert is_current(str(d), str(cfg)) == "no"
    (d / "training.json").write_text(json.dumps({"finished": False}))
    assert is_current(str(d), str(tmp_path / "missing.yaml")) == "no"


def test_a_started_run_resumes_only_under_its_own_recipe(tmp_path):
    """train_reference.sh resumes a run folder only when its saved config.yaml has the YAML's values."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from shipped_is_current import run_matches

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: stem_patient\nsteps: 6000\nmixup_alpha: 0.4\nw_distill_margin: 0.0\n")
    cfg = tmp_path / "stem_patient.yaml"
    cfg.write_text("name: stem_patient\nsteps: 6000\nmixup_alpha: 0.4\n")
    assert run_matches(str(run), str(cfg)) == "yes"
    cfg.write_text("name: stem_patient\nsteps: 6000\nmixup_alpha: 0.0\nw_distill_margin: 0.3\n")  # the recipe changed
    assert run_matches(str(run), str(cfg)) == "no"
    assert run_matches(str(tmp_path / "nothing"), str(cfg)) == "no"


def test_a_run_from_a_retrained_stem_is_not_current(tmp_path):
    """A shipped variant, or a started run, that recorded the hash of the weights it started from is stale
    once its init_from holds other weights (the stem was retrained), whatever its config says."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from shipped_is_current import main as is_current
    from shipped_is_current import run_matches

    from interpface.models.checkpoint import read_checkpoint_info, save_checkpoint
    from interpface.models.networks import InterpretableFaceNet, get_model_config

    stem = tmp_path / "stem"
    net = InterpretableFaceNet(get_model_config("tiny", num_classes=3))
    save_checkpoint(stem, net, model_config=net.config)
    started = read_checkpoint_info(stem)["sha256"]
    cfg = tmp_path / "base.yaml"
    cfg.write_text(f"name: base\nsteps: 3\ninit_from: {stem}\n")
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"training": {"name": "base", "steps": 3, "init_from": str(stem)}}))
    record = {"finished": True, "init_from": str(stem), "init_sha256": started}
    (model / "training.json").write_text(json.dumps(record))
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints" / "step_1", net, model_config=net.config, extra={"init_sha256": started})
    (run / "latest.json").write_text(json.dumps({"dir": "checkpoints/step_1"}))
    (run / "config.yaml").write_text(cfg.read_text())
    assert is_current(str(model), str(cfg)) == "yes" and run_matches(str(run), str(cfg)) == "yes"
    with torch.no_grad():
        net.psi.weight.add_(1.0)
    save_checkpoint(stem, net, model_config=net.config)  # the stem retrained
    assert is_current(str(model), str(cfg)) == "no" and run_matches(str(run), str(cfg)) == "no"
    (model / "training.json").write_text(json.dumps({**record, "init_sha256": None}))  # an export that kept no hash
    assert is_current(str(model), str(cfg)) == "yes"


def test_a_resumed_run_keeps_the_hash_it_started_from(tiny_data, tmp_path):
    """The hash of the start weights is taken when the run starts, not when it resumes: a stem retrained in
    between leaves the run recording the old stem (and so shipped_is_current calls it stale)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from shipped_is_current import run_matches

    from interpface.models.checkpoint import save_checkpoint

    spec, data = tiny_data
    train(tiny_cfg(spec, steps=1), tmp_path / "stem_run", data=data, progress=False)
    stem = tmp_path / "stem_run" / "checkpoints" / "step_000001"
    started = read_checkpoint_info(stem)["sha256"]
    cfg = tiny_cfg(spec, steps=2, ckpt_every=1, init_from=str(stem))
    train(cfg, tmp_path / "run", data=data, progress=False, stop_after=1)
    net, _ = load_model(stem)
    with torch.no_grad():
        net.psi.weight.mul_(2.0)
    save_checkpoint(stem, net, model_config=net.config)  # the stem retrained meanwhile
    s = train(cfg, tmp_path / "run", resume=True, data=data, progress=False)
    assert read_checkpoint_info(s["checkpoint"])["init_sha256"] == started != read_checkpoint_info(stem)["sha256"]
    cfg.save(tmp_path / "config.yaml")
    assert run_matches(str(tmp_path / "run"), str(tmp_path / "config.yaml")) == "no"


def test_config_extends_a_parent_and_overrides_it(tmp_path):
    """`extends: parent.yaml` (relative to the file): the child's keys replace the parent's, mappings merge."""
    (tmp_path / "parent.yaml").write_text("name: parent\nsteps: 100\nlr: 0.001\nmodel_overrides: {width: 0.5}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text(
        "extends: ../parent.yaml\nname: child\nsteps: 7\nmodel_overrides: {depth: 2}\n"
    )
    assert read_config(tmp_path / "sub" / "child.yaml") == {
        "name": "child",
        "steps": 7,
        "lr": 0.001,
        "model_overrides": {"width": 0.5, "depth": 2},
    }
    cfg = load_config(tmp_path / "sub" / "child.yaml", ["lr=0.01"])  # --set still wins
    assert (cfg.name, cfg.steps, cfg.lr) == ("child", 7, 0.01)


def test_config_extends_cycle_is_an_error(tmp_path):
    from interpface.errors import ConfigError

    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match=r"comes back.*a.yaml -> b.yaml -> a.yaml"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "self.yaml").write_text("extends: self.yaml\n")
    with pytest.raises(ConfigError, match="comes back"):
        load_config(tmp_path / "self.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "orphan.yaml")


def test_config_unknown_keys_are_an_error_in_parent_and_child(tmp_path):
    from interpface.errors import ConfigError

    (tmp_path / "parent.yaml").write_text("name: p\nstepz: 3\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\nname: c\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_config(tmp_path / "child.yaml")
    (tmp_path / "parent.yaml").write_text("name: p\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\nlearning_rate: 3\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(tmp_path / "child.yaml")


def test_shipped_configs_are_the_lines_they_change():
    """The t ablation is full.yaml with another t; full is fad plus SAD's terms; no config carries a date."""
    import re

    configs = Path(__file__).resolve().parent.parent / "training" / "configs"
    variants = configs / "patient"
    full, fad = read_config(variants / "full.yaml"), read_config(variants / "fad.yaml")
    for t in (130, 320):
        child = read_config(variants / f"full_t{t}.yaml")
        assert {k: v for k, v in child.items() if full.get(k) != v} == {"name": f"full_t{t}", "fad_t": t}
    assert {k: v for k, v in full.items() if fad.get(k) != v} == {
        "name": "full",
        "sad_filter_form": "taps",
        "w_sad_filter": 5.0,
        "w_sad_response": 1.0,
    }
    # SAD alone and SAD + FAD weight SAD's terms alike, so that the ablation compares them fairly
    sad = read_config(variants / "sad.yaml")
    sad_keys = ("sad_filter_form", "w_sad_filter", "w_sad_response")
    assert {k: sad[k] for k in sad_keys} == {k: full[k] for k in sad_keys}
    for path in configs.rglob("*.yaml"):
        load_config(path)
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", path.read_text()), path.name


def test_normalised_fad_cannot_be_lowered_by_shrinking_f():
    """Raw Eq. 4 halves when f halves (the collapse seen in training: fad/full stayed at chance);
    with fad_normalize it sees only f's direction, so scaling f leaves the term unchanged."""
    from interpface.models.networks import InterpretableFaceNet, get_model_config
    from training.objective import SiameseObjective

    torch.manual_seed(0)
    net = InterpretableFaceNet(get_model_config("tiny", num_classes=4)).eval()
    clean, occluded = torch.rand(4, 3, 96, 96), torch.rand(4, 3, 96, 96)
    labels = torch.tensor([0, 1, 2, 3])
    terms = {}
    for normalize in (False, True):
        cfg = TrainConfig(model="tiny", occlusion=True, w_fad=1.0, fad_t=8, fad_normalize=normalize)
        objective = SiameseObjective(net, cfg)
        with torch.no_grad():
            full = objective(clean, occluded, labels)["fad"]
            # shrink f: psi is linear in its weight and bias, and LMF keeps the same positions
            for p in (net.psi.weight, net.psi.bias):
                if p is not None:
                    p.mul_(0.5)
            half = objective(clean, occluded, labels)["fad"]
            for p in (net.psi.weight, net.psi.bias):
                if p is not None:
                    p.mul_(2.0)
        terms[normalize] = (float(full), float(half))
    raw, normed = terms[False], terms[True]
    assert raw[0] > 0 and raw[1] < 0.75 * raw[0]
    assert normed[1] == pytest.approx(normed[0], rel=1e-3)
