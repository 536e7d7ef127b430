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
    assert ours["image_size"] == [256] and "--env.observation_height=256" in theirs["command"]  # same renders
    assert ours["parallel_envs"] == theirs["parallel_envs"] == 2
    assert ours["memory_per_simulator"]["processes"] == theirs["memory_per_simulator"]["processes"] == 2
    assert theirs["full_task_s_extrapolated"] > 0 and set(result["speedup_at_equal_parallel_envs"]) >= {
        "steps_per_s_wall"
    }


def test_make_bench_runs_each_benchmark_apart_summarizes_and_resumes(tmp_path, monkeypatch, capsys):
    import bench.__main__ as runner

    suite = (
        runner.Benchmark("processor_speed", "processor_speed.py", "image preprocessing",
                         lambda ctx: ["--presets", "tiny,smolvlm2-2.2b", "--batches", "1"], runner._processor),
        runner.Benchmark("broken", "cli_startup.py", "a benchmark that fails", lambda ctx: ["--no-such-flag"]),
        runner.Benchmark("needs_data", "data_pipeline.py", "needs the recorded dataset", runner._needs_dataset([])),
        runner.Benchmark("gpu_only", "gpu_train.py", "GPU only", gpu=True),
        runner.Benchmark("silent", "cli_startup.py", "exits 0, writes nothing", lambda ctx: ["--help"]),
        runner.Benchmark("simulator", "eval_speed.py", "needs LIBERO", libero=True),
    )  # fmt: skip
    monkeypatch.setattr(runner, "BENCHMARKS", suite)
    monkeypatch.setattr(runner, "_cuda_available", lambda: False)
    monkeypatch.setattr(runner, "_libero_available", lambda: False)
    out = tmp_path / "run"
    assert runner.main(["--out", str(out)]) == 1  # one failed: the run says so, the others still ran
    summary = json.loads((out / "summary.json").read_text())
    entries = summary["benchmarks"]
    assert [entries[name]["status"] for name in ("processor_speed", "broken", "needs_data", "gpu_only")] == [
        "ok",
        "failed",
        "skipped",
        "skipped",
    ]
    assert (
        entries["silent"]["status"] == "failed"
        and "no readable silent.json" in entries["silent"]["log_tail"][-1]
    )
    assert entries["simulator"]["why"].startswith("needs the LIBERO simulator")
    assert entries["broken"]["exit_code"] == 2 and "--no-such-flag" in "\n".join(
        entries["broken"]["log_tail"]
    )
    assert "no dataset at" in entries["needs_data"]["why"] and entries["gpu_only"]["why"] == "needs CUDA"
    headline = entries["processor_speed"]["headline"]
    assert headline[0].startswith("tiny: ") and "before the fix" in headline[1]
    assert summary["versions"]["torch"] and summary["machine"]["cpu_count"] and summary["date"]
    markdown = (out / "summary.md").read_text()
    assert "| processor_speed | ok |" in markdown and "## broken: FAILED (exit 2)" in markdown
    assert headline[1] in markdown and f"Command: `python -m bench --out {out}` (" in markdown
    # a rerun keeps what was measured (with its time) and retries only what failed
    measured = (out / "processor_speed.json").read_text()
    assert runner.main(["--out", str(out), "--only", "processor_speed,broken"]) == 1
    entries = json.loads((out / "summary.json").read_text())["benchmarks"]
    assert entries["processor_speed"]["status"] == "kept" and entries["processor_speed"]["seconds"] > 0
    assert (out / "processor_speed.json").read_text() == measured and entries["broken"]["status"] == "failed"
    assert list(entries) == ["processor_speed", "broken", "needs_data", "gpu_only", "silent", "simulator"]
    header = (out / "summary.md").read_text().split("| benchmark |")[0]  # each row credited to its own run
    assert f"- `python -m bench --out {out} --only processor_speed,broken` (" in header
    assert header.split("--only processor_speed,broken` (")[1].split("\n")[0].endswith(": broken")
    assert "processor_speed, needs_data, gpu_only, silent, simulator" in header
    # a truncated result is measured again, not kept
    (out / "processor_speed.json").write_text(measured[: len(measured) // 2])
    assert runner.main(["--out", str(out), "--only", "processor_speed"]) == 0
    assert json.loads((out / "summary.json").read_text())["benchmarks"]["processor_speed"]["status"] == "ok"
    capsys.readouterr()
    assert runner.main(["--out", str(out), "--only", "processor_speed,nope"]) == 2
    assert "unknown benchmark(s) nope; choose from processor_speed, broken" in capsys.readouterr().err


def test_make_bench_headlines_read_every_recorded_result():
    """The summary's one-liners read the JSON the scripts write (the recorded run in docs/bench)."""
    import bench.__main__ as runner

    recorded = sorted(runner.ROOT.joinpath("docs/bench").glob("*/*.json"))
    by_name = {bench.name: bench for bench in runner.BENCHMARKS}
    checked = 0
    for path in recorded:
        if path.stem in by_name:
            lines = runner.headline(by_name[path.stem], {"status": "kept"}, path.parent)
            assert lines and not any(line.startswith("(no headline") for line in lines), (path, lines)
            checked += 1
    assert checked >= 10


def test_make_bench_lists_every_benchmark_in_bench():
    import bench.__main__ as runner

    scripts = {bench.script for bench in runner.BENCHMARKS}
    on_disk = {
        path.name for path in runner.ROOT.joinpath("bench").glob("*.py") if not path.name.startswith("_")
    }
    assert on_disk == scripts  # a new benchmark script joins `make bench`


def test_machine_record_names_the_cpu_and_its_bf16_support():
    """Two "2-core" hosts trained the same recipe 2x apart (bf16 autocast gains nothing on AMX): every result
    records the CPU model and its bfloat16/AMX flags, read from /proc/cpuinfo."""
    from pathlib import Path

    from vla.versions import machine_info

    info = machine_info()
    assert info["cpu_count"] >= 1 and {"platform", "cpu_model", "cpu_bf16_flags"} <= set(info)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = set().union(*(line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                              if line.startswith("flags")))  # fmt: skip
        assert set(info["cpu_bf16_flags"]) == {f for f in flags if "bf16" in f or f.startswith("amx")}
        assert info["cpu_model"]
