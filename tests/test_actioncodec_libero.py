"""scripts/actioncodec_libero.py: the corpus file is held out by episode and chunks never cross episodes."""

import numpy as np

from scripts.actioncodec_libero import prepare
from vla.tokenizers.diagnostics import chunk_pairs


def _stage(staging, suite, task, episode, n, kept=True):
    folder = staging / suite / f"task-{task:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    actions = np.full((n, 7), 1000 * task + 100 * episode, np.float32) + np.arange(n)[:, None]
    np.savez(folder / f"episode-{episode:03d}.npz", actions=actions, kept=np.asarray(kept),
             success=np.asarray(True), seed=np.asarray(1000 + episode))  # fmt: skip


def test_prepare_holds_out_whole_episodes_and_chunks_stay_inside_them(tmp_path):
    staging = tmp_path / "corpus.staging"
    (staging).mkdir()
    (staging / "settings.json").write_text("{}")
    for task in (0, 1):
        for episode in range(4):
            _stage(staging, "libero_object", task, episode, n=5 + episode)
    _stage(staging, "libero_object", 2, 0, n=9, kept=False)  # failed and dropped: never read
    out = tmp_path / "episodes.npz"
    prepare(staging, out, heldout_every=2, episodes_per_task=3)
    episodes = dict(np.load(out))
    assert episodes["episode"].tolist() == [0, 1, 2, 0, 1, 2]
    assert episodes["heldout"].tolist() == [False, True, False, False, True, False]
    train, train_next = chunk_pairs(episodes, heldout=False, horizon=3)
    test, _ = chunk_pairs(episodes, heldout=True, horizon=3)
    # every chunk holds one episode's actions (value // 100 = 10 x task + episode), padded with its last
    for chunks in (train, test):
        assert (chunks.min(axis=(1, 2)) // 100 == chunks.max(axis=(1, 2)) // 100).all()
    assert {int(v) % 1000 // 100 for v in test[:, 0, 0]} == {1}  # only episode 1 of each task is held out
    assert {int(v) % 1000 // 100 for v in train[:, 0, 0]} == {0, 2}
    assert len(test) == 2 * (6 - 1) and len(train) == 2 * ((5 - 1) + (7 - 1))
    np.testing.assert_array_equal(train[1:4, 0], train_next[0:3, 0])  # shifted = one step later
    np.testing.assert_array_equal(train[3, 1:], np.repeat(train[3, 1:2], 2, 0))  # padded at the end
