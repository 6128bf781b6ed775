"""The training losses of Yin et al. (ICCV 2019), one nn.Module each (tensors in, scalar out).

    L = w_id L_id (Eq. 3) + w_f L_SAD^filter (Eq. 1) + w_r L_SAD^response (Eq. 2)
        + w_fad L_FAD (Eq. 4) + w_occ L_id^occluded (Eq. 5)
        + w_dc L_distill^cosine + w_dr L_distill^relation   (distillation from a teacher, ours)

None of them modifies its inputs or talks to torch.distributed; the trainer combines them with
explicit weights (LossWeights). Under bf16 autocast the identity and SAD losses' matmuls run in bf16
(with float32 accumulation); the distillation terms' cosines, normalisations and reductions run in
float32 (bf16's 8-bit mantissa would round a cosine by 0.002-0.004: ties in the rank term, a tenth of a
logit in the margin term).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "IdentityLoss",
    "SADFilterLoss",
    "SADTapLoss",
    "SADResponseLoss",
    "FADLoss",
    "OccludedIdentityLoss",
    "LossWeights",
    "DistillCosineLoss",
    "DistillRelationLoss",
    "DistillRankLoss",
    "TeacherCentreMarginLoss",
    "feature_selection_mask",
]

# Floor for norms in cosine similarities: an all-zero vector gets cosine 0 with everything
# (instead of NaN), which is also what the diversity terms should see for a silent map/filter.
_EPS = 1e-8


def _cosines(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """(B, D), (C, D) -> (B, C) cosines in float32, also under autocast; b None: a's own (B, B)."""
    with torch.autocast(a.device.type, enabled=False):
        an = F.normalize(a.float(), dim=1, eps=_EPS)
        return an @ (an if b is None else F.normalize(b.float(), dim=1, eps=_EPS)).T


class IdentityLoss(nn.Module):
    """Eq. 3: softmax cross-entropy. logits (B, K), labels (B,) int64 -> scalar (mean over B)."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels)


class SADFilterLoss(nn.Module):
    """Eq. 1 as the paper writes it: decorrelate the Psi filters tap by tap.

    weight: the Psi conv weight W, (N, C, kh, kw). F_i^p = W[i, :, p] is the C-vector of filter i at
    spatial tap p (P = kh*kw taps). Returns

        sum_{i != j} | sum_p cos(F_i^p, F_j^p) |

    divided by N(N-1) when normalize=True (the default, so the value lies in [0, P] whatever N is and
    loss weights do not depend on N^f); normalize=False gives the raw sum of the paper. A tap column
    that is all zero counts as orthogonal to everything.

    Note: the authors' released TF code (diversityLossA) penalises something else: the squared
    cosine between the P taps *within* each filter (a P x P matrix per filter), times 100. This class
    implements the paper's equation, as the design asks; :class:`SADTapLoss` implements theirs.
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.dim() != 4:
            raise ValueError(f"weight must be (N, C, kh, kw), got shape {tuple(weight.shape)}")
        n, c = weight.shape[:2]
        w = weight.float().reshape(n, c, -1)  # (N, C, P)
        w = w / w.norm(dim=1, keepdim=True).clamp_min(_EPS)  # unit columns per (filter, tap)
        # S[i, j] = sum_p <F_i^p, F_j^p> / (|F_i^p| |F_j^p|): one (N, C*P) @ (C*P, N) matmul.
        flat = w.reshape(n, -1)
        s = flat @ flat.t()
        off = s.abs().sum() - s.diagonal().abs().sum()
        if self.normalize and n > 1:
            off = off / (n * (n - 1))
        return off


class SADTapLoss(nn.Module):
    """The authors' released form of the filter term (their ``diversityLossA``): decorrelate the taps
    *within* each Psi filter.

    weight: (N, C, kh, kw). Per filter i, the P x P cosines between its tap columns F_i^p (P = kh*kw);
    returns the mean over filters and over the P(P-1) off-diagonal pairs of the squared cosine, in
    [0, 1] (their code multiplies it by 100). A filter whose taps are alike answers one feature wherever
    it falls in its 3x3 window; orthogonal taps make it answer one spatial arrangement of features.
    All-zero tap columns count as orthogonal to everything.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.dim() != 4:
            raise ValueError(f"weight must be (N, C, kh, kw), got shape {tuple(weight.shape)}")
        n, c = weight.shape[:2]
        w = weight.float().reshape(n, c, -1)  # (N, C, P)
        p = w.shape[2]
        if p < 2:
            return w.sum() * 0.0
        w = w / w.norm(dim=1, keepdim=True).clamp_min(_EPS)
        cos = torch.bmm(w.transpose(1, 2), w)  # (N, P, P)
        off_diagonal = ~torch.eye(p, dtype=torch.bool, device=cos.device)
        return (cos.square() * off_diagonal).sum() / (n * p * (p - 1))


class SADResponseLoss(nn.Module):
    """Eq. 2 on psi' = g_sigma * LMF(psi): decorrelate the response maps of each image.

    psi_smooth: (B, N, H, W). Per image, the N x N matrix of cosines between flattened maps; the loss
    is sum_{i != j} cos^2, divided by N(N-1) when normalize=True (default; value in [0, 1], matches the
    authors' code), then averaged over the batch. All-zero maps count as orthogonal.

    Memory: one batched (B, N, HW) @ (B, HW, N) matmul, i.e. B*N*N floats (B=64, N=320: 26 MB).
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, psi_smooth: torch.Tensor) -> torch.Tensor:
        if psi_smooth.dim() != 4:
            raise ValueError(f"psi_smooth must be (B, N, H, W), got shape {tuple(psi_smooth.shape)}")
        b, n = psi_smooth.shape[:2]
        x = psi_smooth.reshape(b, n, -1)
        # Gram first, normalise after: cos_ij = G_ij / sqrt(G_ii G_jj). Same value as normalising the
        # maps, but the elementwise work (and its backward) is on (B, N, N), not on (B, N, H*W).
        # Under autocast the matmul runs in bf16 (fp32 accumulation); the rest runs in float32.
        g = torch.bmm(x, x.transpose(1, 2)).float()
        norms = g.diagonal(dim1=1, dim2=2).clamp_min(_EPS * _EPS).sqrt()  # (B, N)
        cos = g / (norms.unsqueeze(2) * norms.unsqueeze(1))
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=cos.device)
        # A mask, not "total - trace": no cancellation error when the maps are nearly orthogonal.
        per_image = (cos.square() * off_diagonal).sum(dim=(1, 2))
        if self.normalize and n > 1:
            per_image = per_image / (n * (n - 1))
        return per_image.mean()


def feature_selection_mask(
    f_clean: torch.Tensor, f_occ: torch.Tensor, mode: str = "count", t: float = 260
) -> torch.Tensor:
    """The FAD feature-selection mask tau (Eq. 4, paper §3.4): which dimensions an occlusion barely moves.

    f_clean, f_occ: (B, N), pairs sharing one physical mask. d_i = mean_b |f_i(I_b) - f_i(I^_b)|, the
    batch mean of the per-pair absolute difference (the design's choice and the authors' code; the
    paper's §3.4 formula |mean f - mean f^| would let opposite changes of different images cancel).
      mode "count": tau_i = 1 for the int(t) dimensions with the smallest d (exactly that many; ties
                    broken by torch.topk); t >= N keeps all, t <= 0 none.
      mode "value": tau_i = 1 where d_i < t.
    Returns tau (N,) float (dtype of f_clean), computed without gradient: it is a selection.
    """
    if f_clean.shape != f_occ.shape or f_clean.dim() != 2:
        raise ValueError(f"f_clean and f_occ must both be (B, N), got {tuple(f_clean.shape)} and {tuple(f_occ.shape)}")
    with torch.no_grad():
        d = (f_clean.float() - f_occ.float()).abs().mean(dim=0)  # (N,)
        n = d.numel()
        if mode == "count":
            k = int(t)
            tau = torch.zeros(n, dtype=f_clean.dtype, device=f_clean.device)
            if k >= n:
                tau.fill_(1)
            elif k > 0:
                tau[torch.topk(d, k, largest=False).indices] = 1
        elif mode == "value":
            tau = (d < t).to(f_clean.dtype)
        else:
            raise ValueError(f"mode must be 'count' or 'value', got {mode!r}")
    return tau


class FADLoss(nn.Module):
    """Eq. 4: sum_i |tau_i (f_i(I) - f_i(I^))|, averaged over the batch.

    f_clean, f_occ: (B, N); tau: optional (N,) or (B, N) mask, computed with
    feature_selection_mask(mode, t) when omitted (pass it in to share it with Eq. 5). Gradient flows
    into both branches; none flows through tau. The sum over dimensions is not normalised (Eq. 4 as
    written; the authors' code weights it by 0.1).
    """

    def __init__(self, mode: str = "count", t: float = 260) -> None:
        super().__init__()
        if mode not in ("count", "value"):
            raise ValueError(f"mode must be 'count' or 'value', got {mode!r}")
        self.mode = mode
        self.t = t

    def mask(self, f_clean: torch.Tensor, f_occ: torch.Tensor) -> torch.Tensor:
        """tau (N,) for this loss's mode and threshold."""
        return feature_selection_mask(f_clean, f_occ, self.mode, self.t)

    def forward(self, f_clean: torch.Tensor, f_occ: torch.Tensor, tau: torch.Tensor | None = None) -> torch.Tensor:
        if tau is None:
            tau = self.mask(f_clean, f_occ)
        diff = (f_clean.float() - f_occ.float()) * tau.detach().float()
        return diff.abs().sum(dim=1).mean()


class OccludedIdentityLoss(nn.Module):
    """Eq. 5: cross-entropy of classifier(tau ⊙ f(I^)).

    f_occ (B, N), tau (N,) or (B, N), labels (B,) int64, classifier: the module shared with the clean
    branch (passed in, not owned, so its weights get gradients from both branches) -> scalar.
    """

    def forward(
        self, f_occ: torch.Tensor, tau: torch.Tensor, labels: torch.Tensor, classifier: nn.Module
    ) -> torch.Tensor:
        return F.cross_entropy(classifier(f_occ * tau.detach().to(f_occ.dtype)).float(), labels)


class DistillCosineLoss(nn.Module):
    """Pull a learned projection of f toward the teacher's descriptor of the same (clean) face.

    projected (B, D) = teacher_projection(f), target (B, D) the teacher's descriptors, already centred
    (the teacher's mean descriptor removed: dlib's descriptors share a strong mean direction, so a
    constant would already score cosine ~0.9 to raw ones) -> mean over B of 1 - cos(projected, target).
    """

    def forward(self, projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (1 - F.cosine_similarity(projected.float(), target.float(), dim=1, eps=_EPS)).mean()


class DistillRelationLoss(nn.Module):
    """Make the batch's cosine matrix of f equal the teacher's: the geometry verification scores use.

    f (B, N) student representations, target (B, D) centred teacher descriptors ->
    mean over the B(B-1) off-diagonal entries of (cos(f_i, f_j) - cos(t_i, t_j))^2. No projection: the
    student's own cosine scores are what evaluation compares.
    """

    def forward(self, f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b = f.shape[0]
        if b < 2:
            return f.float().sum() * 0
        diff = _cosines(f) - _cosines(target)
        off = ~torch.eye(b, dtype=torch.bool, device=f.device)
        return diff[off].pow(2).mean()


class DistillRankLoss(nn.Module):
    """A rank loss on the pairs where the student and the teacher disagree most (after EKD, Huang et al.,
    CVPR 2022, which selects the pairs that make the two models' TPR / FPR differ and constrains them by
    rank rather than by value).

    f (B, N) student representations, target (B, D) centred teacher descriptors. Over the B(B-1)/2
    pairs of the batch: s, t the student's and the teacher's cosines; the critical pairs are the
    `fraction` with the largest |s - t|. Each critical pair p is compared with every pair q; wherever the
    teacher orders them (t_p > t_q), the student should too, by a smooth hinge weighted by how far apart
    the teacher puts them: sum |t_p - t_q| T softplus(-sign(t_p - t_q) (s_p - s_q) / T) / sum |t_p - t_q|.
    The hinge constrains order, not values, but on the raw cosines: the pairs are chosen by the raw
    |s - t| and the hinge's margin is T in cosine units, so a student whose cosines are compressed is
    still pushed to spread them (EKD chooses the pairs by each model's own decision threshold, which
    is free of scale). standardise=True first turns each model's B(B-1)/2 cosines into z-scores over
    the batch: the term is then invariant to any increasing affine map of the student's cosines, and T
    is in standard deviations."""

    def __init__(self, fraction: float = 0.1, temperature: float = 0.05, standardise: bool = False) -> None:
        super().__init__()
        self.fraction, self.temperature, self.standardise = float(fraction), float(temperature), bool(standardise)

    def forward(self, f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b = f.shape[0]
        if b < 3:
            return f.float().sum() * 0
        i, j = torch.triu_indices(b, b, 1, device=f.device)
        s, t = _cosines(f)[i, j], _cosines(target)[i, j]
        if self.standardise:
            s = (s - s.mean()) / s.std().clamp_min(_EPS)
            t = (t - t.mean()) / t.std().clamp_min(_EPS)
        k = max(1, int(round(self.fraction * s.numel())))
        critical = (s - t).detach().abs().topk(k).indices
        gap = t[critical, None] - t[None, :]  # (k, P) the teacher's order of each critical pair vs every pair
        weight = gap.abs()
        hinge = F.softplus(-torch.sign(gap) * (s[critical, None] - s[None, :]) / self.temperature)
        return self.temperature * (weight * hinge).sum() / weight.sum().clamp_min(_EPS)


class TeacherCentreMarginLoss(nn.Module):
    """The teacher's geometry for identities (ProxylessKD, Shi et al. 2020; MarginDistillation, Svitov and
    Alyamkin 2020): the student's projection into the teacher's space is classified by the teacher's own
    class centres, fixed, with an additive cosine margin.

    projected (B, D) = teacher_projection(f), centres (C, D) unit class centres of the teacher's centred
    targets, labels (B,) -> cross-entropy of scale * (cos(projected, c_k) - margin [k = label]). Mixed
    faces (labels_b, lam): both labels, weighted by each face's share."""

    def __init__(self, margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        self.margin, self.scale = float(margin), float(scale)

    def _ce(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.scale * (cos - self.margin * F.one_hot(labels, cos.shape[1]).to(cos.dtype))
        return F.cross_entropy(logits, labels, reduction="none")

    def forward(
        self,
        projected: torch.Tensor,
        centres: torch.Tensor,
        labels: torch.Tensor,
        labels_b: torch.Tensor | None = None,
        lam: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cos = _cosines(projected, centres)  # the centres are unit: normalising them again only rounds
        if labels_b is None:
            return self._ce(cos, labels).mean()
        return (lam * self._ce(cos, labels) + (1 - lam) * self._ce(cos, labels_b)).mean()


@dataclass
class LossWeights:
    """Weights of the five terms. fad = 0.1 is the authors' code; identity and occluded_identity = 1
    follow Eqs. 3/5; the SAD weights are ours (both normalised terms are O(1) at init; the authors'
    code adds its response term at weight 1 on each branch)."""

    identity: float = 1.0
    sad_filter: float = 1.0
    sad_response: float = 1.0
    fad: float = 0.1
    occluded_identity: float = 1.0
