"""Record LIBERO episodes from the real simulator into a LeRobotDataset with the public LIBERO schema."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vla._logging import quiet_known_noise
from vla.config import check_choice
from vla.sim.libero_env import ACTION_DIM, STATE_DIM, check_suite_task

quiet_known_noise()

FPS = 10
CONTROLLERS = ("expert", "reach")


def _make_controller(name: str, env):
    if name == "expert":
        from vla.sim.expert import LiberoExpert

        expert = LiberoExpert()
        expert.reset(env)
        return expert
    from vla.sim.scripted import ScriptedReachGrasp

    return ScriptedReachGrasp()


IMAGE_SHAPE = (256, 256, 3)

#: The feature schema of the public LIBERO LeRobot datasets (physical-intelligence/libero layout).
LIBERO_FEATURES = {
    "image": {"dtype": "image", "shape": IMAGE_SHAPE, "names": ["height", "width", "channel"]},
    "wrist_image": {"dtype": "image", "shape": IMAGE_SHAPE, "names": ["height", "width", "channel"]},
    "state": {"dtype": "float32", "shape": (STATE_DIM,), "names": ["state"]},
    "actions": {"dtype": "float32", "shape": (ACTION_DIM,), "names": ["actions"]},
}


def record_scripted_episodes(
    out: str | Path,
    suite: str = "libero_object",
    task_ids: Sequence[int] = (0,),
    episodes_per_task: int = 2,
    max_steps: int | None = None,
    repo_id: str = "local/libero_scripted",
    overwrite: bool = False,
    controller: str = "expert",
    successful_only: bool = False,
) -> Path:
    """Roll a scripted controller from the benchmark's initial states and save every frame.

    ``controller`` is ``expert`` (the privileged-state expert of ``vla.sim.expert``, which solves most
    libero_object/spatial tasks) or ``reach`` (a reach-grasp-lift motion that never places). Each episode
    starts from initial state ``episode`` of its task, settles with no-op steps, then records up to
    ``max_steps`` frames (default: the suite's standard limit), stopping when the task succeeds. With
    ``successful_only`` failed episodes are dropped instead of saved.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm.auto import tqdm

    from vla.sim.libero_env import PROTOCOL, LiberoEnv

    check_choice("controller", controller, CONTROLLERS)
    max_steps = max_steps or PROTOCOL[suite].max_steps
    for task_id in task_ids:
        check_suite_task(suite, task_id)
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(out)
    dataset = LeRobotDataset.create(
        repo_id=repo_id, fps=FPS, features=LIBERO_FEATURES, root=out, robot_type="panda", use_videos=False
    )
    total = len(task_ids) * episodes_per_task * max_steps
    outcomes: list[bool] = []
    with tqdm(total=total, desc=f"recording {suite}", unit="step") as bar:
        for task_id in task_ids:
            env = LiberoEnv(suite, task_id)
            try:
                for episode in range(episodes_per_task):
                    obs = env.reset(episode % env.n_init_states)
                    policy = _make_controller(controller, env)
                    success, steps = False, 0
                    for _ in range(max_steps):
                        action = policy.act(env)
                        dataset.add_frame(
                            {
                                "image": obs["image"],
                                "wrist_image": obs["wrist_image"],
                                "state": obs["state"].astype(np.float32),
                                "actions": action.astype(np.float32),
                                "task": env.instruction,
                            }
                        )
                        obs, success = env.step(action)
                        steps += 1
                        bar.update(1)
                        if success:
                            break
                    bar.update(max_steps - steps)
                    outcomes.append(success)
                    bar.set_postfix(success=f"{sum(outcomes)}/{len(outcomes)}")
                    if successful_only and not success:
                        dataset.clear_episode_buffer()
                    else:
                        dataset.save_episode()
            finally:
                env.close()
    dataset.finalize()
    if dataset.meta.total_episodes == 0:
        raise RuntimeError(f"no episode was kept in {out}: the {controller} controller succeeded in none")
    return out
