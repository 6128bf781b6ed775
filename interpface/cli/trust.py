"""`interpface sanity` (randomisation sanity checks of the pair maps) and `interpface trust` (a trust
card per method from a faithfulness run and a sanity run), plus the field-protocol table that
`interpface faithfulness` prints beside its own."""

from __future__ import annotations

import json
import time
from pathlib import Path

from interpface.cli.options import MODEL_HELP, add_dataset_option, add_pairs_options, pairs_args
from interpface.errors import ConfigError


def clean_threshold(model, args, n: int) -> tuple[float | None, str]:
    """The model's EER threshold on n genuine + n impostor untouched pairs of the run's dataset
    (a larger set than the explained pairs, for a stable threshold); (None, "") when n is 0."""
    if not n:
        return None, ""
    from interpface.analysis.accuracy_curves import clean_eer_threshold
    from interpface.analysis.pair_benchmark import load_devtest_pairs, load_pairs

    dataset, pairs_file = getattr(args, "dataset", "lfw"), pairs_args(args, n)[0]
    if dataset == "lfw" and pairs_file is None:  # as many DevTest pairs as there are, up to n
        pairs = load_devtest_pairs(
            n, seed=args.seed + 1, data_root=args.data_root, cache_dir=args.cache_dir, up_to=True
        )
    else:
        pairs = load_pairs(
            n,
            dataset=dataset,
            pairs_file=pairs_file,
            seed=args.seed + 1,
            data_root=args.data_root,
            cache_dir=args.cache_dir,
        )
    return clean_eer_threshold(model, pairs), f"EER on {len(pairs.same)} untouched pairs"


def print_field_protocol(result: dict) -> None:
    """The FAME accuracy AUCs and the Patch-LFW-style swap rates of a faithfulness result."""
    print(
        f"  the field's protocol: accuracy at the clean EER threshold ({result['threshold']:.3f}, "
        f"{result.get('threshold_source', '')}), P = 0..100 % of B's pixels, black; "
        f"patch swap: {int(100 * result['patch_fraction'])} % of {result['patch_grid']}x{result['patch_grid']} patches"
    )
    print(
        f"  {'method':<22}{'acc. deletion ↓':>18}{'acc. insertion ↑':>18}"
        f"{'FNMR best/rand/worst':>24}{'FMR best/rand/worst':>24}"
    )

    def rates(row, kind):
        vals = [row.get(f"{kind}_{o}") for o in ("best", "random", "worst")]
        return " / ".join("–" if v is None else f"{v:.2f}" for v in vals)

    for row in result["rows"]:
        print(
            f"  {row['method']:<22}"
            f"{row['fame_deletion_auc']:>11.3f} ± {row['fame_deletion_auc_std']:.3f}"
            f"{row['fame_insertion_auc']:>11.3f} ± {row['fame_insertion_auc_std']:.3f}"
            f"{rates(row, 'fnmr'):>24}{rates(row, 'fmr'):>24}"
        )


def cmd_sanity(args) -> int:
    from interpface.analysis.pair_benchmark import load_pairs, model_input_pairs
    from interpface.analysis.pair_maps import methods_for
    from interpface.analysis.sanity import sanity_checks
    from interpface.files import write_json
    from interpface.models.registry import model_display_name, resolve_model

    if args.threads:
        import torch

        torch.set_num_threads(int(args.threads))
    model = resolve_model(args.checkpoint, cache_dir=args.cache_dir)
    applicable = methods_for(model, verification=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(methods_for(model))
    bad = [m for m in methods if m not in applicable]
    if bad:
        raise ConfigError(f"method(s) {', '.join(bad)} do not apply to {model.name}; it takes: {', '.join(applicable)}")
    pairs_file, n = pairs_args(args, 2)
    pairs = load_pairs(
        n,
        dataset=args.dataset,
        pairs_file=pairs_file,
        seed=args.seed,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
    )
    inputs = model_input_pairs(model, pairs)
    name = args.name or model_display_name(args.checkpoint)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=2 * args.stages, desc=f"sanity {name}", unit="model")
    t0 = time.perf_counter()
    result = sanity_checks(
        model,
        inputs.crops_a,
        inputs.crops_b,
        methods,
        stages=args.stages,
        seed=args.seed,
        progress=bar.update if bar else None,
        n_masks=args.rise_masks,
    )
    if bar:
        bar.close()
    result.update(
        model=name, checkpoint=str(args.checkpoint), keys=list(pairs.keys), seconds=round(time.perf_counter() - t0, 1)
    )
    print(
        f"{name}: {len(pairs.same)} pairs, {result['layers']} parameterised layers; similarity of each map to the "
        f"trained model's (mean over pairs) as layers are randomised; passes when |map| Spearman and SSIM "
        f"with every layer randomised are both < {result['threshold']}"
    )
    print(f"  {'method':<22}" + "".join(f"{s:>16}" for s in result["stages"]) + f"{'verdict':>10}")
    for m, r in result["methods"].items():
        cells = [f"{c['spearman_abs']:.2f} / {c['ssim']:.2f}" for c in r["cascading"]]
        print(f"  {m:<22}" + "".join(f"{c:>16}" for c in cells) + f"{'pass' if r['passes'] else 'FAIL':>10}")
    print("  independent (one group of layers at a time, |map| Spearman / SSIM):")
    print(f"  {'method':<22}" + "".join(f"{s:>16}" for s in result["groups"]))
    for m, r in result["methods"].items():
        print(f"  {m:<22}" + "".join(f"{c['spearman_abs']:.2f} / {c['ssim']:.2f}".rjust(16) for c in r["independent"]))
    print(f"  {result['seconds']:.0f} s; cells: Spearman of |maps| / SSIM (1 = unchanged)")
    write_json(args.json, result)
    return 0


def _read(path: str | None, what: str) -> dict | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} file {p} is not JSON: {e.msg} (line {e.lineno})") from None


def cmd_trust(args) -> int:
    from interpface.analysis.trust import trust_cards
    from interpface.files import write_json

    faith = _read(args.faithfulness, "faithfulness")
    if "per_pair" not in faith:
        raise ConfigError(
            f"{args.faithfulness} has no per-pair results: rerun `interpface faithfulness` with this version"
        )
    sanity = _read(args.sanity, "sanity")
    if sanity is not None and faith.get("model") and sanity.get("model") != faith.get("model"):
        raise ConfigError(f"the faithfulness run is of {faith.get('model')}, the sanity run of {sanity.get('model')}")
    cards = trust_cards(faith, sanity)
    print(
        f"{faith.get('model')}: trust cards ({len(faith['same'])} pairs; gains over the random map in the "
        "faithful direction, cosine AUCs per pair with 95 % intervals; accuracy AUCs at the clean EER threshold)"
    )

    def gain(c, key):
        g = c.get(key)
        return f"{g['gain']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]" if g else "–"

    print(
        f"  {'method':<22}{'cosine deletion':>26}{'cosine insertion':>26}{'acc. del.':>10}{'acc. ins.':>10}"
        f"{'sanity':>8}{'ms/map':>8}  verdict"
    )
    for m, c in cards.items():
        acc = [c.get(k, {}).get("gain") for k in ("accuracy_deletion", "accuracy_insertion")]
        acc_cells = "".join(f"{'–' if a is None else f'{a:+.3f}':>10}" for a in acc)
        print(
            f"  {m:<22}{gain(c, 'cosine_deletion'):>26}{gain(c, 'cosine_insertion'):>26}{acc_cells}"
            f"{c['sanity']:>8}{1000 * c['seconds_per_map']:>8.0f}  {c['verdict']}"
        )
    out = {"model": faith.get("model"), "checkpoint": faith.get("checkpoint"), "cards": cards}
    write_json(args.json, out)
    if args.precompute:
        from interpface.analysis.trust import save_trust_cards

        path = save_trust_cards(args.precompute, out, args.precompute_dir)
        print(f"  cards -> {path}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "sanity",
        help="randomisation sanity checks of the pair maps (Adebayo et al.): cascading and independent "
        "layer randomisation, similarity of each map to the trained model's",
    )
    p.add_argument("--checkpoint", required=True, metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--name", help="model name (default: the checkpoint's)")
    p.add_argument("--methods", help="comma-separated (default: the default methods that apply)")
    add_dataset_option(p)
    add_pairs_options(p, "genuine and as many impostor pairs whose maps are compared (default 2)")
    p.add_argument("--stages", type=int, default=4, help="cascading stages and independent groups (default 4)")
    p.add_argument("--rise-masks", type=int, default=256, help="random masks per RISE map (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.set_defaults(func=cmd_sanity)

    p = sub.add_parser("trust", help="a trust card per pair-map method from a faithfulness run and a sanity run")
    p.add_argument("--faithfulness", required=True, metavar="JSON", help="`interpface faithfulness --json` output")
    p.add_argument("--sanity", metavar="JSON", help="`interpface sanity --json` output of the same model")
    p.add_argument("--json", metavar="OUT", help="write the cards as JSON")
    p.add_argument(
        "--precompute",
        metavar="NAME",
        help="also write NAME.trust.json for the dashboard (default folder assets/analyses/trust; a served "
        "models folder shows it beside the model of that name)",
    )
    p.add_argument("--precompute-dir", help="where --precompute writes (default: assets/analyses/trust)")
    p.set_defaults(func=cmd_trust)
