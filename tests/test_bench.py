"""The benchmark scripts run (tiny sizes, CPU) and write JSON with both sides of each comparison."""

import json
import math

import pytest


def test_gpu_training_benchmark_runs_on_the_tiny_architecture(tmp_path):
    from bench.gpu_train import ACTION_TOKENS, N_IMAGES, TEXT_TOKENS, main

    out = tmp_path / "gpu.json"
    main(["--preset", "tiny", "--device", "cpu", "--dtype", "float32", "--batch-size", "2", "--steps", "2",
          "--warmup", "1", "--attn", "sdpa,flash_attention_2", "--out", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert {r["mode"] for r in result["results"]} == {"full", "lora"}
    full, lora = sorted(result["results"], key=lambda r: r["mode"])
    assert full["tokens_per_s"] > 0 and 0 < full["mfu"]
    assert lora["params_trainable"] < full["params_trainable"] == full["params_total"] == lora["params_total"]
    assert full["image_tokens_per_image"] == 16
    # two 16-token images, the prompt and the action tokens; throughput is that many tokens per step
    assert full["seq_len"] == lora["seq_len"] == N_IMAGES * 16 + TEXT_TOKENS + ACTION_TOKENS
    for row in (full, lora):
        assert row["tokens_per_s"] * row["step_s"] == pytest.approx(2 * row["seq_len"], rel=0.02)
        assert math.isfinite(row["final_loss"]) and row["final_loss"] > 0
    assert result["skipped"] == [
        {"attn": "flash_attention_2", "reason": "flash-attn not installed or no CUDA"}
    ]
    assert "torch" in result["versions"] and "cpu_count" in result["machine"]


def test_decode_latency_benchmark_runs_both_paths_on_the_tiny_architecture(tmp_path):
    from bench.decode_latency import main

    for extra, measured in (([], {"policy", "decode"}), (["--random-weights"], {"decode"})):
        out = tmp_path / "decode.json"
        main(["--batch-sizes", "1,2", "--warmup", "1", "--repeats", "3", "--out", str(out), *extra])
        result = json.loads(out.read_text())
        rows = result["results"]
        assert {(r["mode"], r["batch_size"], r["measured"]) for r in rows} == {
            (m, b, w) for m in ("autoregressive", "parallel", "blockwise") for b in (1, 2) for w in measured
        }
        passes = {r["mode"]: r["forward_passes"] for r in rows}
        assert passes == {"autoregressive": 16, "parallel": 1, "blockwise": 4}
        assert all(r["latency_ms"] > 0 and r["chunks_per_s"] > 0 for r in rows)
        assert len(result["speedup_vs_autoregressive"]) == 2 * 2 * len(measured)
        latency = {(r["mode"], r["batch_size"], r["measured"]): r["latency_ms"] for r in rows}
        for (mode, batch, what), ms in latency.items():
            if mode != "autoregressive":
                speedup = result["speedup_vs_autoregressive"][f"{mode}_vs_autoregressive_{what}_batch{batch}"]
                assert speedup == pytest.approx(latency[("autoregressive", batch, what)] / ms, abs=0.01)
        # one forward pass instead of 16: parallel decoding is faster than autoregressive, at every batch size
        assert all(
            latency[("parallel", b, "decode")] < latency[("autoregressive", b, "decode")] for b in (1, 2)
        )
        assert "torch" in result["versions"] and "cpu_count" in result["machine"]


@pytest.mark.slow
@pytest.mark.libero
def test_eval_speed_benchmark_runs_both_sides_on_the_same_episodes(tmp_path):
    from bench.eval_speed import main

    out = tmp_path / "eval_speed.json"
    main(["--episodes", "4", "--max-steps", "5", "--runs", "ours,lerobot", "--out", str(out)])
    result = json.loads(out.read_text())
    ours, theirs = result["runs"]
    assert ours["env_steps"] == theirs["env_steps"] == 20 and ours["successes"] == theirs["successes"] == 0
    assert ours["parallel_envs"] == theirs["parallel_envs"] == 2
    assert ours["memory_per_simulator"]["processes"] == theirs["memory_per_simulator"]["processes"] == 2
    assert theirs["full_task_s_extrapolated"] > 0 and set(result["speedup_at_equal_parallel_envs"]) >= {
        "steps_per_s_wall"
    }
