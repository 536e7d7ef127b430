"""``vla``: every stage of the pipeline from the command line.

    vla setup-libero                      # place LIBERO's assets and config (make setup runs it)
    vla data generate --suite libero_object --episodes-per-task 50 --workers 2 --out DIR   # resumable
    vla tokenizer fit --dataset DIR --out DIR
    vla tokenizer import ZibinDong/ActionCodec-Base-RVQft --out DIR   # the authors' ActionCodec, LIBERO's
    vla train RECIPE.yaml [key=value ...] # one process; multi-process: accelerate launch -m vla.train ...
    vla eval --policy CHECKPOINT --suite libero_object --tasks all [--num-envs 4]
    vla eval --policy lerobot:FOLDER_OR_HUB_ID ...      # any lerobot policy
    vla eval --policy CHECKPOINT --protocol openpi ...   # openpi's step limits, replan every 5 actions
    accelerate launch --num_processes 2 -m vla.eval --policy CHECKPOINT ...   # sharded evaluation
    vla push CHECKPOINT --repo-id USER/NAME
    vla demo                              # the whole pipeline on the embedded default (make demo)
    vla experiment recipes/experiments/libero_object_task0_fast.yaml   # proof of learning (make reproduce)
    vla experiment RECIPE --seeds 0,1,2   # the same, once per training seed, and their spread

Heavy libraries are imported inside each command, so ``vla --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _task_list(text: str) -> tuple[int, ...]:
    return () if text == "all" else _int_list(text)


def cmd_setup_libero(args: argparse.Namespace) -> None:
    from vla.envs.libero.setup import ensure_libero

    paths = ensure_libero()
    print(
        f"LIBERO ready: assets {paths.assets_dir} -> {paths.assets_dir.resolve()}, config {paths.config_file}"
    )


def cmd_build_tiny(args: argparse.Namespace) -> None:
    from vla.model.backbones.smolvlm import tiny_model_path

    print(tiny_model_path())


def cmd_data_generate(args: argparse.Namespace) -> None:
    from vla.data.record import GENERATION_FILE, format_generation_report, generate_episodes

    out = generate_episodes(
        args.out,
        suites=tuple(_comma_list(args.suite)),
        task_ids=args.tasks or None,
        episodes_per_task=args.episodes_per_task,
        max_steps=args.max_steps,
        workers=args.workers,
        controller=args.controller,
        successful_only=args.successful_only,
        overwrite=args.overwrite,
        init_states=args.init_states,
        image_size=args.image_size,
        action_noise=args.action_noise,
        images=not args.no_images,
    )
    print(format_generation_report(json.loads((out / "meta" / GENERATION_FILE).read_text())))
    print(f"dataset: {out}")


def cmd_data_stats(args: argparse.Namespace) -> None:
    from vla.data.dataset import (
        compare_with_shipped_stats,
        compute_norm_stats,
        format_stats_report,
        load_chunked_dataset,
    )

    dataset = load_chunked_dataset(args.dataset, 1, args.layout, images=False)
    stats = compute_norm_stats(dataset)
    if args.out:
        stats.save_pretrained(args.out)
        print(f"statistics: {Path(args.out) / 'norm_stats.json'}")
    print(format_stats_report(stats, compare_with_shipped_stats(stats, dataset)))


def parse_options(text: str, flag: str = "--options") -> dict[str, Any]:
    """A JSON object of config fields; bad JSON, another type or a key given twice are refused by name."""
    from vla.config import ConfigError

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ConfigError(f"{flag} gives {', '.join(twice)} more than once; give each field once")
        return dict(pairs)

    if not text:
        return {}
    try:
        options = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{flag}={text!r} is not valid JSON ({err.msg} at character {err.pos}); "
                          'expected an object, e.g. \'{"n_bins": 128}\'') from None  # fmt: skip
    if not isinstance(options, dict):
        raise ConfigError(f"{flag}={text!r} is invalid: expected a JSON object of config fields")
    return options


def cmd_tokenizer_fit(args: argparse.Namespace) -> None:
    from vla.config import check_output_folder
    from vla.data.dataset import episode_action_chunks, load_chunked_dataset
    from vla.distributed import process_state
    from vla.tokenizers.base import tokenizer_class, tokenizer_classes
    from vla.train.tokenizer import fit_action_tokenizer

    state = process_state()  # one process, or a group under accelerate launch (ActionCodec trains on all)
    options = parse_options(args.options)
    if state.is_main_process:
        check_output_folder("--out", Path(args.out).parent)
    cls = tokenizer_class(args.type)
    # only tokenizers whose fit reads observations need images: an action corpus without cameras fits the rest
    images = cls.fit_needs_observations(options)
    dataset = load_chunked_dataset(args.dataset, args.horizon, args.layout, images=images)
    fit_kwargs = {}
    if args.checkpoint_every:
        if not cls.fit_checkpoints:
            resumable = ", ".join(k for k, c in sorted(tokenizer_classes().items()) if c.fit_checkpoints)
            raise SystemExit(f"error: --checkpoint-every is for {resumable}; {args.type} fits in one pass")
        fit_kwargs = {"checkpoint_dir": f"{args.out}.fit-state", "checkpoint_every": args.checkpoint_every}
    tokenizer = fit_action_tokenizer(args.type, dataset, args.horizon, options, fit_kwargs)
    if not state.is_main_process:
        return  # every process holds the same tokenizer: the main one saves it, once
    tokenizer.save_pretrained(args.out)
    chunks = episode_action_chunks(dataset, args.horizon)
    err = abs(tokenizer.decode(tokenizer.encode(chunks)).actions - chunks)
    print(
        f"{tokenizer!r}\nfitted on {len(chunks)} chunks with {state.num_processes} process(es); round-trip "
        f"max abs error {err.max():.4f}, mean {err.mean():.5f}\nsaved: {args.out}"
    )
    history = getattr(tokenizer, "history", None)
    if history:  # the loss trend, for comparing fits (e.g. 1 against 2 processes)
        (Path(args.out) / "fit_history.json").write_text(json.dumps(history))


def cmd_tokenizer_report(args: argparse.Namespace) -> None:
    from vla.data.dataset import load_chunked_dataset, shifted_chunk_labels, shifted_chunk_pairs
    from vla.tokenizers import AutoActionTokenizer
    from vla.tokenizers.diagnostics import common_horizon, format_report_table, plot_codebook_usage, report
    from vla.versions import package_versions

    tokenizers = [AutoActionTokenizer.from_pretrained(path) for path in args.tokenizer]
    horizon = common_horizon(tokenizers)
    dataset = load_chunked_dataset(args.dataset, horizon, args.layout, images=False)
    chunks, shifted = shifted_chunk_pairs(dataset, horizon)
    tasks, episodes = shifted_chunk_labels(dataset)
    reports = [
        {"path": str(path), **report(t, chunks, shifted, tasks, episodes)}
        for path, t in zip(args.tokenizer, tokenizers, strict=True)
    ]
    print(format_report_table(reports))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    usage = {f"{r['tokenizer']} ({Path(r['path']).name})": (t.encode(chunks), t.vocab_size)
             for r, t in zip(reports, tokenizers, strict=True)}  # fmt: skip
    plot_codebook_usage(usage, out.with_suffix(".png"))
    print(f"codebook usage: {out.with_suffix('.png')}")
    out.write_text(
        json.dumps({"dataset": args.dataset, "versions": package_versions(), "reports": reports}, indent=1)
    )
    print(f"report: {out}")


def cmd_train(args: argparse.Namespace) -> None:
    from vla.train.__main__ import main as train_main

    train_main([args.recipe, *args.overrides])


def cmd_eval(args: argparse.Namespace) -> None:
    import dataclasses

    from vla.eval.config import EvalConfig
    from vla.eval.results import format_table
    from vla.eval.runner import evaluate

    # each option's dest is the EvalConfig field it sets (--tasks: task_ids, --out: output_dir)
    fields = {field.name for field in dataclasses.fields(EvalConfig)}
    config = EvalConfig(**{key: value for key, value in vars(args).items() if key in fields})
    results = evaluate(config)
    if results:  # only the main process of a sharded run holds the merged results
        print(format_table(results))
        print(
            f"results: {Path(config.output_dir) / 'results.json'} (chart: results.png, episodes: episodes/)"
        )


def cmd_compare(args: argparse.Namespace) -> None:
    from vla.eval.compare import compare_runs, format_comparison

    comparison = compare_runs(_comma_list(args.a), _comma_list(args.b))
    print(format_comparison(comparison))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(comparison, indent=1))
        print(f"comparison: {out}")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_tokenizer_import(args: argparse.Namespace) -> None:
    from vla.hub import resolve_pretrained
    from vla.tokenizers.actioncodec import ActionCodecTokenizer

    folder = resolve_pretrained(args.source, kind="released ActionCodec")
    scale = tuple(float(v) for v in args.action_scale.split(",")) if args.action_scale else None
    tokenizer = ActionCodecTokenizer.from_released(folder, embodiment=args.embodiment, action_scale=scale)
    tokenizer.save_pretrained(args.out)
    print(f"{tokenizer!r}\nembodiment {tokenizer.config.embodiment_names[0]}; saved: {args.out}")


def cmd_push(args: argparse.Namespace) -> None:
    from vla.hub import artifact_kind_of, push_folder_to_hub

    folder = Path(args.checkpoint)
    staging = Path(args.staging_dir or f"outputs/push/{args.repo_id.replace('/', '--')}")
    kind = artifact_kind_of(folder)
    if kind == "policy":
        from functools import partial

        from vla.eval.results import format_table
        from vla.hub.card import push_checkpoint
        from vla.model.backbones import hub_repo_id

        results = Path(args.results) if args.results else None
        table = partial(format_table, markdown=True)
        url = push_checkpoint(
            folder,
            args.repo_id,
            staging,
            results,
            private=args.private,
            results_table=table,
            hub_id=hub_repo_id,
        )
        print(f"pushed: {url}")
        return
    if kind == "action tokenizer":
        from vla.hub.card import stage_tokenizer
        from vla.tokenizers import AutoActionTokenizer

        tokenizer = AutoActionTokenizer.from_pretrained(folder)  # refuses anything that is not a tokenizer
        folder = stage_tokenizer(folder, staging, tokenizer, Path(args.results) if args.results else None)
        print(f"staged: {folder}")
    else:
        raise SystemExit(f"error: {folder} is neither a policy checkpoint nor an action tokenizer folder")
    print(f"pushed: {push_folder_to_hub(folder, args.repo_id, private=args.private)}")


def cmd_experiment(args: argparse.Namespace) -> None:
    from vla.experiment import load_experiment, run_experiment, run_seeds

    config = load_experiment(args.recipe, args.overrides)
    if args.seeds is not None:
        run_seeds(config, args.seeds, until=args.until)
    else:
        run_experiment(config, until=args.until)


def cmd_demo(args: argparse.Namespace) -> None:
    from vla.demo import run_demo

    run_demo(Path(args.out), processes=args.processes, tokenizer=args.tokenizer)


def _add_push_parser(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("checkpoint", help="policy checkpoint or action tokenizer folder")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--private", action="store_true")
    p.add_argument(
        "--results",
        help="for a checkpoint: a results.json from `vla eval`; for a tokenizer: a `vla tokenizer report` "
        "JSON; its figures go into the model card",
    )
    p.add_argument("--staging-dir", help="where the upload is staged (default outputs/push/OWNER--NAME)")
    p.set_defaults(func=cmd_push)


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
    q = dsub.add_parser(
        "generate",
        aliases=["record"],
        help="record scripted-expert LIBERO demonstrations into a LeRobotDataset (parallel, resumable)",
        description="Rerun the same command after an interruption (even kill -9) to continue: finished "
        "episodes are staged in OUT.staging and never recorded twice.",
    )
    q.add_argument("--out", required=True, help="dataset folder to create")
    q.add_argument(
        "--suite", default="libero_object", help="suite, or comma-separated suites (default: libero_object)"
    )
    q.add_argument("--tasks", type=_task_list, default=(), help="comma-separated task ids, or all (default)")
    q.add_argument("--episodes-per-task", type=int, default=2)
    q.add_argument("--workers", type=int, default=1, help="simulator processes recording in parallel")
    q.add_argument(
        "--max-steps", type=int, default=None, help="frames per episode at most (default: suite limit)"
    )
    q.add_argument("--controller", choices=("expert", "reach"), default="expert")
    q.add_argument("--successful-only", action="store_true", help="drop episodes that did not succeed")
    q.add_argument(
        "--init-states",
        choices=("random", "benchmark"),
        default="random",
        help="random: fresh seeded placements, never an evaluation state (default); benchmark: the 50 "
        "evaluation initial states (leaks the test scenes into training)",
    )
    q.add_argument("--image-size", type=int, default=256, help="camera resolution in pixels (default 256)")
    q.add_argument(
        "--action-noise",
        type=float,
        default=0.0,
        help="std of noise on the executed motion, corrected by the expert (DART); recorded actions are clean",
    )
    q.add_argument(
        "--no-images",
        action="store_true",
        help="render nothing, record state and actions only (an action corpus for tokenizers; ~5x faster)",
    )
    q.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset (and staged episodes)"
    )
    q.set_defaults(func=cmd_data_generate)

    q = dsub.add_parser(
        "stats", help="normalization statistics of a dataset, compared with the stats.json it ships"
    )
    q.add_argument("dataset", help="LeRobotDataset folder or Hub repo id")
    q.add_argument("--layout", default="libero", help="feature layout: libero or lerobot")
    q.add_argument("--out", default=None, help="folder to save norm_stats.json in")
    q.set_defaults(func=cmd_data_stats)

    p = sub.add_parser("tokenizer", help="action tokenizers")
    tsub = p.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    q = tsub.add_parser("fit", help="fit an action tokenizer on a LeRobotDataset's action chunks")
    q.add_argument("--dataset", required=True, help="LeRobotDataset folder or Hub repo id")
    q.add_argument("--type", default="binning")
    q.add_argument("--horizon", type=int, default=8)
    q.add_argument("--layout", default="libero", help="dataset feature layout: libero or lerobot")
    q.add_argument("--options", default="", help="tokenizer config fields as JSON, e.g. '{\"n_bins\": 128}'")
    q.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="actioncodec: save the fit state to OUT.fit-state every N steps; rerunning resumes from it",
    )
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
    q = tsub.add_parser(
        "import",
        help="convert the authors' ActionCodec (config.json + model.safetensors) into a vla tokenizer",
    )
    q.add_argument("source", help="folder or Hub repo id in the authors' layout")
    q.add_argument("--embodiment", help="embodiment name in their config (default: LIBERO's)")
    q.add_argument(
        "--action-scale", help="comma-separated signed scale per action dimension (default: their LIBERO one)"
    )
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_tokenizer_import)
    _add_push_parser(tsub, "push", "upload a tokenizer folder with a model card (same as `vla push`)")

    p = sub.add_parser(
        "train",
        help="train in this process (see `python -m vla.train --help` for accelerate)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    p.add_argument("-h", "--help", action=_HelpWithRecipeKeys, help="show this help and the recipe keys")
    p.add_argument("recipe", help="recipe YAML, e.g. recipes/tiny_cpu.yaml")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="roll a policy out in LIBERO and report success rates")
    p.add_argument(
        "--policy",
        required=True,
        help="checkpoint folder or Hub repo id, ensemble:<checkpoint>,<checkpoint>,... (their mean action), lerobot:<folder or Hub id>, 'expert', 'scripted' or 'random'",
    )
    p.add_argument(
        "--suite",
        default="libero_object",
        help="a suite of any registered benchmark, or several separated by commas: LIBERO's libero_spatial,"
        "libero_object,libero_goal,libero_10 (and libero_90), LIBERO-PRO's <suite>_lan and <suite>_swap",
    )
    p.add_argument(
        "--tasks",
        dest="task_ids",
        metavar="TASKS",
        type=_task_list,
        default=(),
        help="comma-separated task ids of each suite, or 'all' (default: all, the standard protocol)",
    )
    p.add_argument("--episodes-per-task", type=int, default=50)
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap per episode (default: the suite's standard)"
    )
    p.add_argument(
        "--protocol",
        default="lerobot",
        help="named protocol: lerobot (lerobot-eval's step limits, spatial 280; chunks as the policy gives "
        "them) or openpi (spatial 220, replan every 5 actions) (default: %(default)s)",
    )
    p.add_argument(
        "--init-states",
        choices=("benchmark", "random"),
        default="benchmark",
        help="where episodes start: benchmark (the standard protocol: its fixed initial states) or random "
        "(held-out random placements, never an evaluation state nor a recorded demonstration's: a "
        "generalization check, reported as not the standard protocol) (default: %(default)s)",
    )
    p.add_argument(
        "--actions-per-chunk",
        type=int,
        default=None,
        help="actions executed from each chunk before predicting again (default: the protocol's)",
    )
    p.add_argument(
        "--action-samples",
        type=int,
        default=1,
        help="draw this many chunks per observation (at --sample-temperature) and execute their mean; "
        "our checkpoints and ensembles only (default: 1, greedy decoding)",
    )
    p.add_argument(
        "--sample-temperature",
        type=float,
        default=1.0,
        help="softmax temperature of the draws with --action-samples > 1 (default: %(default)s)",
    )
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
    p.add_argument(
        "--device",
        default="auto",
        help="where a learned policy runs: auto (this process's GPU under accelerate, else cpu), cpu, cuda, cuda:N",
    )
    p.add_argument(
        "--dtype",
        default="auto",
        help="weights of our checkpoints: auto (bfloat16 on a GPU, float32 on the CPU), float32, bfloat16, float16",
    )
    p.add_argument(
        "--out",
        dest="output_dir",
        metavar="OUT",
        default="outputs/eval",
        help="run folder; a rerun resumes it only with the same policy and settings (default: %(default)s)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="start over in --out (its episodes, results, videos)"
    )
    p.add_argument(
        "--max-policy-errors",
        type=int,
        default=5,
        help="stop after this many episodes in a row fail in the policy (default: %(default)s)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "compare",
        help="two policies compared episode by episode on the same initial states (McNemar's test)",
        description="Pairs the episodes of evaluation A with those of B (same suite, task and initial state) "
        "and reports where only one succeeds, the difference in success rate with its 95%% interval and "
        "McNemar's exact p-value. Several folders per side, separated by commas, pair up in order (e.g. "
        "training seed i of two recipes) and pool. Example: vla compare outputs/experiments/a "
        "outputs/experiments/b",
    )
    p.add_argument("a", help="evaluation folder(s) (vla eval --out) or experiment folder(s), comma-separated")
    p.add_argument("b", help="as many folders as A, in the same order")
    p.add_argument("--out", default=None, help="also write the comparison as JSON to this file")
    p.set_defaults(func=cmd_compare)

    _add_push_parser(sub, "push", "upload a checkpoint or tokenizer folder (with a model card) to the Hub")

    p = sub.add_parser(
        "demo", help="record -> tokenizer -> train (2 processes) -> eval, on the embedded default"
    )
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument(
        "--tokenizer",
        default="binning",
        choices=("binning", "fast", "actioncodec"),
        help="action tokenizer to fit (actioncodec uses a CPU-sized config)",
    )
    p.set_defaults(func=cmd_demo)

    from vla.experiment import STAGES  # light: the stages import their heavy modules when they run

    p = sub.add_parser(
        "experiment",
        help="data -> tokenizer -> train -> standard evaluation with baselines, resumable (make reproduce)",
        description="Runs an experiment recipe (recipes/experiments/*.yaml) stage by stage; rerun the same "
        "command after an interruption to continue. Prints the path of its results.json last.",
    )
    p.add_argument("recipe", help="experiment YAML, e.g. recipes/experiments/libero_object_task0.yaml")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. train.recipe.training.steps=200"
    )
    p.add_argument(
        "--until",
        choices=STAGES,
        default=STAGES[-1],
        help="stop after this stage (e.g. fit the tokenizer now, train later); default: %(default)s",
    )
    p.add_argument(
        "--seeds",
        type=_int_list,
        default=None,
        help="train and evaluate once per training seed, e.g. 0,1,2 (same demonstrations; seed N other than "
        "the recipe's own in OUTPUT_DIR_seedN), then write the spread to OUTPUT_DIR/seeds.json",
    )
    p.set_defaults(func=cmd_experiment)
    return parser


class _HelpWithRecipeKeys(argparse.Action):
    """``vla train --help`` lists every recipe key with its default; built only when asked (it imports the
    config classes, which every other command would pay for at start-up)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from vla.train.__main__ import recipe_keys_help

        parser.epilog = recipe_keys_help()
        parser.print_help()
        parser.exit()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from vla._logging import configure_logging
    from vla.errors import exit_on_user_error

    configure_logging()
    try:
        args.func(args)
    except Exception as err:  # also under accelerate launch -m vla.eval
        exit_on_user_error(err)
        raise


if __name__ == "__main__":
    main()
