"""Options shared by several commands."""

from __future__ import annotations

MODEL_HELP = (
    "a model URI: a checkpoint folder (or interpface:DIR), dlib-resnet (the PyTorch port of dlib's "
    "ResNet), iresnet<18|34|50|100>:FILE (an ArcFace IResNet state dict: .safetensors, or .pth read with "
    "torch.load(weights_only=True)), onnx:FILE (an ONNX graph; FILE.json beside it says its preprocessing) "
    "or spec:FILE (a JSON spec naming your module)"
)
BLACK_BOX_ANALYSIS = "; a model without part filters is analysed through the channels of its default response layer"


def add_model_options(p, *, precision: bool = False) -> None:
    """--checkpoint MODEL and its older spelling --model-spec FILE (and --precision for embedding commands)."""
    p.add_argument("--checkpoint", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--model-spec", metavar="FILE", help="the same as --checkpoint spec:FILE")
    if precision:
        add_precision_option(p)


def add_precision_option(p) -> None:
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=None,
        help="embedding precision: auto (the model's default), fp32 or bf16",
    )


def apply_model_spec(args) -> None:
    """`--model-spec FILE` -> args.checkpoint = "spec:FILE" (one of the two, not both); kept for the
    option's users: ``--checkpoint spec:FILE`` is the same."""
    from interpface.errors import ConfigError

    spec = getattr(args, "model_spec", None)
    if spec:
        if getattr(args, "checkpoint", None):
            raise ConfigError("give --checkpoint or --model-spec, not both")
        args.checkpoint = f"spec:{spec}"
