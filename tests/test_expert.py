"""The scripted expert: BDDL goal parsing, and a real LIBERO task solved end to end."""

from pathlib import Path

import numpy as np
import pytest

from vla.envs.libero.bddl import GoalPredicate, order_goals, parse_bddl_goal
from vla.envs.libero.expert import category
from vla.envs.libero.geometry import footprint

pytestmark = pytest.mark.libero


def bddl_text(suite: str, task_id: int) -> str:
    from vla.envs.libero.setup import ensure_libero

    ensure_libero()
    from libero.libero import benchmark, get_libero_path

    task = benchmark.get_benchmark_dict()[suite]().get_task(task_id)
    return (Path(get_libero_path("bddl_files")) / task.problem_folder / task.bddl_file).read_text()


@pytest.mark.parametrize(
    ("suite", "task_id", "expected"),
    [
        ("libero_object", 0, [GoalPredicate("in", "alphabet_soup_1", "basket_1_contain_region")]),
        ("libero_object", 6, [GoalPredicate("in", "butter_1", "basket_1_contain_region")]),
        ("libero_spatial", 0, [GoalPredicate("on", "akita_black_bowl_1", "plate_1")]),
        ("libero_goal", 0, [GoalPredicate("open", "wooden_cabinet_1_middle_region")]),
    ],
)
def test_goal_is_parsed_from_the_bddl_file(suite, task_id, expected):
    assert parse_bddl_goal(bddl_text(suite, task_id)) == expected


def test_conjunctive_goals_keep_file_order_and_ignore_comments():
    text = """(define (problem p) ; a comment (with parentheses)
      (:objects a_1 - a)
      (:goal (And (TurnOn flat_stove_1) (On moka_pot_1 flat_stove_1_cook_region))))"""
    assert parse_bddl_goal(text) == [
        GoalPredicate("turnon", "flat_stove_1"),
        GoalPredicate("on", "moka_pot_1", "flat_stove_1_cook_region"),
    ]
    assert category("akita_black_bowl_1") == "akita_black_bowl"
    with pytest.raises(ValueError, match="no \\(:goal"):
        parse_bddl_goal("(define (problem p) (:objects a_1 - a))")


def test_closing_a_fixture_waits_for_the_objects_put_into_it():
    close = GoalPredicate("close", "white_cabinet_1_bottom_region")
    put = GoalPredicate("in", "akita_black_bowl_1", "white_cabinet_1_bottom_region")
    assert order_goals([close, put]) == [put, close]
    mug = GoalPredicate("in", "white_yellow_mug_1", "microwave_1_heating_region")
    shut = GoalPredicate("close", "microwave_1")
    assert order_goals([mug, shut]) == [mug, shut]
    # unrelated goals keep file order
    stove = GoalPredicate("turnon", "flat_stove_1")
    pot = GoalPredicate("on", "moka_pot_1", "flat_stove_1_cook_region")
    assert order_goals([stove, pot]) == [stove, pot]
    assert order_goals([shut, stove, mug]) == [stove, mug, shut]


def test_footprint_samples_the_rectangle_densely_enough():
    axis, across = np.array([0.0, -1.0]), np.array([1.0, 0.0])
    points = footprint(axis, across, half_span=0.1, half_width=0.035, step=0.008)
    assert np.allclose(points.min(axis=0), [-0.035, -0.1]) and np.allclose(points.max(axis=0), [0.035, 0.1])
    gaps = np.diff(np.unique(np.round(points[:, 1], 6)))
    assert gaps.max() <= 0.008 + 1e-9


@pytest.mark.slow
def test_expert_solves_libero_object_task_0_within_the_step_limit(tmp_path):
    from vla.eval.config import EvalConfig
    from vla.eval.runner import evaluate

    results = evaluate(
        EvalConfig(
            policy="expert",
            suite="libero_object",
            task_ids=(0,),
            episodes_per_task=1,
            video="none",
            output_dir=str(tmp_path),
        )
    )
    task = results["per_task"]["libero_object/0"]
    assert task["successes"] == 1
    assert not results["protocol"]["shortened"] and results["protocol"]["max_steps"] == {"libero_object": 280}
