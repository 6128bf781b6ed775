"""Hand-computed cases for Eqs. 1-5 and the distillation terms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from interpface.models.losses import (
    DistillCosineLoss,
    DistillRelationLoss,
    FADLoss,
    IdentityLoss,
    LossWeights,
    OccludedIdentityLoss,
    SADFilterLoss,
    SADResponseLoss,
    SADTapLoss,
    feature_selection_mask,
)

torch.set_num_threads(2)


# -- Eq. 1 -------------------------------------------------------------------------------------------
def _eq1_loop(w: torch.Tensor) -> float:
    n, c = w.shape[:2]
    cols = w.reshape(n, c, -1)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                taps = range(cols.shape[2])
                total += abs(sum(torch.cosine_similarity(cols[i, :, p], cols[j, :, p], dim=0).item() for p in taps))
    return total


def test_sad_filter_orthogonal_is_zero():
    n, c = 4, 6
    w = torch.zeros(n, c, 3, 3)
    for i in range(n):
        w[i, i] = torch.rand(3, 3) + 0.5  # filter i lives on channel i only: every tap column orthogonal
    assert SADFilterLoss(normalize=False)(w).item() == 0.0
    assert SADFilterLoss()(w).item() == 0.0


def test_sad_filter_identical_is_maximum():
    n = 5
    w = torch.randn(1, 7, 3, 3).repeat(n, 1, 1, 1)
    assert SADFilterLoss(normalize=False)(w).item() == pytest.approx(n * (n - 1) * 9, rel=1e-5)
    assert SADFilterLoss()(w).item() == pytest.approx(9.0, rel=1e-5)


def test_sad_filter_matches_loop_and_has_gradient():
    torch.manual_seed(0)
    w = torch.randn(4, 5, 3, 3, requires_grad=True)
    loss = SADFilterLoss(normalize=False)(w)
    assert loss.item() == pytest.approx(_eq1_loop(w.detach()), rel=1e-5)
    loss.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_sad_taps_alike_is_maximum_orthogonal_is_zero():
    same = torch.randn(3, 6, 1, 1).repeat(1, 1, 3, 3)  # every tap of a filter the same column
    assert SADTapLoss()(same).item() == pytest.approx(1.0, rel=1e-5)
    w = torch.zeros(2, 9, 3, 3)
    for p in range(9):
        w[:, p, p // 3, p % 3] = 1.0 + p  # tap p lives on channel p only
    assert SADTapLoss()(w).item() == 0.0


def test_sad_taps_matches_loop_and_has_gradient():
    torch.manual_seed(0)
    w = torch.randn(3, 5, 3, 3, requires_grad=True)
    cols = w.detach().reshape(3, 5, 9)
    pairs = [
        torch.cosine_similarity(cols[i, :, p], cols[i, :, q], dim=0).item() ** 2
        for i in range(3)
        for p in range(9)
        for q in range(9)
        if p != q
    ]
    loss = SADTapLoss()(w)
    assert loss.item() == pytest.approx(sum(pairs) / len(pairs), rel=1e-5)
    loss.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


# -- Eq. 2 -------------------------------------------------------------------------------------------
def test_sad_response_identical_maps_is_maximum():
    b, n = 3, 6
    psi = torch.randn(b, 1, 5, 5).repeat(1, n, 1, 1)
    assert SADResponseLoss(normalize=False)(psi).item() == pytest.approx(n * (n - 1), rel=1e-5)
    assert SADResponseLoss()(psi).item() == pytest.approx(1.0, rel=1e-5)
    # Opposite signs are just as correlated (squared cosine).
    psi[:, ::2] *= -1
    assert SADResponseLoss()(psi).item() == pytest.approx(1.0, rel=1e-5)


def test_sad_response_disjoint_maps_is_zero_and_zero_maps_are_safe():
    b, n = 2, 4
    psi = torch.zeros(b, n, 4, 4)
    for i in range(n - 1):
        psi[:, i, i, :] = torch.rand(b, 4) + 0.1  # map i only on row i
    # map n-1 is all zero: counts as orthogonal, no NaN
    loss = SADResponseLoss(normalize=False)(psi)
    assert loss.item() == 0.0


def test_sad_response_matches_loop_and_leaves_input_alone():
    torch.manual_seed(1)
    psi = torch.randn(2, 4, 3, 3, requires_grad=True)
    before = psi.detach().clone()
    loss = SADResponseLoss()(psi)
    expected = 0.0
    for bi in range(2):
        x = psi.detach()[bi].reshape(4, -1)
        s = sum(torch.cosine_similarity(x[i], x[j], dim=0).item() ** 2 for i in range(4) for j in range(4) if i != j)
        expected += s / 12
    assert loss.item() == pytest.approx(expected / 2, rel=1e-5)
    loss.backward()
    assert torch.equal(psi.detach(), before) and torch.isfinite(psi.grad).all()


def test_sad_response_bf16_autocast_close():
    torch.manual_seed(2)
    psi = torch.randn(2, 8, 24, 24)
    ref = SADResponseLoss()(psi)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = SADResponseLoss()(psi.bfloat16())
    assert out.dtype == torch.float32 and out.item() == pytest.approx(ref.item(), rel=0.05)


# -- Eq. 4 -------------------------------------------------------------------------------------------
def _fad_case():
    d = torch.tensor([0.5, 0.1, 0.3, 0.05, 0.9])
    f_clean = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, -1.0, 2.0, 1.0, 0.5]])
    # Image 0 moves by +d, image 1 by -d: the batch mean of |diff| is d (a mean of signed diffs is 0).
    f_occ = f_clean + torch.stack([d, -d])
    return f_clean, f_occ


def test_fad_count_keeps_t_smallest():
    f_clean, f_occ = _fad_case()
    tau = feature_selection_mask(f_clean, f_occ, "count", 3)
    assert tau.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    loss = FADLoss("count", 3)(f_clean, f_occ)
    assert loss.item() == pytest.approx(0.1 + 0.3 + 0.05, abs=1e-6)
    assert feature_selection_mask(f_clean, f_occ, "count", 5).sum() == 5
    assert feature_selection_mask(f_clean, f_occ, "count", 260).sum() == 5
    assert feature_selection_mask(f_clean, f_occ, "count", 0).sum() == 0


def test_fad_value_mode():
    f_clean, f_occ = _fad_case()
    tau = feature_selection_mask(f_clean, f_occ, "value", 0.2)
    assert tau.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert FADLoss("value", 0.2)(f_clean, f_occ).item() == pytest.approx(0.15, abs=1e-6)


def test_fad_gradient_only_on_selected_dims_and_tau_not_differentiated():
    f_clean, f_occ = _fad_case()
    f_clean.requires_grad_(True)
    f_occ.requires_grad_(True)
    fad = FADLoss("count", 3)
    tau = fad.mask(f_clean, f_occ)
    assert not tau.requires_grad
    fad(f_clean, f_occ, tau).backward()
    assert (f_clean.grad[:, [0, 4]] == 0).all()
    # d/d f_clean of mean_b |f_clean - f_occ| is sign(diff) / B.
    assert torch.allclose(f_clean.grad[:, [1, 2, 3]], torch.tensor([[-0.5] * 3, [0.5] * 3]))
    assert torch.allclose(f_occ.grad, -f_clean.grad)


# -- Eqs. 3 and 5 ------------------------------------------------------------------------------------
def test_identity_loss():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 2])
    expected = -sum(torch.log_softmax(logits, 1)[i, labels[i]].item() for i in range(2)) / 2
    assert IdentityLoss()(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_occluded_identity_uses_masked_features_and_shared_classifier():
    classifier = torch.nn.Linear(5, 3, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.arange(15, dtype=torch.float32).reshape(3, 5) / 10 - 0.7)
    f_occ = torch.tensor([[1.0, -2.0, 0.5, 3.0, 1.0], [0.2, 0.1, -0.3, 0.0, 2.0]])
    tau = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    labels = torch.tensor([2, 0])
    w = classifier.weight.detach()
    total = 0.0
    for i in range(2):
        z = [sum(w[k, j].item() * f_occ[i, j].item() * tau[j].item() for j in range(5)) for k in range(3)]
        total += -(z[labels[i]] - math.log(sum(math.exp(v) for v in z)))
    loss = OccludedIdentityLoss()(f_occ, tau, labels, classifier)
    assert loss.item() == pytest.approx(total / 2, rel=1e-5)
    loss.backward()
    assert classifier.weight.grad is not None
    assert (classifier.weight.grad[:, [1, 4]] == 0).all()  # masked dims carry nothing


def test_loss_weights_defaults():
    assert LossWeights().fad == 0.1 and LossWeights().identity == 1.0


# -- distillation ----------------------------------------------------------------------------------
def test_distill_cosine_loss_hand_made():
    t = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]]), dim=1)
    loss = DistillCosineLoss()
    assert loss(3 * t, t).item() == pytest.approx(0.0, abs=1e-6)  # scale-free
    assert loss(-t, t).item() == pytest.approx(2.0, abs=1e-6)
    orth = torch.tensor([[2.0, -1.0, 0.0], [0.0, 3.0, 1.0]])  # orthogonal to each row of t
    assert loss(orth, t).item() == pytest.approx(1.0, abs=1e-6)


def test_distill_relation_loss_hand_made_and_rotation_invariant():
    loss = DistillRelationLoss()
    # two students at 90 degrees, two teacher targets equal: both off-diagonal cosines off by 1
    assert loss(torch.eye(2), torch.tensor([[1.0, 0.0], [1.0, 0.0]])).item() == pytest.approx(1.0)
    torch.manual_seed(0)
    t = torch.randn(6, 5)
    q, _ = torch.linalg.qr(torch.randn(5, 5))
    f = torch.cat([2.5 * t @ q, torch.zeros(6, 7)], dim=1)  # rotated, scaled, in a wider space: same geometry
    assert loss(f, t).item() == pytest.approx(0.0, abs=1e-10)
    g = torch.randn(6, 12, requires_grad=True)
    value = loss(g, t)
    value.backward()
    assert value.item() > 0.05 and g.grad.abs().sum() > 0
    assert loss(torch.randn(1, 4), torch.randn(1, 4)).item() == 0.0  # one sample: no pair


def test_teacher_targets_are_centred_and_unit():
    from training.data import teacher_targets

    rng = np.random.default_rng(0)
    raw = rng.normal(size=(10, 2, 8)) + 5.0  # a strong shared direction, as dlib's descriptors have
    out = teacher_targets(raw)
    assert out.shape == (10, 2, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-6)
    raw_cos = (raw[:, 0] / np.linalg.norm(raw[:, 0], axis=1, keepdims=True)) @ (
        raw[:, 0] / np.linalg.norm(raw[:, 0], axis=1, keepdims=True)
    ).T
    new_cos = out[:, 0] @ out[:, 0].T
    assert raw_cos[~np.eye(10, dtype=bool)].mean() > 0.9 and abs(new_cos[~np.eye(10, dtype=bool)].mean()) < 0.3


def test_distill_rank_loss_follows_the_teachers_order():
    """The rank term is small when the student orders the pairs as the teacher does, large when it
    reverses them, and a gradient step on a random student lowers it."""
    from interpface.models.losses import DistillRankLoss

    torch.manual_seed(0)
    loss = DistillRankLoss(fraction=0.2, temperature=0.05)
    teacher = torch.randn(12, 16)
    same = loss(teacher.clone(), teacher)
    # a student whose cosines are an increasing function of the teacher's orders every pair alike
    t = torch.nn.functional.normalize(teacher, dim=1)
    squeezed = torch.cat([t, 3.0 * torch.ones(12, 1)], dim=1)  # cosines pulled toward 1, order kept
    assert loss(squeezed, teacher) < 0.5 * loss(torch.randn(12, 16), teacher)
    reversed_ = -teacher  # s_ij = t_ij (the cosine of two negated vectors is unchanged) ...
    assert torch.isclose(loss(reversed_, teacher), same)
    # a student whose every pair's cosine falls as the teacher's rises: Gram matrix
    # G = a I - e T + b 11^T (T the teacher's cosines; PSD for a >= e lambda_max(T), unit diagonal)
    cos_t = t @ t.T
    e = 0.5 / float(torch.linalg.eigvalsh(cos_t).max())
    a = e * float(torch.linalg.eigvalsh(cos_t).max()) + 0.05
    gram = a * torch.eye(12) - e * cos_t + (1 - a + e) * torch.ones(12, 12)
    order_reversed = torch.linalg.cholesky(gram.double()).float()  # rows: embeddings with that Gram matrix
    s_rev = (
        torch.nn.functional.normalize(order_reversed, dim=1) @ torch.nn.functional.normalize(order_reversed, dim=1).T
    )
    i, j = torch.triu_indices(12, 12, 1)
    assert torch.corrcoef(torch.stack([s_rev[i, j], cos_t[i, j]]))[0, 1] < -0.99  # every order reversed
    assert loss(order_reversed, teacher) > 20 * same
    # (not above a random student's: that one's cosines spread wider, and the hinge is in cosine units;
    # the docstring says so)
    f = torch.randn(12, 16, requires_grad=True)
    before = loss(f, teacher)
    before.backward()
    with torch.no_grad():
        after = loss(f - 0.5 * f.grad / f.grad.norm(), teacher)
    assert after < before
    assert loss(torch.randn(2, 16), torch.randn(2, 16)) == 0  # fewer than 3 faces: no pair of pairs


def test_standardised_rank_loss_ignores_the_students_scale():
    """standardise=True: a student whose cosines are an increasing affine map of another's scores the
    same; the raw variant does not (a compressed student is pushed to spread)."""
    from interpface.models.losses import DistillRankLoss

    torch.manual_seed(0)
    teacher, f = torch.randn(12, 16), torch.randn(12, 16)
    # appending a constant coordinate maps every cosine c to (c + k^2) / (1 + k^2) for unit rows
    unit = torch.nn.functional.normalize(f, dim=1)
    squeezed = torch.cat([unit, 2.0 * torch.ones(12, 1)], dim=1)
    z, raw = DistillRankLoss(0.2, 0.25, standardise=True), DistillRankLoss(0.2, 0.05)
    assert torch.isclose(z(squeezed, teacher), z(unit, teacher), rtol=1e-4)
    assert not torch.isclose(raw(squeezed, teacher), raw(unit, teacher), rtol=1e-2)
    assert z(teacher.clone(), teacher) < 0.2 * z(f, teacher)


def test_distillation_cosines_stay_float32_under_bf16_autocast():
    """bf16 would round each cosine by 0.002-0.004: the relation, rank and margin terms compute theirs
    in float32 also inside the trainer's autocast."""
    from interpface.models.losses import DistillRankLoss, DistillRelationLoss, TeacherCentreMarginLoss

    torch.manual_seed(0)
    f, teacher = torch.randn(16, 64), torch.randn(16, 128)
    centres = torch.nn.functional.normalize(torch.randn(10, 128), dim=1)
    labels = torch.arange(16) % 10
    cases = [
        (DistillRelationLoss(), (f, teacher)),
        (DistillRankLoss(0.2), (f, teacher)),
        (TeacherCentreMarginLoss(), (teacher + 0.1 * torch.randn(16, 128), centres, labels)),
    ]
    for loss, args in cases:
        plain = loss(*args)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = loss(*args)
        assert auto.dtype == torch.float32 and torch.allclose(auto, plain, rtol=1e-5, atol=1e-7), type(loss).__name__


def test_teacher_centre_margin_loss():
    """The teacher's class centres as a fixed classifier: low for a projection on its class centre,
    the margin raises it, and mixed faces weight both labels by their share."""
    from interpface.models.losses import TeacherCentreMarginLoss

    torch.manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(10, 32), dim=1)
    labels = torch.arange(10)
    on_centre = TeacherCentreMarginLoss(0.0)(centres * 2, centres, labels)
    random = TeacherCentreMarginLoss(0.0)(torch.randn(10, 32), centres, labels)
    assert on_centre < 0.1 < random
    assert TeacherCentreMarginLoss(0.3)(centres, centres, labels) > on_centre
    other = labels.roll(1)
    lam = torch.full((10,), 0.25)
    mixed = TeacherCentreMarginLoss(0.2)(centres, centres, labels, other, lam)
    ce_a = TeacherCentreMarginLoss(0.2)._ce(centres @ centres.T, labels)
    ce_b = TeacherCentreMarginLoss(0.2)._ce(centres @ centres.T, other)
    assert torch.isclose(mixed, (0.25 * ce_a + 0.75 * ce_b).mean())


def test_teacher_class_centres_are_unit_class_means():
    from training.data import teacher_class_centres

    targets = np.zeros((3, 2, 4), np.float32)
    targets[0] = [[1, 0, 0, 0], [1, 0, 0, 0]]
    targets[1] = [[0, 1, 0, 0], [0, 1, 0, 0]]
    targets[2] = [[0, 0, 1, 0], [0, 0, 1, 0]]
    c = teacher_class_centres(targets, np.array([0, 0, 1]), 3)
    assert np.allclose(c[0], [2**-0.5, 2**-0.5, 0, 0]) and np.allclose(c[1], [0, 0, 1, 0])
    assert np.allclose(c[2], 0)  # a class with no image
