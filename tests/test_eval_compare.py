"""``vla compare``: paired per-episode comparison of evaluation runs (counts, McNemar's exact test, refusals)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vla.cli import main
from vla.config import ConfigError
from vla.eval.compare import compare_runs, eval_run_folder


def write_run(folder: Path, outcomes: list[bool], init_states: str = "benchmark", seed: int = 0) -> Path:
    """An evaluation folder as ``vla eval`` writes it: episode rows per rank and results.json's config."""
    (folder / "episodes").mkdir(parents=True)
    rows = [
        {"suite": "libero_object", "task_id": 0, "episode": i, "success": ok, "steps": 100}
        for i, ok in enumerate(outcomes)
    ]
    half = len(rows) // 2  # two ranks, as a sharded run leaves them
    for rank, part in enumerate((rows[:half], rows[half:])):
        (folder / "episodes" / f"rank-{rank:02d}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in part)
        )
    (folder / "results.json").write_text(json.dumps({"config": {"init_states": init_states, "seed": seed}}))
    return folder


def test_counts_and_exact_mcnemar(tmp_path):
    # 10 episodes: both succeed on 0-3, only A on 4, only B on 5-13 (9), neither on 14-19
    a = [i < 5 for i in range(20)]
    b = [i < 4 or 5 <= i < 14 for i in range(20)]
    result = compare_runs([str(write_run(tmp_path / "a", a))], [str(write_run(tmp_path / "b", b))])
    pooled = result["pooled"]
    assert (pooled["both"], pooled["only_a"], pooled["only_b"], pooled["neither"]) == (4, 1, 9, 6)
    assert pooled["success_a"] == 0.25 and pooled["success_b"] == 0.65
    assert pooled["difference_b_minus_a"] == pytest.approx(0.4)
    # P(split at least as uneven as 1:9 | fair) = 2 * (C(10,0) + C(10,1)) / 2^10
    assert pooled["mcnemar_exact_p"] == pytest.approx(2 * 11 / 1024)
    low, high = pooled["difference_ci95"]
    half = 1.96 * math.sqrt((10 / 20 - 0.4**2) / 20)
    assert (low, high) == pytest.approx((0.4 - half, 0.4 + half))


def test_pairs_pool_and_identical_runs_say_nothing(tmp_path):
    same = [True, False, True, True]
    first = compare_runs([str(write_run(tmp_path / "a0", same))], [str(write_run(tmp_path / "b0", same))])
    assert first["pooled"]["mcnemar_exact_p"] == 1.0 and first["pooled"]["difference_ci95"] == [0.0, 0.0]
    write_run(tmp_path / "a1", [False, False, False, False])
    write_run(tmp_path / "b1", [True, True, False, False])
    pooled = compare_runs(
        [str(tmp_path / "a0"), str(tmp_path / "a1")], [str(tmp_path / "b0"), str(tmp_path / "b1")]
    )
    assert [p["only_b"] for p in pooled["pairs"]] == [0, 2]
    assert pooled["pooled"]["episodes"] == 8 and pooled["pooled"]["only_b"] == 2
    assert pooled["pooled"]["mcnemar_exact_p"] == pytest.approx(0.5)  # 2:0 is not evidence


def test_only_shared_episodes_pair(tmp_path):
    a = write_run(tmp_path / "a", [True, True, False, False])
    b = write_run(tmp_path / "b", [True, False])  # a run stopped halfway
    pair = compare_runs([str(a)], [str(b)])["pairs"][0]
    assert pair["episodes"] == 2 and pair["unpaired_episodes"] == 2


def test_experiment_folder_resolves_to_its_policy_evaluation(tmp_path):
    run = write_run(tmp_path / "exp" / "eval" / "policy-step-004000", [True])
    write_run(tmp_path / "exp" / "eval" / "random", [False])  # a baseline is not the policy
    assert eval_run_folder(tmp_path / "exp") == run
    write_run(tmp_path / "exp" / "eval" / "policy-step-002000", [True])
    with pytest.raises(ConfigError, match="several policy evaluations"):
        eval_run_folder(tmp_path / "exp")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"init_states": "random"}, "init_states='benchmark' against 'random'"),
        ({"seed": 1}, "seed=0 against 1"),
    ],
)
def test_refuses_runs_from_different_initial_states(tmp_path, change, message):
    a = write_run(tmp_path / "a", [True])
    b = write_run(tmp_path / "b", [True], **change)
    with pytest.raises(ConfigError, match=message):
        compare_runs([str(a)], [str(b)])


def test_cli_table_json_and_one_line_errors(tmp_path, capsys):
    a = write_run(tmp_path / "a", [True, False, False])
    b = write_run(tmp_path / "b", [True, True, True])
    main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp.json")])
    printed = capsys.readouterr().out
    assert "| 0 | 3 | 33% | 100% | 1 | 0 | 2 | 0 |" in printed
    assert json.loads((tmp_path / "cmp.json").read_text())["pooled"]["only_b"] == 2
    for argv, message in [
        (["compare", str(a), f"{a},{b}"], "A names 1 evaluation(s) and B 2"),
        (["compare", str(tmp_path), str(b)], "is not an evaluation folder"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        line = str(stop.value.code)  # what the interpreter prints, alone, on exit
        assert line.startswith("error: ") and message in line and "\n" not in line
