"""Vectorized evaluation: N simulator worker processes, one batched policy call for all of them.

Each worker process owns one ``LiberoEnv`` (rebuilt for each new task) and runs whole episodes with the
same ``attempt_episode`` as the single-process path, so an episode's row does not depend on ``num_envs``.
Where the policy runs depends on it:

- a policy with ``runs_in_env_worker`` (expert, scripted, random) is loaded in every worker and acts
  there, next to the simulator state it reads; the main process only hands out episodes;
- a learned policy stays in the main process. In the worker, ``RemotePolicy`` sends each observation up
  the pipe and waits for its chunk; the main process waits until every worker that is executing a chunk
  has reported, runs ONE ``predict`` on all the observations waiting, and sends each worker its chunk.
  Workers that are building or resetting an environment join the next batch when they are ready.

Episodes are handed out from this process's (suite, task, episode) queue as workers free up, and each finished
row goes to ``record`` at once (it is appended to the JSONL file), so a crash loses in-flight episodes only.

Failures: a simulator error is recorded with its traceback and the episode retried once in a fresh
environment, inside the worker; a policy error (the batched call raised) is recorded without a retry. A
worker process that dies (segfault, killed for memory) is reported on stderr and replaced; its episode is
retried once in the new worker, then recorded as a simulator error. When the main process dies, the
workers' pipe closes and they exit.

Workers are forked from a ``forkserver`` process, never from the main process (which may hold a model,
threads or a CUDA context). The fork server imports LIBERO, robosuite and torch once (``PRELOAD``), so
a worker starts in well under a second instead of re-importing them (~10 s each); importing creates no
GL context (MuJoCo makes one with an environment's first renderer, inside the worker), so nothing
GPU- or EGL-related is ever inherited through ``fork``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from vla.eval.config import EvalConfig
from vla.eval.rollout import PolicyError, Rendering, error_row

#: Seconds a worker gets to finish cleanly after ``stop`` before it is terminated.
STOP_TIMEOUT_S = 30
#: Modules the fork server imports once for all workers (no GL context is created by importing them).
PRELOAD = ["libero.libero.envs.env_wrapper", "libero.libero.benchmark", "vla.eval.vector"]


def start_fork_server():
    """Start the fork server now and return its context; its imports overlap the caller's (loading a model)."""
    from multiprocessing import forkserver

    from vla.envs.libero.setup import ensure_libero

    ensure_libero()  # before the fork server starts: it inherits LIBERO's and MuJoCo's environment variables
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    return ctx


class _MainGone(BaseException):
    """The main process closed the pipe: stop now (not an episode error to retry)."""


class RemotePolicy:
    """The worker-side stand-in for a policy that runs batched in the main process."""

    name = "remote"

    def __init__(self, conn) -> None:
        self.conn = conn
        self.invalid_chunks = 0

    def reset(self, episode_seed: int) -> None:
        self.invalid_chunks = 0

    def act(self, env, observation):
        try:
            self.conn.send(("obs", {**observation, "task": env.instruction}))
            message = self.conn.recv()
        except (EOFError, OSError) as err:
            raise _MainGone from err
        if message[0] == "error":
            raise PolicyError(f"the policy failed in the main process:\n{message[1]}")
        _, chunk, valid = message
        self.invalid_chunks += int(not valid)
        return chunk


@dataclass(frozen=True)
class WorkerJob:
    config: EvalConfig
    rendering: Rendering
    #: The policy runs in the main process (``RemotePolicy`` in the worker).
    remote_policy: bool


def _worker_main(conn, job: WorkerJob) -> None:
    """A simulator worker: runs the episodes it is sent until ``stop`` or until the main process is gone."""
    slot = None
    try:
        from vla.eval.policies import load_rollout_policy
        from vla.eval.rollout import EnvSlot, attempt_episode

        if job.remote_policy:
            policy = RemotePolicy(conn)
        else:
            policy = load_rollout_policy(job.config.policy, seed=job.config.seed)
        slot = EnvSlot(job.config.seed, job.rendering)
        conn.send(("ready", os.getpid()))
        while True:
            message = conn.recv()
            if message[0] == "stop":
                return
            _, suite, task_id, episode = message
            row = attempt_episode(slot, policy, job.config, suite, task_id, episode)
            conn.send(("done", row))
    except (EOFError, BrokenPipeError, ConnectionResetError, _MainGone, KeyboardInterrupt):
        return  # the main process is gone or interrupted: there is nobody to report to
    except Exception:  # noqa: BLE001 - start-up failed (imports, policy): tell the main process why
        try:
            conn.send(("fatal", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if slot is not None:
            slot.close()


@dataclass
class _Worker:
    index: int
    process: Any
    conn: Any
    #: The (suite, task, episode) in flight, or None when idle.
    key: tuple[str, int, int] | None = None
    #: Executing a chunk the main process sent: the next batch waits for its observation.
    stepping: bool = False
    ready: bool = False
    #: Has sent an observation: until then the worker is starting up, and the first batch waits for it (all
    #: workers start together, so the first forward pass serves all of them; later resets do not hold a batch).
    observed: bool = False


class WorkerStartError(RuntimeError):
    """A simulator worker could not start (not an episode failure): the message says why."""


def _start_worker(ctx, index: int, job: WorkerJob) -> _Worker:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_worker_main, args=(child, job), name=f"vla-sim-{index}", daemon=True)
    process.start()
    child.close()
    return _Worker(index, process, parent)


def _death_note(worker: _Worker) -> str:
    worker.process.join(timeout=5)
    code = worker.process.exitcode
    if code is not None and code < 0:
        how = f"killed by {signal.Signals(-code).name}"
    else:
        how = f"exit code {code}"
    return f"simulator worker {worker.index} (pid {worker.process.pid}) died ({how})"


def run_vectorized(
    config: EvalConfig,
    policy,
    keys: list[tuple[str, int, int]],
    rendering: Rendering,
    num_envs: int,
    record: Callable[[dict[str, Any]], None],
) -> None:
    """Run the episodes ``keys`` on ``num_envs`` simulator workers; ``record`` gets each finished row."""
    ctx = start_fork_server()  # already running if the caller started it
    job = WorkerJob(config, rendering, remote_policy=not policy.runs_in_env_worker)
    workers = [_start_worker(ctx, i, job) for i in range(num_envs)]
    pending = deque(keys)
    waiting: dict[int, dict[str, Any]] = {}  # worker index -> observation waiting for its chunk
    deaths: dict[tuple[str, int, int], list[str]] = {}
    clean = False
    try:
        while pending or any(w.key is not None for w in workers):
            for w in workers:
                if w.key is None and pending:
                    w.key, w.stepping = pending.popleft(), False
                    try:
                        w.conn.send(("episode", *w.key))
                    except OSError:
                        pass  # it died: its sentinel says so below
            busy = [w for w in workers if w.key is not None and w.index not in waiting]
            must_block = any(w.stepping or not w.observed for w in busy) or not waiting
            handles = {w.conn: w for w in busy} | {w.process.sentinel: w for w in busy}
            for handle in wait(list(handles), timeout=None if must_block else 0):
                w = handles[handle]
                if workers[w.index] is not w or w.key is None or w.index in waiting:
                    continue  # already handled through its other handle
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):
                    _replace_dead(ctx, job, workers, w, deaths, pending, waiting, record)
                    continue
                kind = message[0]
                if kind == "ready":
                    w.ready = True
                elif kind == "obs":
                    waiting[w.index], w.stepping, w.observed = message[1], False, True
                elif kind == "done":
                    row = message[1]
                    if w.key in deaths:
                        died = deaths.pop(w.key)
                        row["errors"] = died + row.get("errors", [])
                        row["simulator_retries"] = row.get("simulator_retries", 0) + len(died)
                    w.key, w.stepping = None, False
                    record(row)
                elif kind == "fatal":
                    raise WorkerStartError(f"simulator worker {w.index} failed to start:\n{message[1]}")
            if waiting and not any(w.stepping or (w.key is not None and not w.observed) for w in workers):
                _predict_and_send(policy, workers, waiting)
        clean = True
    finally:
        _stop_workers(workers, graceful=clean)


def _replace_dead(ctx, job, workers, w, deaths, pending, waiting, record) -> None:
    note = _death_note(w)
    if not w.ready:
        raise WorkerStartError(f"{note} while starting up (its error, if any, is above)")
    suite, task_id, episode = w.key
    note += f" during {suite} task {task_id} episode {episode}"
    print(f"warning: {note}; starting a new worker", file=sys.stderr, flush=True)
    waiting.pop(w.index, None)
    w.conn.close()
    workers[w.index] = _start_worker(ctx, w.index, job)
    deaths.setdefault(w.key, []).append(note)
    if len(deaths[w.key]) >= 2:  # it died twice: record the episode as an error and go on
        row = error_row(suite, task_id, episode, note, "simulator")
        row["errors"] = deaths.pop(w.key)
        row["simulator_retries"] = 1
        record(row)
    else:
        pending.appendleft(w.key)


def _predict_and_send(policy, workers: list[_Worker], waiting: dict[int, dict[str, Any]]) -> None:
    order = sorted(waiting)
    try:
        chunks, valid = policy.predict([waiting[i] for i in order])
        replies = [
            ("chunk", np.asarray(c, dtype=np.float64), bool(v)) for c, v in zip(chunks, valid, strict=True)
        ]
    except Exception:  # noqa: BLE001 - each episode records it as a policy error, as in one process
        replies = [("error", traceback.format_exc())] * len(order)
    waiting.clear()
    for index, reply in zip(order, replies, strict=True):
        workers[index].stepping = True
        try:
            workers[index].conn.send(reply)
        except OSError:
            pass  # it died: its sentinel says so on the next wait


def _stop_workers(workers: list[_Worker], graceful: bool) -> None:
    for w in workers:
        if graceful:
            try:
                w.conn.send(("stop",))
            except OSError:
                pass
        elif w.process.is_alive():
            w.process.terminate()
    for w in workers:
        w.process.join(timeout=STOP_TIMEOUT_S if graceful else 5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join(timeout=5)
        w.conn.close()
