"""Record LIBERO episodes from the real simulator into a LeRobotDataset with the public LIBERO schema."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vla._logging import quiet_known_noise
from vla.sim.libero_env import ACTION_DIM, STATE_DIM, check_suite_task

quiet_known_noise()

FPS = 10
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
    max_steps: int = 40,
    repo_id: str = "local/libero_scripted",
    overwrite: bool = False,
) -> Path:
    """Roll the scripted reach-grasp controller from the benchmark's initial states and save every frame.

    Each episode starts from initial state ``episode`` of its task, settles with no-op steps, then records
    ``max_steps`` frames (or fewer when the task succeeds).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm.auto import tqdm

    from vla.sim.libero_env import LiberoEnv
    from vla.sim.scripted import ScriptedReachGrasp

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
    with tqdm(total=total, desc=f"recording {suite}", unit="step") as bar:
        for task_id in task_ids:
            env = LiberoEnv(suite, task_id)
            controller = ScriptedReachGrasp()
            try:
                for episode in range(episodes_per_task):
                    obs = env.reset(episode % env.n_init_states)
                    controller.reset()
                    for _ in range(max_steps):
                        action = controller.act(env)
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
                        bar.update(1)
                        if success:
                            break
                    dataset.save_episode()
            finally:
                env.close()
    dataset.finalize()
    return out
