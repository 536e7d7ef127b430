"""The evaluation's settings: which policy, which suites and tasks, which protocol, where the outputs go."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vla.config import check, check_choice
from vla.envs import DEFAULT_PROTOCOL, PROTOCOLS, SUITES, EvalProtocol, check_suite_task
from vla.eval.policies.base import INFERENCE_DTYPES

VIDEO_MODES = ("none", "failures", "first", "all")
#: Where episodes start: ``benchmark`` (the standard protocol: the benchmark's fixed initial state with the
#: episode's index) or ``random`` (a held-out random placement drawn by the benchmark's own samplers, never
#: an evaluation state nor a state ``vla data generate`` records: a generalization check, not the protocol).
INIT_STATES = ("benchmark", "random")


@dataclass(frozen=True)
class EvalConfig:
    #: Checkpoint folder, Hub repo id, ``scripted``, ``expert`` or ``random``.
    policy: str = "scripted"
    #: A suite, or several separated by commas (``libero_spatial,libero_object,libero_goal,libero_10``).
    suite: str = "libero_object"
    #: Task ids of each suite; empty (the default, the standard protocol) means all of them.
    task_ids: tuple[int, ...] = ()
    episodes_per_task: int = 50
    #: ``benchmark`` (the standard protocol) or ``random`` (held-out placements; see ``INIT_STATES``).
    init_states: str = "benchmark"
    #: Step limit per episode; ``None`` uses each suite's limit in ``protocol``.
    max_steps: int | None = None
    #: Actions executed from each predicted chunk before predicting again (``None``: what ``protocol`` says).
    actions_per_chunk: int | None = None
    #: Chunks drawn per observation (at ``sample_temperature``) whose mean is executed; 1: greedy decoding.
    #: Our checkpoints and ensembles of them only.
    action_samples: int = 1
    sample_temperature: float = 1.0
    #: A named protocol of ``vla.envs.PROTOCOLS`` (each benchmark's protocol tables, merged by name): ``lerobot`` (default) or ``openpi``.
    protocol: str = DEFAULT_PROTOCOL
    #: ``none``, ``failures``, ``first`` (the first ``videos_per_task`` episodes of each task) or ``all``.
    video: str = "failures"
    videos_per_task: int = 1
    output_dir: str = "outputs/eval"
    seed: int = 0
    #: Simulator worker processes per evaluation process; ``None``: one per CPU core (``auto_num_envs``).
    #: 1 runs the simulator in this process.
    num_envs: int | None = None
    #: Side in pixels of the rendered images; ``None``: the size the policy reads (256 for video only).
    image_size: int | None = None
    #: Where a learned policy runs: ``auto`` (this process's GPU under accelerate, else the CPU), ``cpu``,
    #: ``cuda`` or ``cuda:N``.
    device: str = "auto"
    #: Weights of our checkpoints: ``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``,
    #: ``bfloat16`` or ``float16``.
    dtype: str = "auto"
    #: Start over in ``output_dir`` (its episodes, results and videos are deleted) instead of resuming.
    overwrite: bool = False
    #: Stop the run after this many episodes in a row ended in an error raised by the policy.
    max_policy_errors: int = 5

    def __post_init__(self) -> None:
        check_choice("protocol", self.protocol, PROTOCOLS)
        for suite in self.suites:
            check_choice("suite", suite, SUITES)
            for task_id in self.task_ids:
                check_suite_task(suite, task_id)
        check(len(set(self.suites)) == len(self.suites), "suite", self.suite, "each suite at most once")
        check(1 <= self.episodes_per_task <= 50, "episodes_per_task", self.episodes_per_task, "1..50")
        check(self.max_steps is None or self.max_steps >= 1, "max_steps", self.max_steps, "None or >= 1")
        check(
            self.actions_per_chunk is None or self.actions_per_chunk >= 1,
            "actions_per_chunk",
            self.actions_per_chunk,
            "None or >= 1",
        )
        check(self.action_samples >= 1, "action_samples", self.action_samples, "must be >= 1")
        check(self.sample_temperature > 0, "sample_temperature", self.sample_temperature, "must be > 0")
        check_choice("init_states", self.init_states, INIT_STATES)
        check_choice("video", self.video, VIDEO_MODES)
        check(self.videos_per_task >= 0, "videos_per_task", self.videos_per_task, "must be >= 0")
        check(self.num_envs is None or self.num_envs >= 1, "num_envs", self.num_envs, "None or >= 1")
        check(self.image_size is None or self.image_size >= 8, "image_size", self.image_size, "None or >= 8")
        check(
            re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device) is not None,
            "device",
            self.device,
            "auto, cpu, cuda or cuda:N",
        )
        check_choice("dtype", self.dtype, INFERENCE_DTYPES)
        check(self.max_policy_errors >= 1, "max_policy_errors", self.max_policy_errors, "must be >= 1")

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.suite.split(","))

    def tasks(self, suite: str) -> tuple[int, ...]:
        return self.task_ids or tuple(range(SUITES[suite].n_tasks))

    @property
    def named_protocol(self) -> EvalProtocol:
        return PROTOCOLS[self.protocol]

    def max_steps_for(self, suite: str) -> int:
        return self.max_steps or self.named_protocol.max_steps[suite]

    @property
    def chunk_actions(self) -> int | None:
        """Actions executed from each chunk before predicting again (``None``: the whole chunk)."""
        return self.actions_per_chunk or self.named_protocol.actions_per_chunk

    def episode_keys(self) -> list[tuple[str, int, int]]:
        """(suite, task, episode) in the order they run: suite by suite, task by task."""
        return [
            (suite, task, episode)
            for suite in self.suites
            for task in self.tasks(suite)
            for episode in range(self.episodes_per_task)
        ]
