"""Batched mapping of aligned-crop points into the canonical frontal template.

The same computation as :meth:`interpface.faces.template.FaceMesh.to_template` (barycentric coordinates in
the face's own landmark + border mesh, re-placed in the template mesh), vectorised over a batch of
faces: ``FaceMesh.to_template`` estimates one similarity per image with scikit-image and tests every
point against every triangle in float64, which costs milliseconds per image; here the similarities are
solved in closed form for the whole batch and the containing triangles are found in float32 torch,
then the chosen triangle's coordinates are recomputed in float64.

Shapes: B faces, P points, T = 142 triangles, V = 76 mesh vertices (68 landmarks + 8 border points).
"""

from __future__ import annotations

import numpy as np
import torch

from interpface.faces.template import FaceMesh

__all__ = ["similarity_batch", "face_vertices_batch", "to_template_batch"]


def similarity_batch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src onto
    each dst, in closed form (2-D Umeyama: z' = a z + t with complex a).

    src: (68, 2) or (B, 68, 2); dst: (B, 68, 2). Returns (B, 2, 3) matrices, like
    :func:`interpface.faces.align.estimate_similarity` per face.
    """
    dst = np.asarray(dst, dtype=np.float64)
    src = np.broadcast_to(np.asarray(src, dtype=np.float64), dst.shape)
    zs = src[..., 0] + 1j * src[..., 1]  # (B, n)
    zd = dst[..., 0] + 1j * dst[..., 1]
    ms, md = zs.mean(axis=-1, keepdims=True), zd.mean(axis=-1, keepdims=True)
    cs, cd = zs - ms, zd - md
    a = (np.conj(cs) * cd).sum(axis=-1) / np.maximum((np.abs(cs) ** 2).sum(axis=-1), 1e-300)  # (B,)
    t = md[:, 0] - a * ms[:, 0]
    out = np.empty(dst.shape[:-2] + (2, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = a.real, -a.imag, t.real
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = a.imag, a.real, t.imag
    return out


def face_vertices_batch(mesh: FaceMesh, landmarks: np.ndarray) -> np.ndarray:
    """The 76 mesh vertices of each face: landmarks (B, 68, 2) -> (B, 76, 2); equals
    ``mesh.face_vertices`` (border = template border moved by the face's similarity fit)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    m = similarity_batch(mesh.template_landmarks, landmarks)  # (B, 2, 3)
    border = np.einsum("bij,nj->bni", m[:, :, :2], mesh.border) + m[:, None, :, 2]
    return np.concatenate([landmarks, border], axis=1)


def to_template_batch(mesh: FaceMesh, points: np.ndarray, landmarks: np.ndarray, *, chunk: int = 16) -> np.ndarray:
    """Points in each face -> template frame, through each face's own mesh.

    points: (P, 2) shared by all faces, or (B, P, 2); landmarks: (B, 68, 2), same pixels as the points.
    Returns (B, P, 2) float64. The containing triangle is the one whose smallest barycentric coordinate
    is largest (all >= 0 inside; for points outside the mesh or in folded triangles, the nearest), the
    rule of ``FaceMesh.to_template``.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    b = landmarks.shape[0]
    points = np.asarray(points, dtype=np.float64)
    shared = points.ndim == 2
    verts = face_vertices_batch(mesh, landmarks)  # (B, V, 2)
    tri = torch.from_numpy(mesh.triangles.astype(np.int64))  # (T, 3)
    out = np.empty((b, points.shape[-2], 2))
    tmpl = mesh.vertices[mesh.triangles]  # (T, 3, 2)
    for s in range(0, b, chunk):
        e = min(b, s + chunk)
        v = torch.from_numpy(verts[s:e]).float()[:, tri]  # (b, T, 3, 2)
        a, v0, v1 = v[:, :, 0], v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]  # (b, T, 2)
        den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]  # (b, T)
        den = torch.where(den.abs() < 1e-12, torch.full_like(den, 1e-12), den)
        p = torch.from_numpy(points if shared else points[s:e]).float()
        p = p.expand(e - s, -1, -1) if shared else p  # (b, P, 2)
        dx = p[:, :, None, 0] - a[:, None, :, 0]  # (b, P, T)
        dy = p[:, :, None, 1] - a[:, None, :, 1]
        l1 = (dx * v1[:, None, :, 1] - v1[:, None, :, 0] * dy) / den[:, None]
        l2 = (v0[:, None, :, 0] * dy - dx * v0[:, None, :, 1]) / den[:, None]
        lmin = torch.minimum(torch.minimum(l1, l2), 1 - l1 - l2)
        best = lmin.argmax(dim=-1).numpy()  # (b, P)
        # float64 barycentric coordinates in the chosen triangle
        pts = points if shared else points[s:e]
        pts = np.broadcast_to(pts, (e - s,) + pts.shape[-2:])
        vb = verts[s:e][np.arange(e - s)[:, None, None], mesh.triangles[best]]  # (b, P, 3, 2)
        a64, w0, w1 = vb[..., 0, :], vb[..., 1, :] - vb[..., 0, :], vb[..., 2, :] - vb[..., 0, :]
        d = pts - a64
        den64 = w0[..., 0] * w1[..., 1] - w1[..., 0] * w0[..., 1]
        den64 = np.where(np.abs(den64) < 1e-12, 1e-12, den64)
        m1 = (d[..., 0] * w1[..., 1] - w1[..., 0] * d[..., 1]) / den64
        m2 = (w0[..., 0] * d[..., 1] - d[..., 0] * w0[..., 1]) / den64
        bary = np.stack([1 - m1 - m2, m1, m2], axis=-1)  # (b, P, 3)
        out[s:e] = np.einsum("bpk,bpkd->bpd", bary, tmpl[best])
    return out
