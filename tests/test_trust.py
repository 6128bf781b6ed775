"""The field's faithfulness protocol (accuracy at the clean EER threshold), the Patch-LFW-style swap,
the randomisation sanity checks and the trust cards built from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interpface.analysis.accuracy_curves import accuracy_curves, eer_threshold, paired_auc_difference
from interpface.analysis.patch_swap import patch_ranking, patch_swap_rates, patch_swap_scores, swap_patches
from interpface.analysis.sanity import (
    cascading_stages,
    independent_groups,
    map_similarity,
    parameter_layers,
    randomised_model,
    sanity_checks,
)
from interpface.analysis.trust import BETTER, NOT_BETTER, WORSE, load_trust_cards, save_trust_cards, trust_cards
from interpface.errors import InterpfaceError
from interpface.models.adapters import InterpretableFaceModel
from tests.test_pair_maps import REGION, SIZE, RegionModel
from tests.tiny import tiny_model


# ------------------------------------------------------------------------------ accuracy protocol
def test_eer_threshold_splits_separable_scores_and_balances_errors():
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    t = eer_threshold([0.9, 0.8, 0.7, 0.3, 0.2, 0.1], same)
    assert 0.3 < t <= 0.7
    # one genuine below one impostor: FAR = FRR = 1/3 at the threshold between them
    scores = np.array([0.9, 0.8, 0.25, 0.3, 0.2, 0.1])
    t = eer_threshold(scores, same)
    far, frr = (scores[~same] >= t).mean(), (scores[same] < t).mean()
    assert far == pytest.approx(frr)
    with pytest.raises(InterpfaceError):
        eer_threshold([0.1, 0.2], [True, True])


def test_accuracy_curves_count_decisions_at_the_threshold():
    same = np.array([True, True, False, False])
    fr = np.linspace(0, 1, 3)
    # genuine pairs fall below 0.5 at the 2nd step, impostor pairs rise above it at the last
    dele = np.array([[0.9, 0.4, 0.1], [0.8, 0.45, 0.2], [0.1, 0.3, 0.6], [0.2, 0.2, 0.7]])
    ins = dele[:, ::-1].copy()
    acc = accuracy_curves(dele, ins, same, 0.5, fractions=fr, n_resamples=200)
    assert acc.deletion.tolist() == [1.0, 0.5, 0.0]
    assert acc.insertion.tolist() == [0.0, 0.5, 1.0]
    assert acc.deletion_auc == pytest.approx(0.5) and acc.insertion_auc == pytest.approx(0.5)
    lo, hi = acc.deletion_auc_ci
    assert lo <= acc.deletion_auc <= hi
    d = paired_auc_difference(dele, dele, same, 0.5, fractions=fr, n_resamples=50)
    assert d["difference"] == 0 and d["ci"] == [0.0, 0.0]
    with pytest.raises(InterpfaceError):
        accuracy_curves(dele[:, :2], ins, same, 0.5, fractions=fr)


# ---------------------------------------------------------------------------------- patch swap
@pytest.fixture(scope="module")
def region():
    torch.manual_seed(0)
    model = InterpretableFaceModel(RegionModel().eval())
    return model.input_net()


def test_patch_ranking_and_swap():
    sal = np.zeros((SIZE, SIZE))
    sal[:12, 12:24] = 1.0  # patch (0, 1) of an 8 x 8 grid of 12 px patches
    sal[84:, 84:] = -1.0  # the last patch
    rank = patch_ranking(sal, 8)
    assert rank[0] == 1 and rank[-1] == 63
    x, d = torch.zeros(3, SIZE, SIZE), torch.ones(3, SIZE, SIZE)
    y = swap_patches(x, d, [1], 8)
    assert y[:, :12, 12:24].eq(1).all() and y.sum() == 3 * 144
    with pytest.raises(InterpfaceError):
        patch_ranking(np.zeros((SIZE, SIZE - 1)), 8)
    # a side not divisible by the grid (the dlib port's 150 px): patches of 18 or 19 px cover it all
    y = swap_patches(torch.zeros(3, 150, 150), torch.ones(3, 150, 150), np.arange(64), 8)
    assert y.eq(1).all()
    sal = np.zeros((150, 150))
    sal[131:, 131:] = 1.0
    assert patch_ranking(sal, 8)[0] == 63


def test_patch_swap_flips_the_decision_only_when_the_map_ranks_the_evidence_first(region):
    """The region model reads one region: swapping the patches a map puts there first breaks the
    match, swapping the patches it ranks last does nothing."""
    face = torch.full((3, SIZE, SIZE), 0.8)
    donor = torch.zeros(3, SIZE, SIZE)  # a dark region: cosine to the bright reference drops
    good = np.zeros((SIZE, SIZE))
    good[REGION] = 1.0
    s = patch_swap_scores(region, face, face, donor, good, grid=8, fraction=0.25, random_orders=8)
    assert s["best"] < s["random"] < s["worst"] == pytest.approx(1.0, abs=1e-6)
    rates = patch_swap_rates({k: np.array([v]) for k, v in s.items()}, np.array([True]), threshold=0.99)
    assert rates["fnmr_best"] == 1.0 and rates["fnmr_worst"] == 0.0 and rates["fmr_best"] is None


# ---------------------------------------------------------------------------------- sanity checks
def test_stages_and_groups_cover_the_layers():
    layers = [f"l{i}" for i in range(10)]
    stages = cascading_stages(layers, 4)
    assert [len(ls) for _, ls in stages] == [2, 5, 8, 10] and stages[0][1] == ["l8", "l9"]
    groups = independent_groups(layers, 4)
    assert [g for _, ls in groups for g in ls] == layers and groups[0][0] == "bottom"


def test_randomised_model_leaves_the_original_untouched():
    model = InterpretableFaceModel(tiny_model(0, he_init=True))
    layers = parameter_layers(model.module)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    rand = randomised_model(model, layers[-3:], seed=1)
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = [k for k, v in rand.module.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all(any(k.startswith(name + ".") for name in layers[-3:]) for k in changed)
    x = torch.rand(2, 3, 96, 96)
    assert not torch.allclose(rand.input_net()(x), model.input_net()(x))
    with pytest.raises(InterpfaceError):
        randomised_model(model, ["no_such_layer"])


def test_map_similarity_is_one_for_the_same_map_and_low_for_unrelated_ones():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(32, 32))
    same = map_similarity(m, m)
    assert same == {"spearman": pytest.approx(1.0), "spearman_abs": pytest.approx(1.0), "ssim": pytest.approx(1.0)}
    other = map_similarity(m, rng.normal(size=(32, 32)))
    assert abs(other["spearman"]) < 0.2 and other["ssim"] < 0.2


def test_sanity_checks_fail_the_random_map_and_pass_model_dependent_maps():
    """The random map ignores the model by construction: it must fail; the representation map and
    xSSAB change as the weights are destroyed."""
    model = InterpretableFaceModel(tiny_model(0, he_init=True))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 96, 96, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (2, 96, 96, 3), dtype=np.uint8)
    r = sanity_checks(model, a, b, ["random", "representation", "xssab"], stages=2)
    assert r["stages"] == ["top 50%", "top 100%"] and r["groups"] == ["group 1", "group 2"]
    rnd = r["methods"]["random"]
    assert not rnd["passes"] and rnd["cascading"][-1]["spearman_abs"] == pytest.approx(1.0)
    assert r["methods"]["representation"]["passes"] and r["methods"]["xssab"]["passes"]
    assert len(r["methods"]["xssab"]["independent"]) == 2


# ------------------------------------------------------------------------------------ trust cards
def _faithfulness(gain_sim: float, gain_dis: float, n: int = 8) -> dict:
    """A synthetic faithfulness run: method 'good' deletes faster than random on every pair by the gains."""
    rng = np.random.default_rng(0)
    same = [True] * n + [False] * n
    rnd_sim, rnd_dis = rng.uniform(0.4, 0.6, n), rng.uniform(0.3, 0.5, n)

    def per(sim, dis, fame):
        return {
            "black_sim_del": list(sim),
            "black_dis_del": list(dis),
            "black_sim_ins": [0.3] * n,  # insertion: no difference from the random map
            "black_dis_ins": [0.1] * n,
            "fame_deletion_scores": fame,
            "fame_insertion_scores": fame_rnd,
        }

    # accuracy protocol: genuine pairs start above 0.5, impostors below; 'good' flips them sooner
    fame_rnd = [[0.9] * 8 + [0.1] * 3 if s else [0.1] * 8 + [0.9] * 3 for s in same]
    fame_good = [[0.9] * 3 + [0.1] * 8 if s else [0.1] * 3 + [0.9] * 8 for s in same]
    rows = [
        {"method": m, "n_genuine": n, "n_impostor": n, "seconds_per_map": 0.1, "fame_deletion_auc": 0.0}
        for m in ("good", "random")
    ]
    return {
        "model": "m",
        "rows": rows,
        "same": same,
        "threshold": 0.5,
        "fame_fractions": np.linspace(0, 1, 11).tolist(),
        "per_pair": {
            "good": per(rnd_sim - gain_sim, rnd_dis + gain_dis, fame_good),
            "random": per(rnd_sim, rnd_dis, fame_rnd),
        },
    }


def test_trust_card_verdicts():
    cards = trust_cards(_faithfulness(0.1, 0.1))
    good = cards["good"]
    assert good["verdict"] == BETTER and good["cosine_deletion"]["gain"] == pytest.approx(0.1)
    assert good["accuracy_deletion"]["gain"] > 0 and good["sanity"] == "not run"
    assert good["cosine_insertion"]["gain"] == 0 and good["accuracy_insertion"]["gain"] == 0
    assert cards["random"]["verdict"] == "the floor"
    assert trust_cards(_faithfulness(-0.1, -0.1))["good"]["verdict"] == WORSE
    assert trust_cards(_faithfulness(0.0, 0.0))["good"]["verdict"] == NOT_BETTER
    sanity = {
        "threshold": 0.5,
        "methods": {"good": {"passes": True, "cascading": [{"spearman_abs": 0.1, "ssim": 0.2}]}},
    }
    assert trust_cards(_faithfulness(0.1, 0.1), sanity)["good"]["sanity"] == "passes"


def test_trust_cards_are_saved_and_loaded_by_name_only(tmp_path):
    save_trust_cards("full", {"cards": {"x": {"verdict": BETTER}}}, tmp_path)
    assert load_trust_cards("full", tmp_path) == {"x": {"verdict": BETTER}}
    assert load_trust_cards("../etc/passwd", tmp_path) is None and load_trust_cards("other", tmp_path) is None
    with pytest.raises(ValueError):
        save_trust_cards("../x", {}, tmp_path)


def test_shipped_trust_cards_cover_every_method_of_every_shipped_model():
    from interpface.files import assets_dir

    for name in ("base", "base_aug", "sad", "fad", "full", "dlib_port"):
        cards = load_trust_cards(name)
        assert cards, f"no trust cards shipped for {name}"
        methods = set(cards)
        assert {"occlusion", "integrated_gradients", "rise", "random", "fggb", "xssab", "corrrise"} <= methods
        for card in cards.values():
            assert card["verdict"] and card["sanity"] in ("passes", "fails") and card["what_it_shows"]
    assert (assets_dir() / "analyses" / "trust").is_dir()


def test_shipped_trust_cards_are_of_the_shipped_weights():
    """The cards come from scripts/trust_runs.sh's tracked records (results/trust/), each with the sha256 of
    the weights it measured: a retrained reference model needs its trust run again before it ships."""
    from interpface.files import assets_dir

    root = Path(__file__).resolve().parent.parent
    for name in ("base", "base_aug", "sad", "fad", "full"):
        shipped = json.loads((assets_dir() / "models" / name / "config.json").read_text())["sha256"]
        measured = root / "results" / "trust" / f"{name}.weights"
        assert measured.is_file(), f"no trust run recorded for {name}: run ./scripts/trust_runs.sh"
        assert measured.read_text().strip() == shipped, f"{name} was retrained since its trust run"


# ------------------------------------------------------------------------------------------- CLI
def test_faithfulness_sanity_and_trust_commands_on_the_face_set(faces, faces_root, tmp_path, capsys):
    from interpface.cli.main import main
    from interpface.faces.prepare import prepare_dataset
    from interpface.models.checkpoint import save_checkpoint

    prepare_dataset(faces, cache_dir=tmp_path / "cache", workers=1, progress=False)
    net = tiny_model(0, he_init=True)
    save_checkpoint(tmp_path / "tiny", net, model_config=net.config, extra={})
    data = ["--data-root", str(faces_root), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    ck = ["--checkpoint", str(tmp_path / "tiny")]
    methods = "representation,occlusion,random,xssab"
    f_json, s_json, t_json = tmp_path / "f.json", tmp_path / "s.json", tmp_path / "t.json"
    assert main(["faithfulness", *ck, "--n-pairs", "2", "--steps", "10", "--baselines", "black",
                 "--methods", methods, "--json", str(f_json), *data]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "accuracy at the clean EER threshold" in out and "FNMR best/rand/worst" in out
    f = json.loads(f_json.read_text())
    row = f["rows"][0]
    assert 0 <= row["fame_deletion_auc"] <= 1 and row["fame_deletion_auc_ci"][0] <= row["fame_deletion_auc"]
    assert len(f["fame_fractions"]) == 11 and np.isfinite(f["threshold"])
    assert {"fnmr_best", "fnmr_worst", "fnmr_random", "fmr_best"} <= set(row)
    assert main(["sanity", *ck, "--n-pairs", "1", "--stages", "2", "--methods", methods,
                 "--json", str(s_json), *data]) == 0  # fmt: skip
    s = json.loads(s_json.read_text())
    assert s["methods"]["random"]["passes"] is False and "FAIL" in capsys.readouterr().out
    assert main(["trust", "--faithfulness", str(f_json), "--sanity", str(s_json), "--json", str(t_json),
                 "--precompute", "tiny", "--precompute-dir", str(tmp_path / "cards")]) == 0  # fmt: skip
    cards = json.loads(t_json.read_text())["cards"]
    assert set(cards) == set(methods.split(",")) and cards["random"]["sanity"] == "fails"
    assert load_trust_cards("tiny", tmp_path / "cards") == cards
    # bad input: one line, non-zero
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["trust", "--faithfulness", str(tmp_path / "bad.json")]) != 0
    assert main(["trust", "--faithfulness", str(tmp_path / "missing.json")]) != 0
    assert main(["sanity", *ck, "--methods", "gradcam,shap", *data]) != 0
    err = capsys.readouterr().err
    assert "not JSON" in err and "not found" in err and "shap" in err
