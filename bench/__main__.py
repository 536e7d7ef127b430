"""Every benchmark in bench/ in one command, sized for ~20 minutes on a 2-core CPU: ``make bench``.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench                  # -> outputs/bench/run-<date>/
    python -m bench --only cli_startup,decode_latency --out DIR    # a subset
    python -m bench --list                                         # what runs, and with which arguments

Each benchmark runs as its own process (``python bench/<script>.py ... --out DIR/<name>.json``, its output in
``DIR/<name>.log``), one after the other so they never share the CPU. Then ``DIR/summary.json`` and
``DIR/summary.md`` collect the headline of each: ours next to the peer it is compared with (lerobot, FAST,
one process, autoregressive decoding), the time it took, the machine, the package versions and the date.
A rerun into the same folder (the default folder is per day; pass ``--out`` to continue another day's)
keeps the benchmarks whose JSON is already there and readable (``--overwrite`` reruns them): an interrupted
run continues. A benchmark that fails is reported with its log and the others still
run; the command exits non-zero if any failed. Without LIBERO (a lent GPU machine) the simulator benchmarks
are skipped. Benchmarks that need data this machine does not have (the
ActionCodec corpus, the stage-1 experiments) are listed as skipped with the command that makes it. On a
machine with CUDA the GPU benchmarks (2.2B training step, 2.2B decoding latency) run from here too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "outputs/corpus/libero_actions_20.npz"
EXPERIMENTS = [ROOT / "outputs/experiments" / name for name in
               ("libero_object_task0", "libero_object_task0_fast", "libero_object_task0_actioncodec",
                # make reproduce's setting (small-p16, 100 demonstrations, 1 s chunks), one row per tokenizer
                "libero_object_task0_h20_fast_100_p16", "libero_object_task0_h20_actioncodec_100_p16",
                "libero_object_task0_h20_binning_100_p16")]  # fmt: skip


@dataclass
class Context:
    out: Path
    cuda: bool
    libero: bool = True
    #: OMP_NUM_THREADS every benchmark runs with (the caller's, else 1), recorded in the summary.
    threads: str = "1"

    @property
    def dataset(self) -> Path:
        """The demonstrations ``generate_speed`` records and keeps for the benchmarks that need data."""
        return self.out / "data"


Arguments = Callable[[Context], "list[str] | str"]  # a str: why it is skipped here


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    what: str
    arguments: Arguments = field(default=lambda ctx: [])
    headline: Callable[[dict], list[str]] = field(default=lambda result: [])
    gpu: bool = False
    #: Runs the LIBERO simulator (a machine without LIBERO, e.g. a lent GPU box, skips it).
    libero: bool = False


def _needs_dataset(extra: list[str]) -> Arguments:
    def arguments(ctx: Context) -> list[str] | str:
        if not (ctx.dataset / "meta" / "info.json").exists():
            return f"no dataset at {ctx.dataset} (generate_speed records it)"
        return ["--dataset", str(ctx.dataset), *extra]

    return arguments


def _ratio(a: float, b: float) -> str:
    if not b:
        return "n/a"
    return f"{a / b:.0f}x" if a / b >= 10 else f"{a / b:.2f}x"


# -- headlines: one line per comparison, ours first ------------------------------------------------------
def _cli(result: dict) -> list[str]:
    r = result["results"]
    lines = [f"`vla --help` {r['vla --help']['median_s']} s"]
    for ours, peer in (
        ("vla train --help", "lerobot-train --help"),
        ("vla eval --help", "lerobot-eval --help"),
    ):
        if "median_s" in r.get(ours, {}) and "median_s" in r.get(peer, {}):
            a, b = r[ours]["median_s"], r[peer]["median_s"]
            lines.append(f"`{ours}` {a} s vs `{peer}` {b} s ({_ratio(b, a)} faster)")
    return lines


def _processor(result: dict) -> list[str]:
    lines = []
    for preset, row in result["presets"].items():
        after = row["after"]["ms_per_batch"]
        if "before" in row:
            before = row["before"]["ms_per_batch"]
            lines.append(f"{preset}: {after} ms per batch vs {before} ms before the fix ({row['speedup']}x)")
        else:
            lines.append(f"{preset}: {after} ms per batch")
    return lines


def _decode(result: dict) -> list[str]:
    rows = result["results"]
    measured = "policy" if any(r["measured"] == "policy" for r in rows) else "decode"
    lines = []
    for batch in sorted({r["batch_size"] for r in rows}):
        cells = {
            r["mode"]: r["latency_ms"] for r in rows if r["batch_size"] == batch and r["measured"] == measured
        }
        base = cells.get("autoregressive")
        lines.append(f"batch {batch} ({measured}): " + ", ".join(
            f"{mode} {ms} ms" + (f" ({_ratio(base, ms)})" if base and mode != "autoregressive" else "")
            for mode, ms in cells.items()))  # fmt: skip
    return lines


def _train(result: dict) -> list[str]:
    r = result["results"]
    one, two = r["1_process"]["samples_per_s"], r["2_process"]["samples_per_s"]
    return [f"2 processes {two} samples/s vs 1 process {one} ({result['speedup_2_vs_1']}x)"]


def _precision(result: dict) -> list[str]:
    r = result["results"]
    return [f"bfloat16 autocast {r['bfloat16 autocast']['samples_per_s']} samples/s vs float32 "
            f"{r['float32']['samples_per_s']} ({result['speedup_bf16_vs_fp32']}x), losses within "
            f"{result['max_loss_difference']} over {len(r['float32']['loss_per_step'])} steps; CPU flags: "
            f"{', '.join(result['cpu_bf16_flags']) or 'no bf16 support'}"]  # fmt: skip


def _attention(result: dict) -> list[str]:
    r = result["results"]
    return [f"eager {r['eager']['samples_per_s']} samples/s vs SDPA {r['sdpa']['samples_per_s']} "
            f"({result['speedup_eager_vs_sdpa']}x, median of {result['repeats']}), losses within "
            f"{result['max_loss_difference']} over {len(r['sdpa']['loss_per_step'])} steps"]  # fmt: skip


def _generate(result: dict) -> list[str]:
    r = result["results"]
    return [f"{row['workers']} worker(s): {row['demos_per_hour']} demonstrations/h, {row['frames_per_s']} frames/s, "
            f"{row['successes']}/{row['episodes']} successes" for row in r.values()]  # fmt: skip


def _dataset_write(result: dict) -> list[str]:
    means = ", ".join(f"{name} {seconds} s" for name, seconds in result["seconds_mean"].items())
    return [
        f"{result['episodes']} episodes: {means} ({result['speedup']}x; same frames: {result['same_frames']})"
    ]


def _step_parts(result: dict) -> list[str]:
    enc, opt, step = result["prompt_encoding"], result["optimizer_step"], result["step_ms"]
    return [f"prompt encoding {enc['now_ms']} vs {enc['before_ms']} ms per batch ({enc['speedup']}x), optimizer "
            f"step {opt['now_ms']} vs {opt['before_ms']} ms ({opt['speedup']}x); with the model's "
            f"{result['model_forward_backward_ms']} ms: step {step['now']} vs {step['before']} ms ({step['speedup']}x)"]  # fmt: skip


def _data(result: dict) -> list[str]:
    r = result["results"]
    lerobot = r["lerobot"]["samples_per_s"]
    return [
        f"ours (chunks) {r['ours_chunks']['samples_per_s']} samples/s vs lerobot {lerobot} "
        f"({result['ours_chunks_vs_lerobot']}x); model-ready batches {r['ours_model_inputs']['samples_per_s']} "
        f"({result['model_inputs_vs_lerobot']}x)"
    ]


def _tokenizers(result: dict) -> list[str]:
    lines = [
        f"{result['chunks']} chunks of {result['horizon']} steps; each tokenizer fitted on them here (in-sample)"
    ]
    for kind, row in result["results"].items():
        fitted = (
            f" ({row['options']['steps']} fit steps, not the shipped one)"
            if "steps" in row["options"]
            else ""
        )
        lines.append(f"{kind}{fitted}: {row['tokens_per_chunk_mean']} tokens/chunk, MSE {row['mse']:.2e}, "
                     f"policy {row['policy_chunks_per_s']} chunks/s")  # fmt: skip
    if result.get("summary"):
        s = result["summary"]
        lines.append(f"ActionCodec vs FAST: tokens {s['actioncodec_tokens_vs_fast']}x, MSE "
                     f"{s['actioncodec_mse_vs_fast']}x, policy speed {s['actioncodec_policy_speed_vs_fast']}x")  # fmt: skip
    return lines


def _ablation(result: dict) -> list[str]:
    return [f"{name}: held-out MSE {row['heldout_mse']:.2e}, overlap {row['temporal_overlap']:.2f}"
            for name, row in result["results"].items()]  # fmt: skip


def _decoding_success(result: dict) -> list[str]:
    return [f"{mode}: {row['successes']}/{row['episodes']} episodes, final loss {row['final_loss']}"
            for mode, row in result["results"].items()]  # fmt: skip


def _actioncodec_libero(result: dict) -> list[str]:
    lines = []
    for name, row in result["results"].items():
        lines.append(f"{name}: held-out MSE {row['mse']:.2e}, {row['tokens_per_chunk']['mean']:.1f} tokens/chunk, "
                     f"gripper sign errors {row['gripper_sign_errors']}, overlap {row['temporal_overlap']:.2f}"
                     + (f"; on its own corpus: training chunks MSE {row['generalization_gap']['training_mse']:.2e}, "
                        f"held-out {row['generalization_gap']['heldout_mse']:.2e}" if "generalization_gap" in row else ""))  # fmt: skip
    for name, checks in result.get("targets", {}).items():
        missed = [key for key, ok in checks.items() if ok is False]
        lines.append(f"{name} targets missed: {', '.join(missed) or 'none'}")
    return lines


def _experiments(result: dict) -> list[str]:
    lines = []
    for row in result["rows"]:
        success = row.get("success") or {}
        rate = (
            success.get("policy", {}).get("success_rate") if isinstance(success.get("policy"), dict) else None
        )
        lines.append(f"{row.get('experiment', '?')}: tokenizer {row.get('tokenizer', {}).get('type')}"
                     + (f", success {rate:.0%}" if isinstance(rate, float) else ""))  # fmt: skip
    return lines


def _eval(result: dict) -> list[str]:
    lines = [f"{run['side']} ({run['parallel_envs']} envs, {run['episodes']} episodes): "
             f"{run['steps_per_s_wall']} env steps/s wall, {run['wall_s']} s" for run in result["runs"]]  # fmt: skip
    speedup = result.get("speedup_at_equal_parallel_envs") or {}
    if speedup:
        lines.append("vla eval vs lerobot-eval: " + ", ".join(f"{k} {v}x" for k, v in speedup.items()))
    return lines


def _gpu_train(result: dict) -> list[str]:
    return [f"{row['mode']} fine-tuning, {row['attn']}: {row['tokens_per_s']} tokens/s, MFU {row['mfu']:.1%}"
            for row in result["results"]]  # fmt: skip


def _corpus(ctx: Context) -> list[str] | str:
    if not CORPUS.exists():
        return f"no action corpus at {CORPUS} (scripts/actioncodec_libero.py steps 1-2: hours on 2 cores)"
    return ["--episodes", str(CORPUS), "--actioncodec", "actioncodec-libero", "--max-chunks", "5000",
            "--repeats", "3"]  # fmt: skip


def _experiment_folders(ctx: Context) -> list[str] | str:
    done = [str(folder) for folder in EXPERIMENTS if (folder / "train" / "checkpoints" / "last").exists()]
    if not done:
        return "no trained stage-1 experiment in outputs/experiments (make reproduce)"
    return [*done, "--frames", "16"]


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("cli_startup", "cli_startup.py", "`--help` start-up, vla vs lerobot", headline=_cli),
    Benchmark("processor_speed", "processor_speed.py", "image preprocessing per batch, per preset",
              headline=_processor),
    Benchmark("decode_latency", "decode_latency.py", "decoding modes, tiny policy, latency per chunk",
              lambda ctx: ["--repeats", "10"], _decode),
    Benchmark("train_throughput", "train_throughput.py", "tiny recipe samples/s, 1 vs 2 processes",
              lambda ctx: ["--steps", "25"], _train),
    Benchmark("train_precision", "train_precision.py", "stage-1 model samples/s, float32 vs bfloat16 (CPU)",
              lambda ctx: ["--steps", "16"], _precision),
    Benchmark("train_attention", "train_attention.py", "stage-1 model samples/s, SDPA vs eager attention (CPU)",
              lambda ctx: ["--steps", "16"], _attention),
    Benchmark("train_step_parts", "train_step_parts.py", "stage-1 step around the model: collate, optimizer",
              lambda ctx: ["--repeats", "10"], _step_parts),
    Benchmark("generate_speed", "generate_speed.py", "demonstrations per hour, 1 vs 2 workers",
              lambda ctx: ["--episodes", "2", "--keep", str(ctx.dataset)], _generate, libero=True),
    Benchmark("dataset_write", "dataset_write.py", "LeRobotDataset write, PNG in one thread vs writer threads",
              headline=_dataset_write),
    Benchmark("data_pipeline", "data_pipeline.py", "training-data loading, ours vs lerobot",
              _needs_dataset([]), _data),
    Benchmark("action_tokenizers", "action_tokenizers.py", "binning, FAST, ActionCodec on the same chunks",
              _needs_dataset(["--options", '{"actioncodec": {"steps": 300}}', "--train-steps", "20"]),
              _tokenizers),
    Benchmark("actioncodec_ablation", "actioncodec_ablation.py", "ActionCodec variants, held-out chunks",
              _needs_dataset(["--steps", "150", "--variants", "16 tokens x 256", "16 tokens x 2048",
                              "16 x 256, no overlap", "16 x 256, + 1 RVQ stage"]), _ablation),
    Benchmark("decoding_success", "decoding_success.py", "tiny recipe trained and rolled out per decoding mode",
              _needs_dataset(["--steps", "40", "--episodes", "1", "--max-steps", "40"]), _decoding_success,
              libero=True),
    Benchmark("actioncodec_libero", "actioncodec_libero.py", "LIBERO ActionCodec vs FAST vs binning, held out",
              _corpus, _actioncodec_libero),
    Benchmark("experiment_tokenizers", "experiment_tokenizers.py", "stage-1 policies per tokenizer",
              _experiment_folders, _experiments),
    Benchmark("eval_speed", "eval_speed.py", "LIBERO evaluation, vla eval vs lerobot-eval",
              lambda ctx: ["--episodes", "4", "--runs", "ours,lerobot"], _eval, libero=True),
    Benchmark("gpu_train", "gpu_train.py", "SmolVLM2-2.2B training step on the GPU (random weights)",
              lambda ctx: ["--preset", "smolvlm2-2.2b", "--batch-size", "8"], _gpu_train, gpu=True),
    Benchmark("decode_latency_gpu", "decode_latency.py", "decoding modes, SmolVLM2-2.2B on the GPU",
              lambda ctx: ["--preset", "smolvlm2-2.2b", "--device", "cuda", "--dtype", "bfloat16"], _decode,
              gpu=True),
)  # fmt: skip


def _readable(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def run_one(bench: Benchmark, ctx: Context, overwrite: bool, previous: dict[str, dict]) -> dict:
    result_file, log = ctx.out / f"{bench.name}.json", ctx.out / f"{bench.name}.log"
    if not overwrite and _readable(result_file):  # measured by an earlier run into this folder
        return {**previous.get(bench.name, {"json": result_file.name}), "status": "kept"}
    if bench.gpu and not ctx.cuda:
        return {"status": "skipped", "why": "needs CUDA"}
    if bench.libero and not ctx.libero:
        return {"status": "skipped", "why": "needs the LIBERO simulator (make setup installs it)"}
    arguments = bench.arguments(ctx)
    if isinstance(arguments, str):
        return {"status": "skipped", "why": arguments}
    result_file.unlink(missing_ok=True)  # a truncated or stale file must not pass for this run's
    command = [sys.executable, str(ROOT / "bench" / bench.script), *arguments, "--out", str(result_file)]
    entry: dict = {"command": shlex.join(command[1:]).replace(str(ROOT) + "/", ""), "json": result_file.name}
    print(f"[bench] {bench.name}: {bench.what} ...", flush=True)
    entry["load_average_before"] = round(os.getloadavg()[0], 2)  # another job on the machine shows up here
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": ctx.threads}
    with log.open("w") as stream:
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=stream, stderr=subprocess.STDOUT).returncode
    seconds = round(time.perf_counter() - start, 1)
    if code == 0 and not _readable(result_file):
        with log.open("a") as stream:
            stream.write(f"\n[bench] exit 0 but no readable {result_file.name}\n")
        code = -1
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        print(f"[bench] {bench.name} FAILED (exit {code}) after {seconds} s; see {log}", flush=True)
        return {**entry, "status": "failed", "seconds": seconds, "exit_code": code, "log_tail": tail}
    print(f"[bench] {bench.name} done in {seconds} s", flush=True)
    return {**entry, "status": "ok", "seconds": seconds}


def headline(bench: Benchmark, entry: dict, out: Path) -> list[str]:
    if entry["status"] not in ("ok", "kept"):
        return []
    try:
        return bench.headline(json.loads((out / f"{bench.name}.json").read_text()))
    except Exception as error:  # noqa: BLE001  (a summary must not lose a run)
        return [f"(no headline: {type(error).__name__} {error}; see {bench.name}.json)"]


def write_summary(out: Path, entries: dict[str, dict], run: dict) -> Path:
    """``run``: date, command, machine and versions, read once per run; entries in the suite's order."""
    order = [bench.name for bench in BENCHMARKS]
    entries = dict(sorted(entries.items(), key=lambda item: order.index(item[0])))
    summary = {**run, "total_seconds": round(sum(e.get("seconds") or 0 for e in entries.values()), 1),
               "benchmarks": entries}  # fmt: skip
    partial = out / ".summary.json.tmp"
    partial.write_text(json.dumps(summary, indent=1))
    partial.replace(out / "summary.json")  # whole or not at all: the next run resumes from it
    m = summary["machine"]
    lines = [
        f"# vla benchmarks, {run['date']}",
        "",
        f"Machine: {m['platform']}, {m['cpu_count']} CPU cores"
        + (f", {m['gpu']}" if m.get("gpu") else ", no GPU")
        + f"; OMP_NUM_THREADS={m['omp_num_threads']}.",
        *_invocations(entries, run),
        f"Versions: {', '.join(f'{k} {v}' for k, v in summary['versions'].items())}.",
        "",
        "| benchmark | status | seconds | load before | what |",
        "|---|---|---|---|---|",
    ]
    by_name = {bench.name: bench for bench in BENCHMARKS}
    for name, entry in entries.items():
        status = entry["status"] if entry["status"] != "skipped" else f"skipped: {entry['why']}"
        load = entry.get("load_average_before", "")
        lines.append(f"| {name} | {status} | {entry.get('seconds') or ''} | {load} | {by_name[name].what} |")
    lines.append("")
    for name, entry in entries.items():
        if entry.get("headline"):
            lines += [
                f"## {name}",
                "",
                f"`{entry['command']}`",
                "",
                *(f"- {line}" for line in entry["headline"]),
                "",
            ]
        elif entry["status"] == "failed":
            lines += [
                f"## {name}: FAILED (exit {entry['exit_code']})",
                "",
                "```",
                *entry["log_tail"],
                "```",
                "",
            ]
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    today = datetime.date.today().isoformat()
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / f"run-{today}")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="rerun benchmarks whose JSON is in --out")
    parser.add_argument(
        "--list", action="store_true", help="print the benchmarks and their arguments, run none"
    )
    args = parser.parse_args(argv)
    names = [bench.name for bench in BENCHMARKS]
    only = names if not args.only else [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(names))
    if unknown or not only:
        print(
            f"error: unknown benchmark(s) {', '.join(unknown) or repr(args.only)}; choose from {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    ctx = Context(args.out.resolve(), _cuda_available(), _libero_available(), threads)
    selected = [bench for bench in BENCHMARKS if bench.name in only]
    if args.list:
        for bench in selected:
            arguments = bench.arguments(ctx)
            shown = arguments if isinstance(arguments, str) else shlex.join(arguments)
            print(f"{bench.name:22} bench/{bench.script} {shown}" + ("  [GPU]" if bench.gpu else ""))
        return 0
    ctx.out.mkdir(parents=True, exist_ok=True)
    from vla.testing import machine, versions

    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    run = {"date": today, "command": command, "machine": {**machine(), "omp_num_threads": threads},
           "versions": versions()}  # fmt: skip
    previous = _previous_entries(ctx.out / "summary.json")
    # benchmarks not selected this time keep their earlier entry: the summary describes the whole folder
    entries = {name: previous[name] for name in names if name in previous and name not in only}
    for bench in selected:
        entries[bench.name] = run_one(bench, ctx, args.overwrite, previous)
        if entries[bench.name]["status"] != "kept":  # which invocation measured it, and when
            entries[bench.name].update(invoked_by=command, date=today)
        entries[bench.name]["headline"] = headline(bench, entries[bench.name], ctx.out)
        path = write_summary(ctx.out, entries, run)  # after each: an interrupted run keeps what it measured
    print(path.read_text())
    print(f"[bench] summary: {path}")
    failed = [bench.name for bench in selected if entries[bench.name]["status"] == "failed"]
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _invocations(entries: dict[str, dict], run: dict) -> list[str]:
    """One line per ``python -m bench`` invocation that measured rows of this folder (a folder filled by
    several ``--only`` runs names each, so no row is credited to the wrong command)."""
    by_invocation: dict[str, list[str]] = {}
    for name, entry in entries.items():
        invoked = f"`{entry['invoked_by']}` ({entry['date']})" if entry.get("invoked_by") else "not recorded"
        by_invocation.setdefault(invoked, []).append(name)
    if list(by_invocation) == ["not recorded"]:  # a folder written before the invocation was kept per row
        return [f"Last command: `{run['command']}`; each benchmark's own command is in its section."]
    if len(by_invocation) == 1:
        return [f"Command: {next(iter(by_invocation))}."]
    return (
        ["Commands (each benchmark's own command is in its section):"]
        + [f"- {invoked}: {', '.join(names)}" for invoked, names in by_invocation.items()]
        + [""]
    )


def _previous_entries(path: Path) -> dict[str, dict]:
    """The entries of an earlier run into the same folder ({} if none, or if its summary is unreadable)."""
    try:
        entries = json.loads(path.read_text())["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _libero_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("libero") is not None


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
