"""The Siamese objective: one module that runs the shared network on the clean and the occluded
batch and returns every weighted loss term. Everything that touches parameters happens inside its
forward, so DistributedDataParallel sees one forward and one backward per step."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from interpface.errors import ConfigError
from interpface.models.lmf import gaussian_smooth
from interpface.models.losses import (
    DistillCosineLoss,
    DistillRankLoss,
    DistillRelationLoss,
    FADLoss,
    IdentityLoss,
    OccludedIdentityLoss,
    SADFilterLoss,
    SADResponseLoss,
    SADTapLoss,
    TeacherCentreMarginLoss,
    feature_selection_mask,
)
from interpface.models.networks import InterpretableFaceNet

from .config import TrainConfig


class SiameseObjective(nn.Module):
    """forward(clean (b,3,S,S), occluded (b,3,S,S) or None, labels (b,), teacher (b,D) or None, and for
    mixed faces labels_b (b,) and mix_lam (b,), the share of labels) -> dict
    of scalar terms (already weighted), plus 'loss' (their sum) and 'accuracy' (clean branch, no
    gradient). The distillation terms average the clean and (with distill_occluded) the occluded
    branch, the latter weighted by w_distill_occluded, both toward the clean face's teacher target."""

    def __init__(self, net: InterpretableFaceNet, cfg: TrainConfig):
        super().__init__()
        self.net, self.cfg = net, cfg
        self.identity = IdentityLoss()
        self.sad_filter = SADTapLoss() if cfg.sad_filter_form == "taps" else SADFilterLoss()
        self.sad_response = SADResponseLoss()
        self.fad = FADLoss(cfg.fad_mode, cfg.fad_t)
        self.occluded_identity = OccludedIdentityLoss()
        self.distill_cosine = DistillCosineLoss()
        self.distill_relation = DistillRelationLoss()
        self.distill_rank = DistillRankLoss(
            cfg.distill_rank_fraction, cfg.distill_rank_temperature, standardise=cfg.distill_rank_standardise
        )
        self.distill_margin = TeacherCentreMarginLoss(cfg.distill_margin, cfg.distill_margin_scale)
        # (C, D) the teacher's unit class centres (w_distill_margin): set_class_centres, before training
        self.register_buffer("class_centres", None, persistent=False)

    def set_class_centres(self, centres: torch.Tensor) -> None:
        """(C, D) unit class centres of the teacher's targets (training.data.teacher_class_centres)."""
        projection = self.net.teacher_projection
        if projection is None or centres.ndim != 2 or centres.shape[1] != projection.out_features:
            want = "no projection (teacher_dim 0)" if projection is None else f"D = {projection.out_features}"
            raise ConfigError(f"class centres of shape {tuple(centres.shape)} do not fit the network: {want}")
        self.class_centres = torch.as_tensor(centres, dtype=torch.float32, device=self.net.psi_weight.device)

    def _tau(self, f_clean: torch.Tensor, f_occ: torch.Tensor) -> torch.Tensor:
        """tau from the batch mean |f - f^| over ALL pairs sharing the physical mask: under DDP the
        per-rank means are averaged first (same mask on every rank), so tau is identical everywhere."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            with torch.no_grad():
                d = (f_clean.float() - f_occ.float()).abs().mean(dim=0)
                dist.all_reduce(d)
                d /= dist.get_world_size()
            # feature_selection_mask on a (1, N) "batch" whose mean difference is d.
            return feature_selection_mask(d[None], torch.zeros_like(d)[None], self.cfg.fad_mode, self.cfg.fad_t)
        return feature_selection_mask(f_clean, f_occ, self.cfg.fad_mode, self.cfg.fad_t)

    def forward(
        self,
        clean: torch.Tensor,
        occluded: torch.Tensor | None,
        labels: torch.Tensor,
        teacher: torch.Tensor | None = None,
        labels_b: torch.Tensor | None = None,
        mix_lam: torch.Tensor | None = None,
    ) -> dict:
        cfg = self.cfg
        b = clean.shape[0]
        x = clean if occluded is None else torch.cat([clean, occluded])
        inter = self.net.forward_intermediates(x)
        f_clean = inter.f[:b].float()
        logits_clean = self.net.logits(inter.f[:b]).float()
        if labels_b is None:
            terms = {"identity": cfg.w_identity * self.identity(logits_clean, labels)}
        else:  # mixed faces (mixup / cutmix): both labels, weighted by each face's share
            ce_a = F.cross_entropy(logits_clean, labels, reduction="none")
            ce_b = F.cross_entropy(logits_clean, labels_b, reduction="none")
            terms = {"identity": cfg.w_identity * (mix_lam * ce_a + (1 - mix_lam) * ce_b).mean()}
        if cfg.w_sad_filter > 0:
            terms["sad_filter"] = cfg.w_sad_filter * self.sad_filter(self.net.psi_weight.float())
        if cfg.w_sad_response > 0:
            rows = slice(None) if cfg.sad_on_occluded else slice(0, b)
            if cfg.sad_smooth_kernel is None:
                maps = inter.psi_smooth[rows]
            else:  # the loss's own, wider g_sigma on LMF(psi) (TrainConfig.sad_smooth_kernel)
                maps = gaussian_smooth(inter.psi_lmf[rows], cfg.sad_smooth_kernel, cfg.sad_smooth_sigma)
            terms["sad_response"] = cfg.w_sad_response * self.sad_response(maps.float())
        if occluded is not None:
            f_occ = inter.f[b:].float()
            if cfg.occluded_identity_plain:
                terms["occluded_identity"] = cfg.w_occluded_identity * self.identity(
                    self.net.logits(inter.f[b:]).float(), labels
                )
            elif cfg.uses_fad:
                # Normalised, the FAD term sees the direction verification compares, not the scale.
                fc, fo = (
                    (F.normalize(f_clean, dim=1), F.normalize(f_occ, dim=1)) if cfg.fad_normalize else (f_clean, f_occ)
                )
                tau = self._tau(fc, fo)
                if cfg.w_fad > 0:
                    terms["fad"] = cfg.w_fad * self.fad(fc, fo, tau)
                if cfg.w_occluded_identity > 0:
                    terms["occluded_identity"] = cfg.w_occluded_identity * self.occluded_identity(
                        f_occ, tau, labels, self.net.classifier
                    )
        if cfg.uses_distillation:
            if teacher is None:
                raise ValueError("distillation weights are set but the batch has no teacher targets")
            # (f, weight): the clean branch counts 1, the occluded w_distill_occluded; divided by the
            # number of branches, so that w_distill_occluded = 1 is the plain average of the two
            branches = [(inter.f[:b], 1.0)]
            if occluded is not None and cfg.distill_occluded:
                branches.append((inter.f[b:], cfg.w_distill_occluded))
            if cfg.w_distill_cosine > 0:
                terms["distill_cosine"] = (
                    cfg.w_distill_cosine
                    * sum(w * self.distill_cosine(self.net.teacher_projection(f), teacher) for f, w in branches)
                    / len(branches)
                )
            if cfg.w_distill_relation > 0:
                terms["distill_relation"] = (
                    cfg.w_distill_relation
                    * sum(w * self.distill_relation(f, teacher) for f, w in branches)
                    / len(branches)
                )
            if cfg.w_distill_rank > 0:
                terms["distill_rank"] = (
                    cfg.w_distill_rank * sum(w * self.distill_rank(f, teacher) for f, w in branches) / len(branches)
                )
            if cfg.w_distill_margin > 0:
                if self.class_centres is None:
                    raise ValueError("w_distill_margin needs the teacher's class centres (set_class_centres)")
                terms["distill_margin"] = (
                    cfg.w_distill_margin
                    * sum(
                        w
                        * self.distill_margin(
                            self.net.teacher_projection(f), self.class_centres, labels, labels_b, mix_lam
                        )
                        for f, w in branches
                    )
                    / len(branches)
                )
        terms["loss"] = sum(terms.values())
        with torch.no_grad():
            # mixed faces: against the label of the larger share
            shown = labels if labels_b is None else torch.where(mix_lam >= 0.5, labels, labels_b)
            terms["accuracy"] = (logits_clean.argmax(dim=1) == shown).float().mean()
        return terms
