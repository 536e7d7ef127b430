"""LIBERO-PRO's perturbed suites (vla.envs.libero_pro): the tables, the BDDL edits, and the real simulator."""

import json
from pathlib import Path

import numpy as np
import pytest

from vla.config import ConfigError
from vla.envs import PROTOCOLS, benchmark_for_suite, get_benchmark
from vla.envs.libero_pro import LiberoProBenchmark, bddl
from vla.envs.libero_pro.benchmark import BASE_SUITES, SUITE_SOURCES, SWAP_STATE_SEED, LiberoProEnv
from vla.envs.libero_pro.tables import PARAPHRASES, SWAP_CANDIDATES

PROBLEM = """(define (problem LIBERO_Tabletop_Manipulation)
  (:domain robosuite)
  (:language Open the middle drawer of the cabinet)
  (:fixtures
    main_table - table
    wooden_cabinet_1 - wooden_cabinet
    flat_stove_1 - flat_stove
  )
  (:objects
    akita_black_bowl_1 - akita_black_bowl
    plate_1 - plate
  )
  (:obj_of_interest
    wooden_cabinet_1_middle_region
  )
  (:init
    (On akita_black_bowl_1 main_table_bowl_region)
    (On plate_1 main_table_plate_region)
    (On wooden_cabinet_1 main_table_cabinet_region)
    (On flat_stove_1 main_table_stove_region)
  )
  (:goal
    (And (Open wooden_cabinet_1_middle_region))
  )
)
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VLA_CACHE", str(tmp_path))
    return tmp_path / "libero_pro"


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x.strip(), y.strip()) for x, y in zip(a, b, strict=True) if x != y]


def libero_file(suite: str, task_id: int) -> Path:
    return Path(get_benchmark("libero").libero_task(suite, task_id).bddl_file)


# ------------------------------------------------------------------------------------------------ tables
def test_suites_protocols_and_registration():
    pro = get_benchmark("libero_pro")
    assert isinstance(pro, LiberoProBenchmark) and pro.default_protocol == "libero_pro"
    kinds = ("lan", "swap")
    assert set(pro.suites) == {f"{base}_{kind}" for base in BASE_SUITES for kind in kinds}
    assert len(pro.suites) == 8
    for suite, (base, _) in SUITE_SOURCES.items():
        assert benchmark_for_suite(suite) is pro and pro.suites[suite].n_tasks == 10
        assert pro.suites[suite].n_init_states == 50
        # LIBERO-PRO's own limits (openvla-oft's), and the base suite's under the LIBERO protocols
        assert pro.max_steps(suite) == {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300,
                                        "libero_10": 520}[base]  # fmt: skip
        assert PROTOCOLS["lerobot"].max_steps[suite] == PROTOCOLS["lerobot"].max_steps[base]
        assert PROTOCOLS["openpi"].max_steps[suite] == PROTOCOLS["openpi"].max_steps[base]
    assert PROTOCOLS["openpi"].actions_per_chunk == 5  # merged across benchmarks, unchanged
    assert PROTOCOLS["lerobot"].max_steps["libero_spatial"] == 280  # LIBERO's own rows untouched
    with pytest.raises(ConfigError, match="libero_object_swap"):
        benchmark_for_suite("libero_object_shuffled")
    with pytest.raises(ConfigError, match="tasks 0..9"):
        pro.instruction("libero_object_lan", 10)


def test_the_tables_cover_every_task_of_the_four_suites():
    for base in BASE_SUITES:
        names = {libero_file(base, task_id).stem for task_id in range(10)}
        assert set(PARAPHRASES[base]) == names == set(SWAP_CANDIDATES[base])
        for name in names:
            assert len(PARAPHRASES[base][name]) == 3
            assert all(p and "(" not in p and ")" not in p for p in PARAPHRASES[base][name])


# --------------------------------------------------------------------------------------------- BDDL edits
def test_language_edit_changes_only_the_language_section():
    edited = bddl.with_language(PROBLEM, "pull the middle drawer of the cabinet")
    assert bddl.language(PROBLEM) == "Open the middle drawer of the cabinet"
    assert bddl.language(edited) == "pull the middle drawer of the cabinet"
    assert changed_lines(PROBLEM, edited) == [
        (
            "(:language Open the middle drawer of the cabinet)",
            "(:language pull the middle drawer of the cabinet)",
        )
    ]
    with pytest.raises(ValueError, match="without parentheses"):
        bddl.with_language(PROBLEM, "open (it)")


def test_swap_plan_and_edit():
    # an object of interest may be a fixture's region: the fixture is what moves
    assert bddl.owner("wooden_cabinet_1_middle_region", ["wooden_cabinet_1", "plate_1"]) == "wooden_cabinet_1"
    assert bddl.owner("basket_1", ["wooden_cabinet_1"]) is None
    candidates = {"wooden_cabinet_1": ("bookshelf_1", "flat_stove_1", "plate_1")}  # bookshelf_1: not placed
    pairs = bddl.plan_swaps(PROBLEM, candidates)
    assert pairs == [("wooden_cabinet_1", "flat_stove_1")]
    edited = bddl.with_swapped_placements(PROBLEM, pairs)
    assert changed_lines(PROBLEM, edited) == [
        ("(On wooden_cabinet_1 main_table_cabinet_region)", "(On wooden_cabinet_1 main_table_stove_region)"),
        ("(On flat_stove_1 main_table_stove_region)", "(On flat_stove_1 main_table_cabinet_region)"),
    ]
    assert bddl.init_placements(edited)["wooden_cabinet_1"] == "main_table_stove_region"
    assert bddl.plan_swaps(PROBLEM, {"plate_1": ("akita_black_bowl_1",)}) == []  # not an object of interest
    with pytest.raises(ValueError, match="both must be placed"):
        bddl.with_swapped_placements(PROBLEM, [("wooden_cabinet_1", "bookshelf_1")])
    with pytest.raises(ValueError, match=r"no \(:goals \.\.\.\) section"):
        bddl.section_span(PROBLEM, ":goals")


def test_every_position_task_moves_an_object_of_interest():
    for base in BASE_SUITES:
        for task_id in range(10):
            text = libero_file(base, task_id).read_text()
            pairs = bddl.plan_swaps(text, SWAP_CANDIDATES[base][libero_file(base, task_id).stem])
            assert pairs, (base, task_id)
            placed, edited = (
                bddl.init_placements(text),
                bddl.init_placements(bddl.with_swapped_placements(text, pairs)),
            )
            for a, b in pairs:
                assert edited[a] == placed[b] and edited[b] == placed[a]
            assert {k: v for k, v in edited.items() if k not in {o for p in pairs for o in p}} == {
                k: v for k, v in placed.items() if k not in {o for p in pairs for o in p}
            }


# ---------------------------------------------------------------------------------------- perturbed tasks
def test_language_suite_task(cache):
    pro, libero = get_benchmark("libero_pro"), get_benchmark("libero")
    task = pro.libero_task("libero_object_lan", 0)
    source = libero_file("libero_object", 0)
    assert (
        task.language
        == pro.instruction("libero_object_lan", 0)
        == "grab alphabet soup and put it into basket"
    )
    assert libero.instruction("libero_object", 0) == "pick up the alphabet soup and place it in the basket"
    assert Path(task.bddl_file) == cache / "libero_object_lan" / source.name
    assert changed_lines(source.read_text(), Path(task.bddl_file).read_text()) == [
        ("(:language Pick the alphabet soup and place it in the basket)",
         "(:language grab alphabet soup and put it into basket)"),
    ]  # fmt: skip
    # the same scene: the LIBERO task's own fixed initial states
    np.testing.assert_array_equal(
        pro.libero_init_states("libero_object_lan", 0), libero.libero_init_states("libero_object", 0)
    )


def test_position_suite_task_and_its_file_is_written_once(cache):
    pro = get_benchmark("libero_pro")
    task = pro.libero_task("libero_goal_swap", 0)
    assert task.language == pro.instruction("libero_goal_swap", 0) == "open the middle drawer of the cabinet"
    assert changed_lines(libero_file("libero_goal", 0).read_text(), Path(task.bddl_file).read_text()) == [
        ("(On wooden_cabinet_1 main_table_cabinet_region)", "(On wooden_cabinet_1 main_table_stove_region)"),
        ("(On flat_stove_1 main_table_stove_region)", "(On flat_stove_1 main_table_cabinet_region)"),
    ]
    stamp = Path(task.bddl_file).stat().st_mtime_ns
    assert pro.libero_task("libero_goal_swap", 0) == task and Path(task.bddl_file).stat().st_mtime_ns == stamp
    assert pro.libero_init_states("libero_goal_swap", 0) == [None] * 50  # drawn by the environment
    assert [p.name for p in (cache / "libero_goal_swap").iterdir()] == [Path(task.bddl_file).name]


# ---------------------------------------------------------------------------------------- the simulator
def solve(env, expert) -> tuple[bool, int, np.ndarray]:
    """Roll ``expert`` out from the environment's current reset: (success, steps, final state)."""
    expert.reset(env)
    steps = 0
    success = False
    while not success and steps < env.max_steps:
        obs, success = env.step(expert.act(env))
        steps += 1
    return success, steps, obs["state"]


@pytest.mark.libero
def test_language_suite_is_the_base_task_with_other_words(cache):
    pro, libero = get_benchmark("libero_pro"), get_benchmark("libero")
    runs = []
    for benchmark, suite in ((libero, "libero_object"), (pro, "libero_object_lan")):
        env = benchmark.make_env(suite, 1, cameras=())
        try:
            env.reset(3, seed=1003)
            runs.append((env.instruction, solve(env, benchmark.make_expert())))
        finally:
            env.close()
    (words, (ok, steps, state)), (lan_words, (lan_ok, lan_steps, lan_state)) = runs
    assert words != lan_words == "grab cream cheese and put into basket"
    assert ok and (lan_ok, lan_steps) == (ok, steps)
    np.testing.assert_array_equal(lan_state, state)  # the same episode, bit for bit


@pytest.mark.libero
def test_position_suite_starts_objects_in_their_swapped_regions_and_the_expert_solves_it(cache):
    pro, libero = get_benchmark("libero_pro"), get_benchmark("libero")
    env = pro.make_env("libero_object_swap", 0, cameras=())
    base = libero.make_env("libero_object", 0, cameras=())
    try:
        assert isinstance(env, LiberoProEnv) and env.max_steps == 280 and env.n_init_states == 50
        base.reset(0, seed=1000)
        soup, dressing = base.object_position("alphabet_soup_1"), base.object_position("salad_dressing_1")
        env.reset(0, seed=1000)
        state = env.init_states[0].copy()
        assert env.init_states[1] is None  # drawn on first use only
        moved_soup, moved_dressing = (
            env.object_position("alphabet_soup_1"),
            env.object_position("salad_dressing_1"),
        )
        # each takes the other's 5 cm region (LIBERO samples inside it): near the other's spot, far from its own
        assert (
            np.linalg.norm(moved_soup[:2] - dressing[:2]) < 0.08 < np.linalg.norm(moved_soup[:2] - soup[:2])
        )
        assert (
            np.linalg.norm(moved_dressing[:2] - soup[:2])
            < 0.08
            < np.linalg.norm(moved_dressing[:2] - dressing[:2])
        )
        # not one of the benchmark's states, and the same state every time (a seeded draw)
        nq = len(state) // 2
        assert np.abs(np.asarray(base.init_states)[:, 1:nq] - state[1:nq]).max(axis=1).min() > 0.05
        again = pro.make_env("libero_object_swap", 0, cameras=())
        try:
            np.testing.assert_array_equal(again.initial_state(0), state)
        finally:
            again.close()
        env.reset(0, seed=1000)
        np.testing.assert_array_equal(env.start_state, state)
        # the expert reads the goal from the perturbed file and solves the moved task
        assert solve(env, pro.make_expert())[0]
    finally:
        env.close()
        base.close()
    with pytest.raises(ConfigError, match="record training data on the LIBERO suite"):
        env.distance_to_benchmark_states()
    assert SWAP_STATE_SEED == 100_000


@pytest.mark.libero
def test_vla_eval_runs_a_perturbed_suite_offline(tmp_path, cache):
    from vla.cli import main

    main(["eval", "--policy", "expert", "--suite", "libero_object_swap", "--tasks", "0", "--episodes-per-task",
          "2", "--protocol", "libero_pro", "--num-envs", "1", "--video", "none", "--out", str(tmp_path)])  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    task = results["per_task"]["libero_object_swap/0"]
    assert (task["episodes"], task["successes"]) == (2, 2)
    assert task["instruction"] == "pick up the alphabet soup and place it in the basket"
    assert results["protocol"]["name"] == "libero_pro"
    assert results["protocol"]["max_steps"] == {"libero_object_swap": 280}
