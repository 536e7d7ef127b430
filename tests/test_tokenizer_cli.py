"""`vla tokenizer fit` and `vla tokenizer report` on a real LeRobotDataset."""

import json

import pytest

from vla.cli import main


def test_fit_then_report_compares_tokenizers(synthetic_dataset, tmp_path, capsys):
    main(
        [
            "tokenizer",
            "fit",
            "--dataset",
            str(synthetic_dataset),
            "--horizon",
            "4",
            "--out",
            str(tmp_path / "bin"),
        ]
    )
    main(["tokenizer", "fit", "--dataset", str(synthetic_dataset), "--horizon", "4", "--type", "fast",
          "--options", '{"vocab_size": 300}', "--out", str(tmp_path / "fast")])  # fmt: skip
    out = tmp_path / "report.json"
    main(["tokenizer", "report", "--tokenizer", str(tmp_path / "bin"), "--tokenizer", str(tmp_path / "fast"),
          "--dataset", str(synthetic_dataset), "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "binning" in printed and "fast" in printed and "overlap" in printed
    reports = json.loads(out.read_text())["reports"]
    binning, fast = reports
    assert binning["tokens_per_chunk"]["mean"] == 28 and binning["tokens_per_chunk"]["max"] == 28
    assert fast["tokens_per_chunk"]["mean"] < 28
    assert binning["n_chunks"] == 19  # 21 frames in 2 episodes: 19 have a next frame in the same episode
    for r in reports:
        assert 0.0 <= r["temporal_overlap"] <= 1.0 and r["reconstruction"]["valid_fraction"] == 1.0


def test_report_refuses_mixed_horizons(synthetic_dataset, tmp_path):
    for horizon in ("4", "6"):
        main(["tokenizer", "fit", "--dataset", str(synthetic_dataset), "--horizon", horizon,
              "--out", str(tmp_path / horizon)])  # fmt: skip
    with pytest.raises(SystemExit, match="different horizons"):
        main(["tokenizer", "report", "--tokenizer", str(tmp_path / "4"), "--tokenizer", str(tmp_path / "6"),
              "--dataset", str(synthetic_dataset)])  # fmt: skip


def test_tokenizers_that_use_shifted_chunks_get_them(synthetic_dataset, monkeypatch):
    """Training, the CLI and the demo fit through one function; ActionCodec gets (chunk, chunk one step later)."""
    import numpy as np

    from vla.data.dataset import load_chunked_dataset
    from vla.tokenizers import ActionCodecTokenizer, BinningActionTokenizer
    from vla.train.tokenizer import fit_action_tokenizer

    seen = {}
    monkeypatch.setattr(
        ActionCodecTokenizer,
        "fit",
        lambda self, chunks, shifted=None: seen.update(c=chunks, s=shifted) or self,
    )
    dataset = load_chunked_dataset(synthetic_dataset, 4)
    fit_action_tokenizer("actioncodec", dataset, 4, {"codebook_size": 16})
    assert seen["c"].shape == seen["s"].shape == (19, 4, 7)
    np.testing.assert_allclose(seen["s"][0, :3], seen["c"][0, 1:])  # one step later, same episode
    binning = fit_action_tokenizer("binning", dataset, 4)
    assert isinstance(binning, BinningActionTokenizer) and binning.encode(seen["c"]).shape == (19, 28)
