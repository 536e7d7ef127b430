"""``vla``: every stage of the pipeline from the command line.

    vla setup-libero                      # place LIBERO's assets and config (make setup runs it)
    vla data record --out DIR             # record LIBERO episodes into a LeRobotDataset
    vla tokenizer fit --dataset DIR --out DIR
    vla train RECIPE.yaml [key=value ...] # one process; multi-process: accelerate launch -m vla.train ...
    vla eval --policy CHECKPOINT --suite libero_object --tasks all [--num-envs 4]
    vla eval --policy lerobot:FOLDER_OR_HUB_ID ...      # any lerobot policy
    accelerate launch --num_processes 2 -m vla.eval --policy CHECKPOINT ...   # sharded evaluation
    vla push CHECKPOINT --repo-id USER/NAME
    vla demo                              # the whole pipeline on the embedded default (make demo)

Heavy libraries are imported inside each command, so ``vla --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _task_list(text: str) -> tuple[int, ...]:
    return () if text == "all" else _int_list(text)


def cmd_setup_libero(args: argparse.Namespace) -> None:
    from vla.sim.setup import ensure_libero

    paths = ensure_libero()
    print(
        f"LIBERO ready: assets {paths.assets_dir} -> {paths.assets_dir.resolve()}, config {paths.config_file}"
    )


def cmd_build_tiny(args: argparse.Namespace) -> None:
    from vla.model.tiny import tiny_model_path

    print(tiny_model_path())


def cmd_data_record(args: argparse.Namespace) -> None:
    from vla.data.record import record_scripted_episodes

    out = record_scripted_episodes(
        args.out,
        suite=args.suite,
        task_ids=args.tasks,
        episodes_per_task=args.episodes_per_task,
        max_steps=args.max_steps,
        overwrite=args.overwrite,
        controller=args.controller,
        successful_only=args.successful_only,
    )
    print(f"dataset: {out}")


def cmd_tokenizer_fit(args: argparse.Namespace) -> None:
    from vla.data.dataset import episode_action_chunks, fit_action_tokenizer, load_chunked_dataset

    dataset = load_chunked_dataset(args.dataset, args.horizon, args.layout)
    options = json.loads(args.options) if args.options else {}
    tokenizer = fit_action_tokenizer(args.type, dataset, args.horizon, options)
    tokenizer.save_pretrained(args.out)
    chunks = episode_action_chunks(dataset, args.horizon)
    err = abs(tokenizer.decode(tokenizer.encode(chunks)).actions - chunks)
    print(
        f"{tokenizer!r}\nfitted on {len(chunks)} chunks; round-trip max abs error {err.max():.4f}, "
        f"mean {err.mean():.5f}\nsaved: {args.out}"
    )


def cmd_tokenizer_report(args: argparse.Namespace) -> None:
    from vla.data.dataset import load_chunked_dataset, shifted_chunk_pairs
    from vla.tokenizers import AutoActionTokenizer
    from vla.tokenizers.diagnostics import report
    from vla.versions import package_versions

    tokenizers = [AutoActionTokenizer.from_pretrained(path) for path in args.tokenizer]
    horizons = {t.horizon for t in tokenizers}
    if len(horizons) != 1:
        raise SystemExit(
            f"error: the tokenizers have different horizons {sorted(horizons)}; compare like with like"
        )
    horizon = horizons.pop()
    dataset = load_chunked_dataset(args.dataset, horizon, args.layout)
    chunks, shifted = shifted_chunk_pairs(dataset, horizon)
    reports = [
        {"path": str(path), **report(t, chunks, shifted)}
        for path, t in zip(args.tokenizer, tokenizers, strict=True)
    ]
    print(format_tokenizer_table(reports))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"dataset": args.dataset, "versions": package_versions(), "reports": reports}, indent=1)
    )
    print(f"report: {out}")


def format_tokenizer_table(reports: list[dict]) -> str:
    header = (
        f"{'tokenizer':<12} {'tokens/chunk':>13} {'MSE':>9} {'max err':>8} {'vocab used':>12} "
        f"{'perplexity':>10} {'overlap':>8} {'pos. MI':>8} {'bigram gain':>11}"
    )
    lines = [header]
    for r in reports:
        tpc, rec, voc = r["tokens_per_chunk"], r["reconstruction"], r["vocabulary"]
        lines.append(
            f"{r['tokenizer']:<12} {tpc['mean']:>6.1f} / {tpc['max']:<4.0f} {rec['mse']:>9.2e} {max(rec['max_abs_per_dim']):>8.3f} "
            f"{voc['used']:>5.0f} / {voc['vocab_size']:<5.0f} {voc['perplexity']:>10.1f} {r['temporal_overlap']:>8.3f} "
            f"{r['position_mutual_information_bits']:>8.3f} {r['bigram']['gain_bits']:>11.3f}"
        )
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> None:
    from vla.train.__main__ import main as train_main

    train_main([args.recipe, *args.overrides])


def cmd_eval(args: argparse.Namespace) -> None:
    from vla.eval.libero import EvalConfig, evaluate, format_table

    config = EvalConfig(
        policy=args.policy,
        suite=args.suite,
        task_ids=args.tasks,
        episodes_per_task=args.episodes_per_task,
        max_steps=args.max_steps,
        actions_per_chunk=args.actions_per_chunk,
        video=args.video,
        videos_per_task=args.videos_per_task,
        output_dir=args.out,
        seed=args.seed,
        num_envs=args.num_envs,
        image_size=args.image_size,
    )
    results = evaluate(config)
    if results:  # only the main process of a sharded run holds the merged results
        print(format_table(results))
        print(f"results: {Path(args.out) / 'results.json'} (chart: results.png, episodes: episodes/)")


def cmd_push(args: argparse.Namespace) -> None:
    from vla.hub import push_folder_to_hub

    folder = Path(args.checkpoint)
    if (folder / "vla_policy.json").is_file():
        from vla.hub.card import stage_checkpoint

        staging = Path(args.staging_dir or f"outputs/push/{args.repo_id.replace('/', '--')}")
        folder = stage_checkpoint(folder, staging, Path(args.results) if args.results else None)
        print(f"staged: {folder}")
    elif not (folder / "action_tokenizer.json").is_file():
        raise SystemExit(f"error: {folder} is neither a policy checkpoint nor an action tokenizer folder")
    print(f"pushed: {push_folder_to_hub(folder, args.repo_id, private=args.private)}")


def cmd_demo(args: argparse.Namespace) -> None:
    from vla.demo import run_demo

    run_demo(Path(args.out), processes=args.processes, tokenizer=args.tokenizer)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vla", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("setup-libero", help="place LIBERO's assets and config (idempotent)")
    p.set_defaults(func=cmd_setup_libero)

    p = sub.add_parser("model", help="base models")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    q = msub.add_parser("build-tiny", help="build (once) the tiny offline SmolVLM and print its folder")
    q.set_defaults(func=cmd_build_tiny)

    p = sub.add_parser("data", help="datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = dsub.add_parser("record", help="record scripted-expert LIBERO episodes into a LeRobotDataset")
    q.add_argument("--out", required=True, help="dataset folder to create")
    q.add_argument("--suite", default="libero_object")
    q.add_argument("--tasks", type=_int_list, default=(0,), help="comma-separated task ids (default: 0)")
    q.add_argument("--episodes-per-task", type=int, default=2)
    q.add_argument(
        "--max-steps", type=int, default=None, help="frames per episode at most (default: suite limit)"
    )
    q.add_argument("--controller", choices=("expert", "reach"), default="expert")
    q.add_argument("--successful-only", action="store_true", help="drop episodes that did not succeed")
    q.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    q.set_defaults(func=cmd_data_record)

    p = sub.add_parser("tokenizer", help="action tokenizers")
    tsub = p.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    q = tsub.add_parser("fit", help="fit an action tokenizer on a LeRobotDataset's action chunks")
    q.add_argument("--dataset", required=True, help="LeRobotDataset folder or Hub repo id")
    q.add_argument("--type", default="binning")
    q.add_argument("--horizon", type=int, default=8)
    q.add_argument("--layout", default="libero", help="dataset feature layout: libero or lerobot")
    q.add_argument("--options", default="", help="tokenizer config fields as JSON, e.g. '{\"n_bins\": 128}'")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_tokenizer_fit)
    q = tsub.add_parser("report", help="measure the ActionCodec principles for tokenizers on a dataset")
    q.add_argument(
        "--tokenizer", action="append", required=True, help="tokenizer folder or Hub id (repeatable)"
    )
    q.add_argument("--dataset", required=True, help="LeRobotDataset folder or Hub repo id")
    q.add_argument("--layout", default="libero", help="dataset feature layout: libero or lerobot")
    q.add_argument("--out", default="outputs/tokenizer_report.json")
    q.set_defaults(func=cmd_tokenizer_report)

    p = sub.add_parser(
        "train", help="train in this process (see `python -m vla.train --help` for accelerate)"
    )
    p.add_argument("recipe", help="recipe YAML, e.g. recipes/tiny_cpu.yaml")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="roll a policy out in LIBERO and report success rates")
    p.add_argument(
        "--policy",
        required=True,
        help="checkpoint folder or Hub repo id, lerobot:<folder or Hub id>, 'expert', 'scripted' or 'random'",
    )
    p.add_argument("--suite", default="libero_object")
    p.add_argument("--tasks", type=_task_list, default=(0,), help="comma-separated task ids, or 'all'")
    p.add_argument("--episodes-per-task", type=int, default=50)
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap per episode (default: the suite's standard)"
    )
    p.add_argument("--actions-per-chunk", type=int, default=None)
    p.add_argument("--video", choices=("none", "failures", "first", "all"), default="failures")
    p.add_argument("--videos-per-task", type=int, default=1, help="with --video first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--num-envs",
        type=int,
        default=None,
        help="simulator worker processes, batched into one policy call (default: one per CPU core, at most 8)",
    )
    p.add_argument(
        "--image-size", type=int, default=None, help="rendered image side (default: what the policy reads)"
    )
    p.add_argument("--out", default="outputs/eval")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("push", help="upload a checkpoint or tokenizer folder to the Hugging Face Hub")
    p.add_argument("checkpoint")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--private", action="store_true")
    p.add_argument("--results", help="a results.json from `vla eval` to put in the model card")
    p.add_argument("--staging-dir", help="where the upload is staged (default outputs/push/OWNER--NAME)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser(
        "demo", help="record -> tokenizer -> train (2 processes) -> eval, on the embedded default"
    )
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--tokenizer", default="binning")
    p.set_defaults(func=cmd_demo)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input or a missing resource: shown as one line, not a traceback."""
    from vla.config import ConfigError
    from vla.data.dataset import DatasetError
    from vla.data.normalize import StatisticsError
    from vla.hub import HubUnavailableError
    from vla.sim.setup import LiberoSetupError
    from vla.tokenizers.base import InvalidTokensError, TokenizerFitError

    return (
        ConfigError,
        DatasetError,
        StatisticsError,
        HubUnavailableError,
        LiberoSetupError,
        TokenizerFitError,
        InvalidTokensError,
        FileExistsError,
        FileNotFoundError,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    errors = _user_errors()
    try:
        args.func(args)
    except errors as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
