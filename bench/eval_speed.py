"""LIBERO evaluation speed: ``vla eval`` against lerobot's own ``lerobot-eval``, same policy, same episodes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/eval_speed.py --out outputs/bench/eval_speed.json

The policy is a lerobot ACT with random weights (default architecture, resnet18 backbone without
downloaded weights, chunks of 50, 10 actions executed per chunk) reading the cameras given by
``--cameras`` at 256 px and the 8-D state, saved once to a folder. Both sides load that folder:
``vla eval --policy lerobot:FOLDER`` and ``lerobot-eval --policy.path=FOLDER --env.type=libero``, on the
same suite and task, the same episodes (init states 0..E-1) and the same step limit, each as a subprocess
of this script, one after the other. Random weights never succeed, so every episode runs to the limit
and both sides step exactly episodes x max_steps times (checked from each side's own output).

Measured per run: wall time of the whole command (imports, policy loading, environments, rollouts,
videos), environment steps per second over that wall time and over the evaluation loop alone (lerobot's
``eval_s``; our ``this_run.seconds``), the peak memory (RSS and PSS) of every process of the run, sampled
each second, and the time one full task (50 episodes) would take, extrapolated as

    start-up + rounds x (time per round),  rounds = ceil(50 / parallel environments)

where for lerobot-eval the first batch (which builds the environments) gives start-up + one round and the
second batch alone one round (from its progress bar), and for ours the mean episode time measured inside
the workers is one round and start-up is the rest of the loop's time; the time before the loop (imports,
policy loading) is added to both. Run with ``--episodes`` equal to twice the number of environments so
that each side does exactly two rounds. Videos: lerobot-eval always films the first 10 episodes of a task
(and cannot be told not to); ours is told to do the same (``--video first --videos-per-task 10``), so
every measured episode is filmed on both sides. Ours renders the agent view on every step only for a
filmed episode, so the ``ours-novideo`` run measures the other 40 episodes of a full task, and
``full_task_s_extrapolated_10_filmed`` combines the two.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from vla.testing import write_result

ROOT = Path(__file__).resolve().parents[1]

FULL_TASK_EPISODES = 50
LEROBOT_CAMERA_NAMES = {"image": "agentview_image", "image2": "robot0_eye_in_hand_image"}


def write_policy(folder: Path, cameras: tuple[str, ...], image_size: int) -> Path:
    from vla.testing import write_tiny_lerobot_policy

    # ACT's default transformer sizes (dim 512, 4 encoder layers, 1 decoder layer), not the tests' tiny ones.
    return write_tiny_lerobot_policy(
        folder, image_size=image_size, cameras=cameras, n_action_steps=10, chunk_size=50, full_size=True
    )


class MemorySampler:
    """Peak RSS and PSS (MiB) of a process and all its descendants, sampled every ``period`` seconds.

    PSS shares each page among the processes that map it: forked workers share their parent's imports.
    """

    def __init__(self, pid: int, period: float = 2.0) -> None:
        self.pid, self.period, self.peaks = pid, period, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    rss, pss, role = proc.memory_info().rss, _pss_bytes(proc.pid), _role(proc, root)
                except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError, ProcessLookupError):
                    continue
                # the role as first seen (a fork server outliving the main process is re-parented)
                peak = self.peaks.setdefault(proc.pid, {"role": role, "rss_mib": 0.0, "pss_mib": 0.0})
                peak["rss_mib"] = max(peak["rss_mib"], round(rss / 2**20, 1))
                peak["pss_mib"] = max(peak["pss_mib"], round(pss / 2**20, 1))
            self._stop.wait(self.period)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join()
        return sorted(self.peaks.values(), key=lambda p: p["role"])


def _pss_bytes(pid: int) -> int:
    """From smaps_rollup (cheap, unlike a full smaps walk)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _role(proc, root) -> str:
    """Both sides fork their simulator workers from a multiprocessing fork server, a child of the main process."""
    if proc.pid == root.pid:
        return "main"
    cmdline = " ".join(proc.cmdline())
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "forkserver" in cmdline:
        return "fork server" if proc.ppid() == root.pid else "simulator worker"
    return proc.name()


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        sampler = MemorySampler(proc.pid)
        code = proc.wait()
        memory = sampler.stop()
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed ({code}); its output: {log}\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started, memory


def simulator_memory(memory: list[dict]) -> dict:
    """Peak memory of one simulator process (the workers, or the main process when it simulates itself)."""
    workers = [m for m in memory if m["role"] == "simulator worker"] or [
        m for m in memory if m["role"] == "main"
    ]
    return {
        "processes": len(workers),
        "rss_mib_max": max(m["rss_mib"] for m in workers),
        "pss_mib_max": max(m["pss_mib"] for m in workers),
    }


def run_ours(policy: Path, args, num_envs: int, work: Path, env: dict[str, str], video: bool) -> dict:
    tag = f"ours-{num_envs}" + ("" if video else "-novideo")
    out = work / tag
    # like lerobot-eval, film the first 10 episodes of each task
    videos = ["--video", "first", "--videos-per-task", "10"] if video else ["--video", "none"]
    cmd = [sys.executable, "-m", "vla.eval", "--policy", f"lerobot:{policy}", "--suite", args.suite,
           "--tasks", str(args.task), "--episodes-per-task", str(args.episodes), "--max-steps", str(args.max_steps),
           # the size lerobot-eval is told below (our lerobot adapter otherwise renders at lerobot's 360 px default)
           "--image-size", str(args.image_size), *videos, "--num-envs", str(num_envs), "--out", str(out)]  # fmt: skip
    wall, memory = timed(cmd, env, work / f"{tag}.log")
    results = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in (out / "episodes" / "rank-00.jsonl").read_text().splitlines()]
    run = results["this_run"]
    episode_s = sum(r["seconds"] for r in rows) / len(rows)
    rounds = math.ceil(args.episodes / num_envs)
    startup = run["seconds"] - rounds * episode_s
    return {
        "side": "ours (vla eval)",
        "videos": video,
        "command": " ".join(cmd),
        "parallel_envs": num_envs,
        "episodes": len(rows),
        "env_steps": run["env_steps"],
        "successes": results["overall"]["successes"],
        "cameras_rendered": results["protocol"]["cameras"],
        "image_size": results["protocol"]["image_size"],
        "wall_s": round(wall, 1),
        "loop_s": run["seconds"],
        "steps_per_s_wall": round(run["env_steps"] / wall, 2),
        "steps_per_s_loop": round(run["env_steps"] / run["seconds"], 2),
        "round_s": round(episode_s, 1),
        "startup_in_loop_s": round(startup, 1),
        "full_task_s_extrapolated": round(
            (wall - run["seconds"]) + startup + math.ceil(FULL_TASK_EPISODES / num_envs) * episode_s
        ),
        "memory_per_simulator": simulator_memory(memory),
        "memory": memory,
    }


def _batch_times(log: str) -> dict[int, float]:
    """Elapsed seconds at the end of each batch, from lerobot-eval's 'Stepping through eval batches' bar."""
    times: dict[int, float] = {}
    pattern = r"Stepping through eval batches:\s+\d+%\|[^|]*\|\s*(\d+)/\d+ \[(?:(\d+):)?(\d+):(\d+)"
    for match in re.finditer(pattern, log):
        done, hours, minutes, seconds = match.groups()
        times.setdefault(int(done), int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds))
    return times


def run_lerobot(policy: Path, args, batch_size: int | None, work: Path, env: dict[str, str], cameras) -> dict:
    tag = f"lerobot-{batch_size or 'auto'}"
    out = work / tag
    cmd = [str(Path(sys.executable).parent / "lerobot-eval"), f"--policy.path={policy}", "--policy.device=cpu",
           "--env.type=libero", f"--env.task={args.suite}", f"--env.task_ids=[{args.task}]",
           f"--env.episode_length={args.max_steps}", f"--eval.n_episodes={args.episodes}",
           f"--output_dir={out}", "--seed=0"]  # fmt: skip
    if batch_size is not None:
        cmd.append(f"--eval.batch_size={batch_size}")
    if not args.lerobot_defaults:
        # render what the policy reads, at its size (lerobot-eval renders both cameras at 360 px by default)
        cmd += [f"--env.observation_height={args.image_size}", f"--env.observation_width={args.image_size}",
                "--env.camera_name=" + ",".join(LEROBOT_CAMERA_NAMES[c] for c in cameras)]  # fmt: skip
    wall, memory = timed(cmd, env, work / f"{tag}.log")
    info = json.loads((out / "eval_info.json").read_text())
    overall = info["overall"]
    log = (work / f"{tag}.log").read_text()
    parallel = batch_size or _auto_batch_size(args.episodes)
    batches = _batch_times(log)
    n_batches = math.ceil(args.episodes / parallel)
    steps = args.episodes * args.max_steps  # random weights never succeed: every episode runs to the limit
    result = {
        "side": "lerobot-eval",
        "command": " ".join(cmd),
        "parallel_envs": parallel,
        "episodes": overall["n_episodes"],
        "env_steps": steps,
        "successes": round(overall["pc_success"] * overall["n_episodes"] / 100),
        "wall_s": round(wall, 1),
        "loop_s": round(overall["eval_s"], 1),
        "steps_per_s_wall": round(steps / wall, 2),
        "steps_per_s_loop": round(steps / overall["eval_s"], 2),
        "batch_end_s": batches,
        "memory_per_simulator": simulator_memory(memory),
        "memory": memory,
    }
    if n_batches >= 2 and 1 in batches and 2 in batches:
        round_s = batches[2] - batches[1]
        result["round_s"] = round_s
        result["full_task_s_extrapolated"] = round(
            (wall - overall["eval_s"]) + batches[1] + (math.ceil(FULL_TASK_EPISODES / parallel) - 1) * round_s
        )
    return result


def _auto_batch_size(n_episodes: int) -> int:
    """lerobot's EvalConfig._auto_batch_size: 70% of the CPU cores, at most the episodes."""
    return min(max(1, math.floor((os.cpu_count() or 4) * 0.7)), n_episodes, 64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/bench/eval_speed.json")
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=280, help="libero_object's standard limit")
    parser.add_argument("--num-envs", type=int, default=2, help="parallel environments on both sides")
    parser.add_argument("--cameras", default="image,image2", help="the policy's cameras: image, image2")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument(
        "--runs",
        default="ours,ours-novideo,lerobot",
        help="any of: ours, ours-novideo, ours1, lerobot, lerobot-auto",
    )
    parser.add_argument(
        "--lerobot-defaults",
        action="store_true",
        help="leave lerobot-eval's cameras and 360 px images as they are",
    )
    args = parser.parse_args(argv)
    cameras = tuple(args.cameras.split(","))

    from vla.envs.libero.setup import ensure_libero

    ensure_libero()  # lerobot-eval needs LIBERO's config and MuJoCo's backend in its environment too
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        policy = write_policy(work / "policy", cameras, args.image_size)
        for name in args.runs.split(","):
            print(f"running {name} ...", flush=True)
            load = [round(x, 2) for x in os.getloadavg()]
            if name in ("ours", "ours1", "ours-novideo"):
                n = 1 if name == "ours1" else args.num_envs
                runs.append(run_ours(policy, args, n, work, env, video=name != "ours-novideo"))
            elif name in ("lerobot", "lerobot-auto"):
                batch = None if name == "lerobot-auto" else args.num_envs
                runs.append(run_lerobot(policy, args, batch, work, env, cameras))
            else:
                raise SystemExit(f"unknown run {name!r}")
            runs[-1]["load_average_before"] = load  # another job on the machine shows up here
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "memory"}), flush=True)
    ours = [r for r in runs if r["side"].startswith("ours") and r["parallel_envs"] == args.num_envs]
    filmed = [r for r in ours if r["videos"]]
    unfilmed = [r for r in ours if not r["videos"]]
    theirs = [r for r in runs if r["side"] == "lerobot-eval" and r["parallel_envs"] == args.num_envs]
    speedup = {}
    if filmed and theirs:  # both film every measured episode (lerobot-eval films the first 10 of a task)
        for key in ("steps_per_s_wall", "steps_per_s_loop"):
            speedup[key] = round(filmed[0][key] / theirs[0][key], 2)
    if filmed and unfilmed:
        # a full task: the first 10 episodes filmed (as lerobot-eval), the other 40 not
        one = filmed[0]
        fixed = one["wall_s"] - one["loop_s"] + one["startup_in_loop_s"]
        per_env = (10 * one["round_s"] + (FULL_TASK_EPISODES - 10) * unfilmed[0]["round_s"]) / args.num_envs
        one["full_task_s_extrapolated_10_filmed"] = round(fixed + per_env)
        if theirs and theirs[0].get("full_task_s_extrapolated"):
            speedup["full_task"] = round(theirs[0]["full_task_s_extrapolated"] / (fixed + per_env), 2)
    write_result(args.out, {
        "benchmark": "LIBERO evaluation speed, vla eval vs lerobot-eval (same lerobot policy folder)",
        "policy": {"type": "act (random weights)", "cameras": list(cameras), "image_size": args.image_size,
                   "chunk_size": 50, "n_action_steps": 10},
        "suite": args.suite, "task": args.task, "episodes": args.episodes, "max_steps": args.max_steps,
        "runs": runs, "speedup_at_equal_parallel_envs": speedup,
        "load_average_after": os.getloadavg(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
