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


RAY_HELP = (
    "run on Ray (Ray Data over image batches, one detector / model per worker; needs interpface[ray]): "
    "auto (the cluster this machine belongs to, else a local Ray on its cores), local, or a cluster "
    "address HOST:6379 / ray://HOST:10001. The rows and numbers are the local run's"
)


def add_ray_option(p, *, workers: bool = False) -> None:
    """--ray auto|ADDRESS (and --ray-workers N where the command has no --workers)."""
    p.add_argument("--ray", metavar="auto|ADDRESS", help=RAY_HELP)
    if workers:
        p.add_argument(
            "--ray-workers",
            type=int,
            metavar="N",
            help="with --ray: actors, one model each (default: every CPU of the cluster)",
        )


DATASET_HELP = (
    "lfw (LFW: its View-1 DevTest) or folder:PATH (a folder per identity, or a flat folder of images), "
    "prepared first with `interpface data prepare --dataset ...` (default lfw)"
)
PAIRS_FILE_HELP = (
    "pairs file: pathA<TAB>pathB<TAB>0|1 per line, paths relative to the dataset's folder (default: LFW's "
    "DevTest pairs; for a folder, pairs drawn from its identities); an integer N is read as --n-pairs N"
)


def add_dataset_option(p) -> None:
    """--dataset lfw|folder:PATH."""
    p.add_argument("--dataset", default="lfw", metavar="lfw|folder:PATH", help=DATASET_HELP)


def add_pairs_options(p, count_help: str) -> None:
    """--pairs FILE and --n-pairs N (--pairs N, the older spelling of the count, still works)."""
    p.add_argument("--pairs", metavar="FILE", help=PAIRS_FILE_HELP)
    p.add_argument("--n-pairs", type=int, metavar="N", default=None, help=count_help)


def pairs_args(args, default: int) -> tuple[str | None, int]:
    """(pairs file or None, count) from --pairs / --n-pairs: --pairs with digits only is the count (a
    file named by digits: write ./20)."""
    from interpface.errors import ConfigError

    value = getattr(args, "pairs", None)
    n = getattr(args, "n_pairs", None)
    if value is not None and value.strip().isdigit():
        if n is not None:
            raise ConfigError("give the count once: --n-pairs N (--pairs N is its older spelling)")
        return None, int(value)
    return value, default if n is None else n
