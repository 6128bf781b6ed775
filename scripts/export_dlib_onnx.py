#!/usr/bin/env python
"""Export the dlib ResNet port as an ONNX file with its sidecar: a black box as users bring one.

    .venv/bin/python scripts/export_dlib_onnx.py out/onnx/dlib_port_onnx.onnx

The graph takes (N, 3, 150, 150) RGB in 0..255 (the sidecar: mean 0, std 1/255) and is cut with the
ArcFace 5-point alignment scaled to 150 px (the sidecar's "arcface"), not dlib's own chip: the
interpface registry loads it as `onnx:FILE` with no knowledge of what is inside.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from interpface.models.dlib_port import load_dlib_port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the .onnx file to write (its sidecar NAME.json beside it)")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = load_dlib_port().eval()
    torch.onnx.export(
        net,
        torch.rand(1, 3, 150, 150) * 255,
        str(out),
        dynamo=False,
        input_names=["x"],
        output_names=["embedding"],
        dynamic_axes={"x": {0: "n"}},
    )
    sidecar = {"input_size": 150, "alignment": "arcface", "mean": [0.0] * 3, "std": [1 / 255] * 3}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB) + {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
