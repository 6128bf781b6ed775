"""The online teacher (training/teacher_online.py): its targets on un-augmented crops are the precomputed
ones, the student's augmentation (flip, mixup, cutmix, colour) reaches the teacher's view, and a run with
teacher_mode: online trains and resumes exactly."""

import numpy as np
import pytest
import torch

from interpface.errors import CheckpointError, ConfigError
from interpface.models.checkpoint import load_model
from tests.test_training import tiny_cfg, tiny_data  # noqa: F401 - the module's fixture
from training.config import TrainConfig
from training.data import BatchMaker, teacher_centre
from training.teacher_online import CENTRE_FILE, OnlineTeacher, chip_maps, cut_chips
from training.trainer import train

ONLINE = dict(teacher="dlib_resnet_v1", teacher_mode="online", w_distill_cosine=1.0, w_distill_relation=1.0)


@pytest.fixture(scope="module")
def teacher(tiny_data):  # noqa: F811
    """The port in fp32, its crop -> chip maps for the tiny set, centred like the precomputed targets."""
    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import PreparedDataset
    from interpface.models.teacher import load_teacher

    spec, data = tiny_data
    cache = PreparedDataset.open(load_dataset(spec["dataset"]), spec["cache_dir"])
    raw = load_teacher(cache.directory).lookup(data.relpaths)
    t = OnlineTeacher(precision="fp32")
    t.set_centre(teacher_centre(raw))
    return t, chip_maps(data.landmarks), raw


def _cos(a, b):
    return torch.nn.functional.cosine_similarity(torch.as_tensor(a), torch.as_tensor(b), dim=1).numpy()


def _chips(views):
    return torch.from_numpy(views).permute(0, 3, 1, 2)


def test_online_targets_on_plain_crops_are_the_precomputed_ones(tiny_data, teacher):  # noqa: F811
    """On un-augmented crops, with the precomputed targets' centre: the online targets are the dlib port
    adapter's own (dlib.get_face_chip of the crop) to a cosine of 1e-4, and the precomputed targets (dlib's
    chip of the original photo, finer than our 110 px crop) to the crop's loss of detail: raw cosine
    >= 0.99, centred >= 0.9 (median >= 0.95) on these 19 faces, whose own small centre leaves less
    shared direction to hide the difference (0.993 median over LFW, docs/experiments.md)."""
    from interpface.models.adapters import DlibPortFaceModel

    _, data = tiny_data
    t, maps, raw = teacher
    views = data.crops.astype(np.float32) / 255
    mirrored = np.ascontiguousarray(views[:, :, ::-1])
    x, mats = DlibPortFaceModel(t.net).prepare(data.crops, data.landmarks)
    np.testing.assert_allclose(maps[:, 0], mats, atol=1e-4)
    assert _cos(t.targets(_chips(cut_chips(views, maps[:, 0]))), t.targets(x)).min() > 0.9999
    for flip, v in ((0, views), (1, mirrored)):
        chips = _chips(cut_chips(v, maps[:, flip]))
        got = t.targets(chips).numpy()
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert _cos(t.describe(chips), raw[:, flip]).min() > 0.99
        cos = _cos(got, data.teacher[:, flip])
        assert cos.min() >= 0.9 and np.median(cos) >= 0.95, (flip, cos.min(), np.median(cos))
    # the run's own centre: teacher_centre of the online descriptors of the crops and their mirrors, a
    # few per cent from the photos' (crop detail again)
    own = OnlineTeacher(t.net, precision="fp32").compute_centre(data.crops, maps, batch=8)
    both = np.stack([t.describe(_chips(cut_chips(v, maps[:, k]))) for k, v in ((0, views), (1, mirrored))], axis=1)
    np.testing.assert_allclose(own, teacher_centre(both), atol=1e-5)
    assert np.linalg.norm(own - teacher_centre(raw)) < 0.05 * np.linalg.norm(teacher_centre(raw))
    # and the same network on the same chips in bf16 gives the same targets to a cosine of ~1e-3
    bf = OnlineTeacher(t.net, precision="bf16")
    bf.set_centre(t.centre.numpy())
    chips = _chips(cut_chips(views, maps[:, 0]))
    assert _cos(bf.targets(chips), t.targets(chips)).min() > 0.99


def test_a_flip_reaches_the_teacher(tiny_data, teacher):  # noqa: F811
    """The flipped face's teacher chip is the mirror image of the unflipped one (same window), and its
    target is the precomputed mirror target, not the unflipped one."""
    _, data = tiny_data
    t, maps, _ = teacher
    flipped = BatchMaker(data, 8, seed=3, flip=True, chip_maps=maps).batch(0)
    plain = BatchMaker(data, 8, seed=3, flip=False, chip_maps=maps).batch(0)
    idx = BatchMaker(data, 8, seed=3).indices(0)
    f = np.array([torch.equal(a.flip(2), b) for a, b in zip(flipped["clean"], plain["clean"])])
    assert 0 < f.sum() < 8  # some faces flipped, some not
    for i in range(8):
        want = plain["teacher_chips"][i].flip(2) if f[i] else plain["teacher_chips"][i]
        torch.testing.assert_close(flipped["teacher_chips"][i], want, atol=1e-2, rtol=0)
    got = t.targets(flipped["teacher_chips"]).numpy()
    shown = _cos(got, data.teacher[idx, f.astype(int)])
    other = _cos(got, data.teacher[idx, 1 - f.astype(int)])
    assert shown.min() > 0.9 and (shown > other).all(), (shown, other)


def test_mixup_and_colour_reach_both_views(tiny_data, teacher):  # noqa: F811
    """Mixup (whole-crop windows, so the mix is visible pixel for pixel): the student's view is lam * own +
    (1 - lam) * partner, the teacher's chip the same mix through the image's own map, labels_b the
    partner's label; the mixed target moves from the face's own target toward the partner's."""
    _, data = tiny_data
    t, maps, _ = teacher
    kw = dict(seed=1, crop=110, flip=True, colour_jitter=0.3, chip_maps=maps)
    plain = BatchMaker(data, 8, **kw).batch(0)
    mixed = BatchMaker(data, 8, mixup_alpha=2.0, **kw).batch(0)
    idx = BatchMaker(data, 8, seed=1).indices(0)
    lam = mixed["mix_lam"].numpy()
    assert ((lam > 0.05) & (lam < 0.95)).any()
    a, m = plain["clean"].numpy(), mixed["clean"].numpy()
    own_t, mix_t = t.targets(plain["teacher_chips"]).numpy(), t.targets(mixed["teacher_chips"]).numpy()
    moved = 0
    for i in range(8):
        # the partner: the face whose view completes the mix
        res = [np.abs(m[i] - lam[i] * a[i] - (1 - lam[i]) * a[j]).max() for j in range(8)]
        j = int(np.argmin(res))
        assert res[j] < 1e-5
        assert mixed["labels_b"][i] == data.labels[idx[j]] and mixed["labels"][i] == data.labels[idx[i]]
        views = np.stack([a[i], a[j]]).transpose(0, 2, 3, 1)
        own, partner = cut_chips(views, np.stack([maps[idx[i], 0]] * 2))  # flips: chips compared below
        if not torch.equal(plain["teacher_chips"][i], torch.from_numpy(own).permute(2, 0, 1)):
            own, partner = cut_chips(views, np.stack([maps[idx[i], 1]] * 2))
        want = lam[i] * own + (1 - lam[i]) * partner
        np.testing.assert_allclose(mixed["teacher_chips"][i].permute(1, 2, 0).numpy(), want, atol=1e-2)
        if lam[i] < 0.8 and mixed["labels_b"][i] != mixed["labels"][i]:  # another person mixed in visibly
            moved += 1
            assert _cos(mix_t[i : i + 1], own_t[i : i + 1])[0] < 0.99
            assert _cos(mix_t[i : i + 1], own_t[j : j + 1])[0] > _cos(own_t[i : i + 1], own_t[j : j + 1])[0]
    assert moved
    # colour jitter changed the student's view and the teacher's chip alike (vs no jitter at all)
    bare = BatchMaker(data, 8, seed=1, crop=110, flip=True, chip_maps=maps).batch(0)
    assert not torch.allclose(bare["clean"], plain["clean"])
    assert not torch.allclose(bare["teacher_chips"], plain["teacher_chips"])


def test_cutmix_pastes_the_same_square_into_both_views(tiny_data, teacher):  # noqa: F811
    _, data = tiny_data
    _, maps, _ = teacher
    kw = dict(seed=2, crop=110, flip=False, chip_maps=maps)
    plain = BatchMaker(data, 8, **kw).batch(0)
    cut = BatchMaker(data, 8, cutmix_prob=1.0, **kw).batch(0)
    a, m, lam = plain["clean"].numpy(), cut["clean"].numpy(), cut["mix_lam"].numpy()
    for i in range(8):
        changed = (np.abs(m[i] - a[i]) > 1e-6).any(axis=0)
        # the pixels that changed came from one partner; mix_lam is the share of the window kept
        assert changed.mean() <= 1 - lam[i] + 1e-6
        diff = cut["teacher_chips"][i] - plain["teacher_chips"][i]
        assert (diff.abs().amax() > 1) == changed.any()


def test_without_jitter_or_mixing_the_student_sees_what_it_saw():
    """The view path with only the online teacher gives the student the same windows as the plain path."""
    from training.data import TrainingSet

    rng = np.random.default_rng(0)
    n = 12
    data = TrainingSet(
        crops=rng.integers(0, 256, (n, 110, 110, 3), dtype=np.uint8),
        landmarks=np.zeros((n, 68, 2), np.float32),
        labels=np.arange(n) % 3,
        class_names=["a", "b", "c"],
        relpaths=[str(i) for i in range(n)],
    )
    maps = np.tile(np.array([[1.0, 0, 20], [0, 1.0, 20]], np.float32), (n, 2, 1, 1))
    for step in range(3):
        a = BatchMaker(data, 6, seed=4).batch(step)
        b = BatchMaker(data, 6, seed=4, chip_maps=maps).batch(step)
        assert torch.equal(a["clean"], b["clean"]) and torch.equal(a["labels"], b["labels"])
        assert b["teacher_chips"].shape == (6, 3, 150, 150)


def test_online_run_trains_and_resumes_exactly(tiny_data, tmp_path):  # noqa: F811
    spec, data = tiny_data
    cfg = tiny_cfg(spec, **ONLINE, colour_jitter=0.2, mixup_alpha=0.4, cutmix_prob=0.5)
    train(cfg, tmp_path / "once", data=data, progress=False)
    train(cfg, tmp_path / "twice", data=data, progress=False, stop_after=2)
    summary = train(cfg, tmp_path / "twice", data=data, progress=False, resume=True)
    assert summary["steps"] == 4 and summary["finished"]
    assert np.array_equal(np.load(tmp_path / "once" / CENTRE_FILE), np.load(tmp_path / "twice" / CENTRE_FILE))
    a, _ = load_model(tmp_path / "once" / "checkpoints" / "step_000004")
    b, _ = load_model(tmp_path / "twice" / "checkpoints" / "step_000004")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert np.isfinite(summary["final"]["distill_cosine"]) and summary["final"]["distill_cosine"] > 0


def test_online_config_errors():
    with pytest.raises(ConfigError, match="teacher_mode"):
        TrainConfig(teacher_mode="live")
    with pytest.raises(ConfigError, match="online"):
        TrainConfig(teacher="dlib_resnet_v1", w_distill_cosine=1.0, mixup_alpha=0.2)
    with pytest.raises(ConfigError, match="occluded"):
        TrainConfig(**ONLINE, cutmix_prob=0.5, occlusion=True)
    with pytest.raises(ConfigError, match="colour_jitter"):
        TrainConfig(colour_jitter=1.5)
    with pytest.raises(ConfigError, match="distillation"):
        TrainConfig(teacher_mode="online")
    assert TrainConfig(**ONLINE, mixup_alpha=0.2).mixing


def test_patient_recipe_configs():
    """stem_patient trains from scratch with the online teacher and the margin term; every variant keeps
    patient/base.yaml's teaching, start and budget, and adds only its own losses and occlusion."""
    from pathlib import Path

    from training.config import load_config

    configs = Path(__file__).resolve().parent.parent / "training" / "configs"
    stem = load_config(configs / "stem_patient.yaml")
    assert stem.init_from is None and stem.teacher_mode == "online" and stem.schedule == "cosine"
    assert stem.w_distill_margin > 0 and not stem.mixing  # the distillation A/B's outcome
    base = load_config(configs / "patient" / "base.yaml").to_dict()
    assert base["init_from"] == "assets/models/stem_patient" and base["teacher_mode"] == "online"
    teaching = (
        "teacher",
        "teacher_mode",
        "colour_jitter",
        "w_distill_cosine",
        "w_distill_relation",
        "w_distill_margin",
    )
    assert {k: base[k] for k in teaching} == {k: stem.to_dict()[k] for k in teaching}
    paper = load_config(configs / "paper_gpu.yaml").to_dict()  # the paper-size model is taught the same way
    assert {k: paper[k] for k in teaching} == {k: base[k] for k in teaching} and paper["device"] == "cuda"
    full = load_config(configs / "patient" / "full.yaml").to_dict()
    method = ("sad_filter_form", "w_sad_filter", "w_sad_response", "w_fad", "fad_t", "fad_normalize")
    assert {k: paper[k] for k in method} == {k: full[k] for k in method}  # and trained with full's losses
    own = {"name", "occlusion", "occluder_height_max", "occluded_identity_plain", "w_occluded_identity"}
    own |= {"w_sad_filter", "sad_filter_form", "w_sad_response", "w_fad", "fad_mode", "fad_t", "fad_normalize"}
    for path in (configs / "patient").glob("*.yaml"):
        cfg = load_config(path)
        assert cfg.name == path.stem and not cfg.mixing
        changed = {k for k, v in cfg.to_dict().items() if base[k] != v}
        assert changed <= own, (path.name, changed - own)


def test_rank_and_margin_terms_train_online_and_resume_exactly(tiny_data, tmp_path):  # noqa: F811
    """The EKD-style rank term and the teacher's class centres as classifier, with mixed faces: both
    terms logged, the class centres kept in the run folder (unit rows, one per class) and a resumed
    run equal to an uninterrupted one."""
    from training.teacher_online import CLASS_CENTRES_FILE

    spec, data = tiny_data
    extra = dict(w_distill_rank=1.0, w_distill_margin=1.0, mixup_alpha=0.4)
    cfg = tiny_cfg(spec, **ONLINE, **extra)
    train(cfg, tmp_path / "once", data=data, progress=False)
    train(cfg, tmp_path / "twice", data=data, progress=False, stop_after=2)
    summary = train(cfg, tmp_path / "twice", data=data, progress=False, resume=True)
    centres = np.load(tmp_path / "once" / CLASS_CENTRES_FILE)
    assert centres.shape == (data.num_classes, 128)
    assert np.allclose(np.linalg.norm(centres, axis=1), 1, atol=1e-5)
    assert np.array_equal(centres, np.load(tmp_path / "twice" / CLASS_CENTRES_FILE))
    a, _ = load_model(tmp_path / "once" / "checkpoints" / "step_000004")
    b, _ = load_model(tmp_path / "twice" / "checkpoints" / "step_000004")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    for term in ("distill_rank", "distill_margin"):
        assert np.isfinite(summary["final"][term]) and summary["final"][term] > 0, term
    # a class-centres file of another class list is refused on resume, with a typed one-line error
    train(cfg, tmp_path / "stale", data=data, progress=False, stop_after=2)
    np.save(tmp_path / "stale" / CLASS_CENTRES_FILE, centres[:-1])
    with pytest.raises(CheckpointError, match="another class list"):
        train(cfg, tmp_path / "stale", data=data, progress=False, resume=True)


def test_rank_and_margin_config_errors():
    with pytest.raises(ConfigError, match="distill_rank_fraction"):
        TrainConfig(**ONLINE, w_distill_rank=1.0, distill_rank_fraction=0.0)
    with pytest.raises(ConfigError, match="distill_margin"):
        TrainConfig(**ONLINE, w_distill_margin=1.0, distill_margin=1.5)
    with pytest.raises(ConfigError, match="w_distill_\\*"):
        TrainConfig(w_distill_margin=1.0)  # no teacher
    assert TrainConfig(teacher="dlib_resnet_v1", w_distill_margin=1.0).teacher_dim == 128
