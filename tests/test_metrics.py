"""Metric exactness on synthetic scores: ROC / EER / TAR, fold thresholds, identification, bootstrap."""

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

import interpface.evaluation.metrics as M


def gaussian_scores(n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(1, 1, n), rng.normal(-1, 1, n)], np.r_[np.ones(n), np.zeros(n)]


def test_perfect_separation_gives_eer_0_and_tar_1():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0.6, 1.0, 5000), rng.uniform(-1.0, 0.4, 20000)]
    labels = np.r_[np.ones(5000), np.zeros(20000)]
    m = M.verification_metrics(scores, labels)
    assert m["eer"] == 0.0 and m["auc"] == 1.0
    assert m["tar_at_far"] == {"0.01": 1.0, "0.001": 1.0, "0.0001": 1.0}
    assert M.kfold_accuracy(scores, labels)["mean"] == 1.0
    b = M.bootstrap_verification(scores, labels, n_resamples=5)
    assert b["eer"]["std"] == 0.0 and b["tar_at_far"]["0.001"]["mean"] == 1.0


def test_gaussian_case_matches_analytic_values():
    # genuine ~ N(1, 1), impostor ~ N(-1, 1): EER at threshold 0 = Phi(-1); TAR at FAR f = 1 - Phi(z_{1-f} - 2)
    scores, labels = gaussian_scores()
    m = M.verification_metrics(scores, labels)
    assert m["eer"] == pytest.approx(norm.cdf(-1), abs=0.01)
    for far in (1e-2, 1e-3):
        assert m["tar_at_far"][M.far_key(far)] == pytest.approx(1 - norm.cdf(norm.ppf(1 - far) - 2), abs=0.015)
    assert m["auc"] == pytest.approx(norm.cdf(2 / np.sqrt(2)), abs=0.005)  # P(g > i), g - i ~ N(2, 2)
    acc = M.kfold_accuracy(scores, labels)
    assert acc["mean"] == pytest.approx(norm.cdf(1), abs=0.01) and len(acc["folds"]) == 10


def test_tar_is_none_when_far_is_not_resolvable():
    scores, labels = np.r_[np.linspace(0, 1, 50), np.linspace(-1, 0.5, 500)], np.r_[np.ones(50), np.zeros(500)]
    m = M.verification_metrics(scores, labels)
    assert m["tar_at_far"]["0.01"] is not None and m["tar_at_far"]["0.001"] is None
    assert m["tar_at_far"]["0.0001"] is None


def test_roc_auc_eer_agree_with_sklearn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 3000)
    scores = rng.normal(size=3000) + labels * 0.8
    r = M.roc(scores, labels)
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(r.fpr, fpr)
    np.testing.assert_array_equal(r.tpr, tpr)
    assert r.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    # the classic EER formula: 1 - x = TPR(x), TPR linearly interpolated in FPR
    classic = brentq(lambda x: 1.0 - x - np.interp(x, fpr, tpr), 0.0, 1.0)
    assert M.eer(r.fpr, r.tpr) == pytest.approx(classic, abs=1e-9)
    # TAR@FAR from sklearn's points directly
    for far in (0.01, 0.001):
        assert M.tar_at_far(fpr, tpr, far, int((labels == 0).sum())) == tpr[fpr <= far].max()


def test_weighted_roc_used_by_the_bootstrap_agrees_with_sklearn():
    rng = np.random.default_rng(4)
    scores = np.round(rng.normal(size=2000), 1)  # many ties
    labels = rng.integers(0, 2, 2000)
    weights = rng.integers(1, 5, 2000)
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    f2, t2 = M.weighted_roc(scores, labels, weights)
    np.testing.assert_allclose(f2, fpr, atol=1e-12)
    np.testing.assert_allclose(t2, tpr, atol=1e-12)


def test_fold_threshold_never_sees_its_own_fold():
    # Fold 0 separates at 0.5, fold 1 at 0.25. A threshold chosen on all pairs (0.25) would give 100%;
    # chosen on the other fold only: fold 0 uses 0.25 (100%), fold 1 uses 0.5 (50%).
    scores = np.array([0.9, 0.1, 0.3, 0.2])
    labels = np.array([1, 0, 1, 0])
    folds = np.array([0, 0, 1, 1])
    acc = M.kfold_accuracy(scores, labels, folds=folds)
    assert acc["folds"] == [1.0, 0.5] and acc["mean"] == 0.75
    assert acc["thresholds"] == [pytest.approx(0.25), pytest.approx(0.5)]

    # and instrumented: the scores handed to threshold selection never include the test fold's
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=400), rng.integers(0, 2, 400)
    folds = M.stratified_folds(labels, 10, seed=1)
    seen = []

    def spy(s, y):
        seen.append(set(s.tolist()))
        return M.best_threshold(s, y)

    M.kfold_accuracy(scores, labels, folds=folds, threshold_fn=spy)
    for k, used in enumerate(seen):
        assert used.isdisjoint(scores[folds == k].tolist())
        assert used == set(scores[folds != k].tolist())


def test_stratified_folds_balance_classes():
    labels = np.r_[np.ones(500), np.zeros(500)]
    folds = M.stratified_folds(labels, 10, seed=0)
    for k in range(10):
        assert (labels[folds == k] == 1).sum() == 50 and (labels[folds == k] == 0).sum() == 50
    np.testing.assert_array_equal(folds, M.stratified_folds(labels, 10, seed=0))


def test_best_threshold_is_optimal_on_its_data():
    rng = np.random.default_rng(6)
    scores, labels = rng.normal(size=300) + rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    thr = M.best_threshold(scores, labels)
    best = np.mean((scores >= thr) == labels)
    grid = np.r_[scores - 1e-9, scores + 1e-9]
    assert best >= max(np.mean((scores >= g) == labels) for g in grid) - 1e-12


def test_identification_ranks_hand_made():
    e = np.eye(4, dtype=np.float32)
    gallery, gids = e[:3], np.array(["a", "b", "c"])
    probes = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],  # a: rank 1
            [0.6, 0.8, 0.0, 0.0],  # labelled a, b scores higher: rank 2
            [0.0, 1.0, 0.0, 0.0],  # labelled a: a and c tie at 0 behind b -> ties count against: rank 3
            [0.0, 0.0, 1.0, 0.0],  # c: rank 1
        ]
    )
    ranks = M.identification_ranks(gallery, gids, probes, np.array(["a", "a", "a", "c"]))
    assert ranks.tolist() == [1, 2, 3, 1]
    assert M.rank_rates(ranks, (1, 2, 5)) == {"rank1": 0.5, "rank2": 0.75, "rank5": 1.0}
    # several gallery images of one identity: its best one counts
    g2 = np.vstack([gallery, [[0.6, 0.8, 0, 0]]])
    ranks = M.identification_ranks(g2, np.r_[gids, ["a"]], probes[1:2] * [0, 1, 0, 0], np.array(["a"]))
    assert ranks.tolist() == [2]  # a's second image scores 0.8, b's 1.0
    with pytest.raises(Exception, match="no gallery"):
        M.identification_ranks(gallery, gids, probes[:1], np.array(["z"]))


def test_bootstrap_is_seeded_and_sane():
    x = np.random.default_rng(7).normal(size=1000)
    a = M.bootstrap(lambda idx: float(x[idx].mean()), len(x), n_resamples=200, seed=1)
    b = M.bootstrap(lambda idx: float(x[idx].mean()), len(x), n_resamples=200, seed=1)
    assert a == b
    assert a["std"] == pytest.approx(x.std() / np.sqrt(len(x)), rel=0.2)
    assert a["mean"] == pytest.approx(x.mean(), abs=0.01)


def test_cluster_bootstrap_is_wider_than_pair_bootstrap_with_shared_people():
    # scores depend on a per-person offset: pairs that share people are correlated
    rng = np.random.default_rng(8)
    n_people, n = 60, 20000
    offset = rng.normal(0, 0.7, n_people)
    ga = rng.integers(0, n_people, n)
    same = rng.random(n) < 0.3
    gb = np.where(same, ga, rng.integers(0, n_people, n))
    labels = ga == gb
    scores = rng.normal(size=n) + 1.5 * labels + offset[ga]
    pair = M.bootstrap_verification(scores, labels, n_resamples=40, seed=0)
    clus = M.bootstrap_verification(scores, labels, ga, gb, n_resamples=40, seed=0)
    assert clus["kind"] == "identity cluster bootstrap" and pair["kind"] == "pair bootstrap"
    assert clus["auc"]["std"] > 2 * pair["auc"]["std"]


def test_bad_inputs_raise_typed_errors():
    from interpface.errors import InterpfaceError

    with pytest.raises(InterpfaceError, match="both genuine"):
        M.roc([0.1, 0.2], [1, 1])
    with pytest.raises(InterpfaceError, match="NaN"):
        M.roc([np.nan, 0.2], [1, 0])


def test_reduced_curve_of_the_bootstrap_keeps_auc_eer_and_tar():
    rng = np.random.default_rng(9)
    labels = rng.random(20000) < 0.05
    scores = np.round(rng.normal(size=20000) + 1.5 * labels, 2)  # ties across classes too
    full, reduced = M._SortedRoc(scores, labels), M._SortedRoc(scores, labels, reduce=True)
    assert len(reduced.gen_upto) < len(full.gen_upto)
    for _ in range(3):
        w = rng.integers(0, 3, len(scores))[full.order]
        (f1, t1), (f2, t2) = full.curve(w), reduced.curve(w)
        assert np.trapezoid(t1, f1) == pytest.approx(np.trapezoid(t2, f2), abs=1e-12)
        assert M.eer(f1, t1) == pytest.approx(M.eer(f2, t2), abs=1e-12)
        for far in (1e-2, 1e-3):
            assert M.tar_at_far(f1, t1, far, 19000) == M.tar_at_far(f2, t2, far, 19000)


def test_threshold_at_far_reproduces_the_tar():
    import numpy as np

    from interpface.evaluation.metrics import verification_metrics

    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(1, 1, 2000), rng.normal(-1, 1, 20000)])
    labels = np.concatenate([np.ones(2000, bool), np.zeros(20000, bool)])
    v = verification_metrics(scores, labels)
    for far, thr in v["threshold_at_far"].items():
        accepted = scores >= thr
        assert (accepted & ~labels).sum() / (~labels).sum() <= float(far) + 1e-12
        assert (accepted & labels).sum() / labels.sum() == pytest.approx(v["tar_at_far"][far])


def test_paired_bootstrap_sees_a_small_consistent_gain_that_the_models_own_spreads_hide():
    # two models share which people are hard (a per-person offset); B adds a little noise on top of A
    rng = np.random.default_rng(10)
    n_people, n = 80, 30000
    offset = rng.normal(0, 0.8, n_people)
    ga = rng.integers(0, n_people, n)
    gb = np.where(rng.random(n) < 0.3, ga, rng.integers(0, n_people, n))
    labels = ga == gb
    shared = rng.normal(size=n) + 1.5 * labels + offset[ga]
    a, b = shared, shared + 0.4 * rng.normal(size=n)
    own_a = M.bootstrap_verification(a, labels, ga, gb, n_resamples=60, seed=0)
    own_b = M.bootstrap_verification(b, labels, ga, gb, n_resamples=60, seed=0)
    paired = M.paired_bootstrap_verification(a, b, labels, ga, gb, n_resamples=60, seed=0)
    auc, eer = paired["auc"], paired["eer"]
    assert paired["kind"] == "identity cluster bootstrap"
    assert auc["a"] == pytest.approx(M.roc(a, labels).auc) and auc["b"] == pytest.approx(M.roc(b, labels).auc)
    assert auc["diff"] > 0 and eer["diff"] < 0  # A is better on both
    gap = auc["diff"] / max(own_a["auc"]["std"], own_b["auc"]["std"])
    assert auc["std"] < own_a["auc"]["std"] / 3  # the shared part cancels
    assert auc["z"] > 3 * gap and auc["z"] > 2 and eer["z"] > 2  # z is signed: > 0 means A better
    assert auc["a_better"] == 1.0 and paired["tar_at_far"]["0.01"]["a_better"] > 0.9
    # swapping the models negates the differences and the z-scores
    swapped = M.paired_bootstrap_verification(b, a, labels, ga, gb, n_resamples=60, seed=0)
    assert swapped["auc"]["diff"] == pytest.approx(-auc["diff"])
    assert swapped["eer"]["z"] == pytest.approx(-eer["z"])
    assert swapped["auc"]["a_better"] == 0.0


def test_paired_bootstrap_of_a_model_against_itself_is_zero_and_pair_bootstrap_works():
    rng = np.random.default_rng(11)
    labels = rng.random(3000) < 0.2
    s = rng.normal(size=3000) + labels
    same = M.paired_bootstrap_verification(s, s, labels, n_resamples=20, seed=0)
    assert same["kind"] == "pair bootstrap"
    assert same["auc"]["diff"] == 0 and same["auc"]["std"] == 0 and same["auc"]["z"] == 0
    assert same["tar_at_far"]["0.0001"] is None  # 2,400 impostors cannot resolve 1e-4
    from interpface.errors import InterpfaceError

    with pytest.raises(InterpfaceError, match="differ in length"):
        M.paired_bootstrap_verification(s, s[:-1], labels)
