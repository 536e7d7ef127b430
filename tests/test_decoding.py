"""Decoding modes (autoregressive, parallel, blockwise): masks, equalities, training, persistence, LoRA."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from vla.config import ConfigError, load_config
from vla.model.decoding import (
    allowed_attention,
    blocks,
    decode_action_ids,
    model_attn_implementation,
    pad_rows,
    training_row,
)
from vla.model.policy import IGNORE_INDEX, PolicyConfig, VLAPolicy
from vla.testing import make_policy
from vla.train.config import TrainConfig

# Prompts of different lengths, so that every batch below is padded.
TASKS = ("pick up the soup", "pick up the alphabet soup and place it in the basket", "open the top drawer")
BLOCK = 4  # 28 tokens per chunk (horizon 4 x 7 dims): 7 blocks of 4


@pytest.fixture(scope="module")
def policies(synthetic_dataset):
    """One fresh tiny policy per mode (shared by the read-only tests of this module), with SDPA's boolean
    masks, which the mask tests read (eager's additive ones are checked against them)."""
    out = {}
    for mode in ("autoregressive", "parallel", "blockwise"):
        out[mode], dataset = make_policy(synthetic_dataset, decoding=mode, decoding_block_size=BLOCK,
                                         attn_implementation="sdpa")  # fmt: skip
    return out, dataset


def observations(dataset, indices=(0, 7, 15)):
    return [dict(dataset[i], task=TASKS[k % len(TASKS)]) for k, i in enumerate(indices)]


# -- the expected mask, derived from the tokens alone ----------------------------------------------------
def fit_batch(policy: VLAPolicy, batch: dict, steps: int) -> list[float]:
    """AdamW (lr 1e-2) on one batch for ``steps`` steps; the loss of each step."""
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=1e-2)
    policy.model.train()
    losses = []
    for _ in range(steps):
        loss = policy.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def expected_mask(policy: VLAPolicy, keys: torch.Tensor, n_queries: int) -> torch.Tensor:
    """(Q, K) bool for one row of key tokens (the queries are the last ``n_queries``), from the rules the
    modes state: prompt and action tokens are causal over prompt and action tokens; a slot sees the whole
    prompt, the action tokens of earlier blocks and the slots of its own block; nobody sees padding;
    every position sees itself."""
    pad = policy.processor.tokenizer.pad_token_id
    lo, slot_lo = policy.action_token_offset, policy.slot_token_offset
    block = policy.config.decoding_block_size if policy.config.decoding == "blockwise" else 10**9
    roles, index = [], []  # role per key: pad / prompt / action / slot; action index or slot block
    n_actions = 0
    for token in keys.tolist():
        if token == pad:
            roles.append("pad"), index.append(-1)
        elif token >= slot_lo:
            roles.append("slot"), index.append((token - slot_lo) // block)
        elif token >= lo:
            roles.append("action"), index.append(n_actions)
            n_actions += 1
        else:
            roles.append("prompt"), index.append(-1)
    n_keys = len(roles)
    mask = torch.zeros(n_queries, n_keys, dtype=torch.bool)
    for qi in range(n_queries):
        q = n_keys - n_queries + qi
        for k in range(n_keys):
            if k == q:
                mask[qi, k] = True
            elif roles[q] == "pad" or roles[k] == "pad":
                continue
            elif roles[q] in ("prompt", "action"):
                mask[qi, k] = roles[k] in ("prompt", "action") and k < q
            else:  # a slot of block index[q]
                b = index[q]
                mask[qi, k] = (
                    roles[k] == "prompt"
                    or (roles[k] == "action" and index[k] < b * block)
                    or (roles[k] == "slot" and index[k] == b)
                )
    return mask


#: Measured before the modes became DecodingMode classes (vla/model/decoding/), on the tiny policy of the
#: ``policies`` fixture: each mode's training loss on ``observations(dataset)`` and the sha256 (16 hex digits)
#: of the action-token ids it decodes for them. The restructuring changed neither.
PINNED = {
    "autoregressive": (6.301027297973633, "0f26bc1e5471f87a"),
    "parallel": (6.3538031578063965, "e42b0eab88b72de6"),
    "blockwise": (6.3517279624938965, "d1ddc4db0e73d80f"),
}


@pytest.mark.parametrize("mode", list(PINNED))
def test_each_mode_gives_its_pinned_loss_and_tokens(policies, mode):
    import hashlib

    policies, dataset = policies
    policy, obs = policies[mode], observations(dataset)
    loss, digest = PINNED[mode]
    with torch.no_grad():
        assert policy.loss(policy.collate(obs)).item() == pytest.approx(loss, rel=1e-5)
    batch = policy.collate(obs, with_targets=False, padding_side="left")
    ids = np.stack(decode_action_ids(policy.model, batch, policy.decode_spec)).astype(np.int64)
    assert hashlib.sha256(ids.tobytes()).hexdigest()[:16] == digest, ids.tolist()


def test_modes_are_registered_classes_behind_one_interface():
    from vla.model.decoding import DECODING_MODES, DecodingMode, get_decoding_mode, register_decoding_mode

    assert DECODING_MODES == ("autoregressive", "parallel", "blockwise")
    for name in DECODING_MODES:
        assert isinstance(get_decoding_mode(name), DecodingMode) and get_decoding_mode(name).name == name
    # what the modes' fixed traits say, through the interface alone
    assert [
        get_decoding_mode(m).n_slot_tokens(28, 4) for m in ("autoregressive", "parallel", "blockwise")
    ] == [
        0,
        28,
        28,
    ]
    assert get_decoding_mode("blockwise").n_slot_tokens(28, 1) == 0
    assert [get_decoding_mode(m).variable_length for m in DECODING_MODES] == [True, False, False]
    with pytest.raises(TypeError, match="must set name"):
        register_decoding_mode(type("Nameless", (DecodingMode,), {}))


def test_config_and_tokenizer_checks(synthetic_dataset):
    from vla.data.dataset import compute_norm_stats, load_chunked_dataset
    from vla.tokenizers import AutoActionTokenizer

    with pytest.raises(ConfigError, match="decoding='beam' is invalid"):
        PolicyConfig(decoding="beam")
    with pytest.raises(ConfigError, match="decoding_block_size=0 is invalid"):
        PolicyConfig(decoding="blockwise", decoding_block_size=0)
    with pytest.raises(ConfigError, match="attn_implementation='flash_attention_2' is invalid.*'sdpa'"):
        PolicyConfig(decoding="parallel", attn_implementation="flash_attention_2")
    PolicyConfig(decoding="autoregressive", attn_implementation="flash_attention_2")  # still allowed
    # The recipe override reaches the policy config.
    config = load_config(
        TrainConfig,
        "recipes/tiny_cpu.yaml",
        ["data.dataset=x", "policy.decoding=blockwise", "policy.decoding_block_size=2"],
    )
    assert (config.policy.decoding, config.policy.decoding_block_size) == ("blockwise", 2)
    # Variable-length tokenizers: a clear error naming the tokenizer and the allowed mode.
    fast = AutoActionTokenizer.from_config("fast", horizon=4, action_dim=7)
    stats = compute_norm_stats(load_chunked_dataset(synthetic_dataset, 4))
    for mode in ("parallel", "blockwise"):
        with pytest.raises(ConfigError, match=f"decoding='{mode}'.*variable-length 'fast'.*'autoregressive'"):
            VLAPolicy.from_base(PolicyConfig(horizon=4, decoding=mode), fast, stats)


def test_auto_attention_is_eager_without_cuda_and_sdpa_where_flash_attention_cannot_go(monkeypatch, caplog):
    import importlib.util

    from vla.model.policy import choose_attn_implementation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # eager is the faster on CPU under bf16 autocast only; SDPA in float32
    assert choose_attn_implementation("auto", "autoregressive", None, torch.bfloat16) == "eager"
    assert choose_attn_implementation("auto", "autoregressive", torch.float32, torch.bfloat16) == "eager"
    assert choose_attn_implementation("auto", "autoregressive") == "sdpa"
    # eager would round half weights' attention probabilities; SDPA's CPU kernel keeps float32
    assert choose_attn_implementation("auto", "autoregressive", torch.bfloat16) == "sdpa"
    assert choose_attn_implementation("sdpa", "autoregressive") == "sdpa"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert choose_attn_implementation("auto", "parallel") == "sdpa"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert choose_attn_implementation("auto", "autoregressive") == "flash_attention_2"
    with caplog.at_level("INFO", logger="vla.model.policy"):
        assert choose_attn_implementation("auto", "parallel") == "sdpa"
    assert "decoding=parallel needs 4D attention masks" in caplog.text


def test_eager_attention_gets_an_additive_mask_and_the_same_tokens(synthetic_dataset, policies):
    by_mode, dataset = policies
    sdpa = by_mode["blockwise"]
    eager, _ = make_policy(synthetic_dataset, decoding="blockwise", decoding_block_size=BLOCK,
                           attn_implementation="eager")  # fmt: skip
    assert model_attn_implementation(eager.model) == "eager"
    batch = eager.collate(observations(dataset))
    mask = batch["attention_mask"]
    assert mask.dtype == torch.float32
    allowed = sdpa.collate(observations(dataset))["attention_mask"]
    assert torch.equal(mask == 0, allowed) and (mask[~allowed] == torch.finfo(torch.float32).min).all()
    torch.testing.assert_close(eager.loss(batch), sdpa.loss(sdpa.collate(observations(dataset))))
    obs = observations(dataset)
    np.testing.assert_array_equal(eager.predict_action_chunk(obs), sdpa.predict_action_chunk(obs))


def test_vocabulary_gets_slot_rows_after_the_action_rows(policies):
    by_mode, _ = policies
    ar, par = by_mode["autoregressive"], by_mode["parallel"]
    n, v = par.action_tokenizer.tokens_per_chunk, par.action_tokenizer.vocab_size
    tok = par.processor.tokenizer
    assert par.slot_token_offset == par.action_token_offset + v
    assert tok.convert_ids_to_tokens(par.slot_token_offset) == "<action_slot_0>"
    assert len(tok) == par.slot_token_offset + n == par.model.get_input_embeddings().weight.shape[0]
    assert len(ar.processor.tokenizer) == ar.action_token_offset + v  # autoregressive adds no slots
    # text and action rows are the same whatever the mode; slot rows are distinct new rows
    emb_ar, emb_par = ar.model.get_input_embeddings().weight, par.model.get_input_embeddings().weight
    assert torch.equal(emb_ar, emb_par[: len(emb_ar)])
    slots = emb_par[par.slot_token_offset :]
    assert torch.cdist(slots, slots).add(torch.eye(n) * 1e9).min() > 1e-3


@pytest.mark.parametrize("mode", ["parallel", "blockwise"])
def test_training_masks_have_the_stated_structure(policies, mode):
    by_mode, dataset = policies
    policy = by_mode[mode]
    samples = observations(dataset, (0, 11, 15))
    batch = policy.collate(samples)
    mask, ids = batch["attention_mask"], batch["input_ids"]
    assert mask.dtype == torch.bool and mask.shape == (3, 1, ids.shape[1], ids.shape[1])
    n = policy.action_tokenizer.tokens_per_chunk
    lengths = (ids != policy.processor.tokenizer.pad_token_id).sum(1)
    assert len(set(lengths.tolist())) == 3  # the rows are padded (on the right)
    slot_lo, lo = policy.slot_token_offset, policy.action_token_offset
    for row in range(3):
        m = mask[row, 0]
        assert torch.equal(m, expected_mask(policy, ids[row], ids.shape[1]))
        is_slot, is_action = ids[row] >= slot_lo, (ids[row] >= lo) & (ids[row] < slot_lo)
        is_prompt = torch.arange(ids.shape[1]) < lengths[row] - is_slot.sum() - is_action.sum()
        # the stated properties, spelled out
        assert not m[is_prompt][:, is_slot].any()  # the prompt never sees a slot
        assert m[is_slot][:, is_prompt].all()  # every slot sees the whole prompt
        assert not m[: lengths[row]][:, lengths[row] :].any()  # nobody sees padding
        slot_ids = ids[row][is_slot] - slot_lo
        blocks_of_slots = slot_ids // BLOCK if mode == "blockwise" else torch.zeros_like(slot_ids)
        slot_mask = m[is_slot][:, is_slot]
        same_block = blocks_of_slots[:, None] == blocks_of_slots[None, :]
        assert slot_mask[same_block].all() and not slot_mask[~same_block].any()  # pairs inside a block
        if mode == "blockwise":
            action_block = torch.arange(n) // BLOCK
            sees_actions = m[is_slot][:, is_action]
            later_or_same = action_block[None, :] >= blocks_of_slots[:, None]
            assert not sees_actions[later_or_same].any() and sees_actions[~later_or_same].all()
        # labels: the action tokens at the positions that predict them, nothing else
        labels = batch["shift_labels"][row]
        targets = policy.action_tokenizer.encode(np.asarray(samples[row]["actions"])[None])[0] + lo
        labelled = labels != IGNORE_INDEX
        assert sorted(labels[labelled].tolist()) == sorted(targets.tolist()) and labelled.sum() == n
        if mode == "parallel":
            assert torch.equal(labels[is_slot], torch.as_tensor(targets))
        else:  # anchors: the last prompt token and the last token of every block
            anchors = [int(lengths[row] - is_slot.sum() - n - 1 + s) for s in range(0, n, BLOCK)]
            assert labels[anchors].tolist() == targets[::BLOCK].tolist()
        # positions: real tokens 0.., a slot stands where the token it replaces would stand
        positions, p = batch["position_ids"][row], int(is_prompt.sum())
        assert positions[: p + (n if mode == "blockwise" else 0)].tolist() == list(
            range(p + (n if mode == "blockwise" else 0))
        )
        shift = 0 if mode == "parallel" else -1
        assert positions[is_slot].tolist() == (slot_ids + p + shift).tolist()


@pytest.mark.parametrize("mode", ["parallel", "blockwise"])
def test_inference_masks_have_the_stated_structure_and_blockwise_reuses_the_cache(policies, mode):
    by_mode, dataset = policies
    policy = by_mode[mode]
    calls = []

    def record(module, args, kwargs):
        cache = kwargs.get("past_key_values")
        calls.append((kwargs["input_ids"].clone(), kwargs["attention_mask"].clone(),
                      0 if cache is None else cache.get_seq_length()))  # fmt: skip

    handle = policy.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        policy.predict_action_chunk(observations(dataset))
    finally:
        handle.remove()
    n = policy.action_tokenizer.tokens_per_chunk
    assert len(calls) == (1 if mode == "parallel" else len(blocks(n, BLOCK)))
    pad = policy.processor.tokenizer.pad_token_id
    assert (calls[0][0][:, 0] == pad).sum() == 2  # left padding: two of the three prompts are shorter
    keys = torch.empty((3, 0), dtype=torch.long)
    for step, (ids, mask, cached) in enumerate(calls):
        assert cached == keys.shape[1]  # the cache holds the prompt and earlier blocks' tokens, no slot
        keys = torch.cat([keys, ids], dim=1)
        assert mask.shape == (3, 1, ids.shape[1], keys.shape[1])
        for row in range(3):
            assert torch.equal(mask[row, 0], expected_mask(policy, keys[row], ids.shape[1])), (step, row)
        keys = keys[:, : keys.shape[1] - int((ids[0] >= policy.slot_token_offset).sum())]
        if mode == "blockwise" and step > 0:  # later passes: the previous block's tokens, then slots
            assert ids.shape[1] == BLOCK + len(blocks(n, BLOCK)[step]) - 1


def test_blockwise_with_one_token_per_block_gives_the_autoregressive_tokens(policies):
    by_mode, dataset = policies
    ar = by_mode["autoregressive"]
    one = VLAPolicy(ar.model, ar.processor, ar.action_tokenizer, ar.norm_stats,
                    dataclasses.replace(ar.config, decoding="blockwise", decoding_block_size=1),
                    ar.action_token_offset)  # fmt: skip
    obs = observations(dataset, (0, 3, 7, 11, 15, 19))
    batch = ar.collate(obs, with_targets=False, padding_side="left")
    assert len(set(batch["attention_mask"].sum(1).tolist())) == 3  # padded
    logits = {"autoregressive": [], "blockwise": []}
    ids = {}
    for name, policy in (("autoregressive", ar), ("blockwise", one)):
        # the logits each forward pass computes for its last position: the same computation, token by token
        hook = ar.model.register_forward_hook(
            lambda m, a, out, name=name: logits[name].append(out.logits[:, -1])
        )
        try:
            ids[name] = np.stack(decode_action_ids(ar.model, batch, policy.decode_spec))
        finally:
            hook.remove()
    np.testing.assert_array_equal(ids["blockwise"], ids["autoregressive"])
    assert len(logits["blockwise"]) == len(logits["autoregressive"]) == ar.action_tokenizer.tokens_per_chunk
    torch.testing.assert_close(torch.stack(logits["blockwise"]), torch.stack(logits["autoregressive"]))
    auto = ids["autoregressive"]
    assert len(np.unique(auto)) > 3  # not a degenerate constant sequence
    # and the chunks through the whole policy
    np.testing.assert_array_equal(one.predict_action_chunk(obs), ar.predict_action_chunk(obs))


@pytest.mark.parametrize("mode", ["parallel", "blockwise"])
def test_inference_equals_the_teacher_forced_training_sequence(policies, mode):
    """Fed its own predictions as targets, the one-pass training sequence computes the logits inference
    computed: training and inference see the same tokens, positions and masks (cache reuse included)."""
    by_mode, dataset = policies
    policy = by_mode[mode]
    spec = policy.decode_spec
    batch = policy.collate(observations(dataset), with_targets=False, padding_side="left")
    passes = []
    hook = policy.model.register_forward_hook(lambda m, a, out: passes.append(out.logits))
    try:
        predicted = np.stack(decode_action_ids(policy.model, batch, spec))
    finally:
        hook.remove()
    inference = torch.cat(passes, dim=1)  # (batch, tokens, vocab): anchor and slots of every pass
    n = spec.tokens_per_chunk
    assert inference.shape[:2] == (3, n)
    prompts = [batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist() for i in range(3)]
    rows = [
        training_row(p, (t + spec.action_offset).tolist(), spec)
        for p, t in zip(prompts, predicted, strict=True)
    ]
    seqs = pad_rows(rows, spec.pad_id, "right")
    with torch.no_grad():
        logits = policy.model(
            input_ids=seqs.input_ids,
            attention_mask=allowed_attention(seqs.layout, seqs.layout)[:, None],
            position_ids=seqs.position_ids,
            pixel_values=batch["pixel_values"],
            pixel_attention_mask=batch["pixel_attention_mask"],
        ).logits
    for row, prompt in enumerate(prompts):
        ids = seqs.input_ids[row].tolist()
        where = [  # the position whose logits predict token j
            len(prompt) - 1 + j if mode == "blockwise" and j % BLOCK == 0 else ids.index(spec.slot_id(j))
            for j in range(n)
        ]
        torch.testing.assert_close(logits[row, where], inference[row], atol=1e-4, rtol=1e-4)
        labels = seqs.shift_labels[row, where]
        assert torch.equal(labels, torch.as_tensor(predicted[row]) + spec.action_offset)
        assert (seqs.shift_labels[row] != IGNORE_INDEX).sum() == n


def test_parallel_emits_valid_action_tokens_only(policies):
    by_mode, dataset = policies
    policy = by_mode["parallel"]
    head = policy.model.get_output_embeddings().weight
    with torch.no_grad():  # bias the model hard towards a text token and a slot token
        head[5] += 100.0
        head[policy.slot_token_offset] += 100.0
    try:
        batch = policy.collate(observations(dataset), with_targets=False, padding_side="left")
        ids = np.stack(decode_action_ids(policy.model, batch, policy.decode_spec))
        chunks, valid = policy.predict_action_chunk(observations(dataset), return_valid=True)
    finally:
        with torch.no_grad():
            head[5] -= 100.0
            head[policy.slot_token_offset] -= 100.0
    assert ids.shape == (3, policy.action_tokenizer.tokens_per_chunk)
    assert ((ids >= 0) & (ids < policy.action_tokenizer.vocab_size)).all()
    assert valid.all() and chunks.shape == (3, 4, 7)
    decoded = policy.action_tokenizer.decode(ids, strict=True)
    np.testing.assert_allclose(decoded.actions, chunks, atol=1e-6)


@pytest.mark.parametrize("base_model", ["tiny", "tiny-llava"])
@pytest.mark.parametrize("mode", ["autoregressive", "parallel", "blockwise"])
def test_each_mode_trains_saves_reloads_and_predicts_identically(
    synthetic_dataset, tmp_path, mode, base_model
):
    policy, dataset = make_policy(
        synthetic_dataset, base_model=base_model, decoding=mode, decoding_block_size=BLOCK
    )
    batch = policy.collate(observations(dataset, (0, 5, 11, 15)))
    losses = fit_batch(policy, batch, steps=6)
    assert losses[-1] < 0.7 * losses[0], losses
    obs = observations(dataset, (0, 5, 11))
    chunks = policy.predict_action_chunk(obs)
    policy.save_pretrained(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt/vla_policy.json").read_text())["config"]["decoding"] == mode
    loaded = VLAPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.config.decoding == mode and loaded.slot_token_offset == policy.slot_token_offset
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs), chunks)


def test_lora_with_parallel_decoding_trains_the_slot_rows(synthetic_dataset, tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    policy, dataset = make_policy(synthetic_dataset, decoding="parallel", finetune="lora", lora_rank=4)
    slots = list(range(policy.slot_token_offset, policy.slot_token_offset + 28))
    trainable = policy.model.peft_config["default"].trainable_token_indices
    assert set(slots) <= set(trainable["embed_tokens"]) and not set(slots) & set(trainable["lm_head"])
    before = policy.model.get_input_embeddings().weight.detach().clone()
    batch = policy.collate(observations(dataset, (0, 5, 11, 15)))
    losses = fit_batch(policy, batch, steps=4)
    assert losses[-1] < losses[0], losses
    obs = observations(dataset, (0, 5))
    chunks = policy.predict_action_chunk(obs)
    policy.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt/adapter_model.safetensors").is_file()
    loaded = VLAPolicy.from_pretrained(tmp_path / "ckpt")  # base + adapter, merged
    after = loaded.model.get_input_embeddings().weight
    text = load_file(tiny_model_dir / "model.safetensors")["model.text_model.embed_tokens.weight"]
    assert torch.equal(after[: len(text)], text)  # text rows untouched
    moved = (after[slots] - before[slots]).norm(dim=1)
    assert (moved > 1e-4).all()  # every slot row learned and was saved
    np.testing.assert_allclose(loaded.predict_action_chunk(obs), chunks, atol=1e-5)


@pytest.mark.parametrize("mode", ["autoregressive", "parallel", "blockwise"])
def test_sampled_decoding_draws_action_tokens_and_a_cold_draw_is_greedy(policies, mode):
    by_mode, dataset = policies
    policy = by_mode[mode]
    spec = policy.decode_spec
    batch = policy.collate(observations(dataset), with_targets=False, padding_side="left")
    greedy = np.stack(decode_action_ids(policy.model, batch, spec))
    cold = np.stack(decode_action_ids(policy.model, batch, spec, temperature=1e-6))
    np.testing.assert_array_equal(cold, greedy)
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append(np.stack(decode_action_ids(policy.model, batch, spec, temperature=1.0)))
    assert all(d.shape == greedy.shape and d.min() >= 0 and d.max() < spec.action_vocab for d in draws)
    np.testing.assert_array_equal(draws[0], draws[1])  # the global generator decides every draw
    assert (draws[0] != greedy).any() and (draws[0] != draws[2]).any()  # an untrained model is unsure


def test_action_samples_execute_the_mean_of_the_drawn_chunks(policies, tmp_path):
    from vla.eval.policies.checkpoint import CheckpointPolicy

    by_mode, dataset = policies
    policy = by_mode["autoregressive"]
    obs = observations(dataset, (0, 7))
    torch.manual_seed(3)
    mean, valid = policy.predict_action_chunk(obs, return_valid=True, samples=4, temperature=1.0)
    # the same draws decoded one by one: rows 0-3 are observation 0's, rows 4-7 observation 1's
    torch.manual_seed(3)
    ids = policy.predict_action_ids([o for o in obs for _ in range(4)], temperature=1.0)
    chunks = policy.action_tokenizer.decode(ids).actions.astype(np.float32).reshape(2, 4, 4, 7)
    np.testing.assert_allclose(mean, chunks.mean(axis=1), rtol=1e-6)
    assert mean.shape == (2, 4, 7) and valid.shape == (2,)
    assert not np.allclose(mean, policy.predict_action_chunk(obs))  # not the greedy chunk

    # the evaluation's policy: its draws come from its seed and call count, not from the global generator
    policy.save_pretrained(tmp_path / "ckpt")
    rollout = CheckpointPolicy(tmp_path / "ckpt", device="cpu")
    runs = []
    for seed in (0, 0, 1):
        rollout.sample_actions(4, 1.0, seed=seed)
        torch.manual_seed(seed + 100)  # whatever ran before
        runs.append([rollout.predict(obs)[0] for _ in range(2)])
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))
    assert not np.array_equal(runs[0][0], runs[0][1]) and not np.array_equal(runs[0][0], runs[2][0])
