import numpy as np
import pytest
import torch

from vla.model.policy import IGNORE_INDEX, VLAPolicy
from vla.testing import make_policy

#: The embedded base models of the two backbone families (SmolVLM, LLaVA): every test below runs on both.
BASE_MODELS = ("tiny", "tiny-llava")


@pytest.fixture(scope="module", params=BASE_MODELS)
def backbone_policy(request, synthetic_dataset):
    """A fresh tiny policy per backbone family, binning tokens (shared by this module: do not mutate)."""
    return make_policy(synthetic_dataset, base_model=request.param)


@pytest.mark.parametrize("base_model", BASE_MODELS)
def test_vocabulary_extension_adds_distinct_rows_and_keeps_text_rows(synthetic_dataset, base_model):
    from transformers import AutoModelForImageTextToText

    from vla.model.backbones import resolve_model_source

    base = AutoModelForImageTextToText.from_pretrained(resolve_model_source(base_model))
    policy, _ = make_policy(synthetic_dataset, base_model=base_model)
    old = base.get_input_embeddings().weight.shape[0]
    emb, head = policy.model.get_input_embeddings().weight, policy.model.get_output_embeddings().weight
    assert policy.action_token_offset == old  # new rows start right after the text vocabulary
    assert emb.shape[0] == old + policy.action_tokenizer.vocab_size == head.shape[0]
    assert torch.equal(emb[:old], base.get_input_embeddings().weight)
    assert torch.equal(head[:old], base.get_output_embeddings().weight)
    new = emb[old:]
    assert torch.cdist(new, new).add(torch.eye(len(new)) * 1e9).min() > 1e-3  # all distinct
    assert len(policy.processor.tokenizer) == emb.shape[0]
    assert policy.processor.tokenizer.convert_ids_to_tokens(old) == "<action_0>"


def test_labels_cover_only_action_tokens_and_end_token(backbone_policy):
    import torch.nn.functional as F

    policy, dataset = backbone_policy
    samples = [dataset[0], dataset[11], dataset[15]]
    batch = policy.collate(samples)
    labels, ids = batch["labels"], batch["input_ids"]
    n = policy.action_tokenizer.tokens_per_chunk
    for row in range(3):
        labelled = (labels[row] != IGNORE_INDEX).nonzero().flatten()
        assert len(labelled) == n + 1
        assert torch.equal(labels[row, labelled], ids[row, labelled])
        action_ids = labels[row, labelled[:-1]] - policy.action_token_offset
        expected = policy.action_tokenizer.encode(np.asarray(samples[row]["actions"])[None])[0]
        np.testing.assert_array_equal(action_ids.numpy(), expected)
        assert labels[row, labelled[-1]] == policy.eos_token_id
        assert (labelled.diff() == 1).all()  # one contiguous answer right after the prompt
    # The loss is the mean next-token cross-entropy over exactly those 3 x (n + 1) positions: the prompt,
    # the images and the padding count for nothing.
    with torch.no_grad():
        out = policy.model(**batch)
        logits, targets = out.logits[:, :-1], labels[:, 1:]
        answer = targets != IGNORE_INDEX
        assert int(answer.sum()) == 3 * (n + 1)
        expected = F.cross_entropy(logits[answer].float(), targets[answer])
        assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
        # labelling one prompt position adds a term and changes the loss: the prompt was really left out
        relabelled = dict(batch, labels=labels.clone())
        relabelled["labels"][0, 1] = ids[0, 1]
        assert policy.loss(relabelled).item() != pytest.approx(out.loss.item(), rel=1e-6)


def test_a_batch_is_encoded_as_its_prompts_alone(backbone_policy):
    """collate encodes a batch in one processor call: each prompt's ids and the image inputs are what a
    processor call per prompt gives (the padding of the batch call is dropped whatever side it is on)."""
    from bench.train_step_parts import encode_per_prompt

    policy, dataset = backbone_policy
    longer = {**dataset[5], "task": "pick up the alphabet soup and place it in the basket next to the plate"}
    samples = [dataset[0], longer, dataset[9]]
    ids, images = policy._encode_prompts(samples)
    alone_ids, alone_images = encode_per_prompt(policy, samples)
    assert len({len(row) for row in ids}) == 2  # the longer instruction really was padded in the batch
    for row, single in zip(ids, alone_ids, strict=True):
        assert torch.equal(row, single)
    assert set(images) == set(alone_images)
    for key, value in images.items():
        assert torch.equal(value, alone_images[key])


def test_constrained_decoding_emits_only_action_tokens(backbone_policy):
    from transformers import LogitsProcessorList

    from vla.model.policy import ActionTokenMask

    policy, dataset = backbone_policy
    batch = policy.collate([dataset[0], dataset[3]], with_targets=False, padding_side="left")
    mask = ActionTokenMask(policy.action_token_offset, policy.action_tokenizer.vocab_size)
    # Bias the model hard towards a text token: the mask must still win.
    with torch.no_grad():
        policy.model.get_output_embeddings().weight[5] += 100.0
    try:
        out = policy.model.generate(
            **batch, max_new_tokens=12, min_new_tokens=12, do_sample=False,
            logits_processor=LogitsProcessorList([mask]), eos_token_id=None,
            pad_token_id=policy.processor.tokenizer.pad_token_id,
        )  # fmt: skip
    finally:
        with torch.no_grad():
            policy.model.get_output_embeddings().weight[5] -= 100.0
    new = out[:, batch["input_ids"].shape[1] :]
    lo, hi = policy.action_token_offset, policy.action_token_offset + policy.action_tokenizer.vocab_size
    assert ((new >= lo) & (new < hi)).all()


def test_predict_shapes_units_and_checkpoint_round_trip(backbone_policy, tmp_path):
    policy, dataset = backbone_policy
    obs = [dict(dataset[i]) for i in (0, 7)]
    chunks = policy.predict_action_chunk(obs)
    assert chunks.shape == (2, 4, 7) and chunks.dtype == np.float32
    stats = policy.action_tokenizer.action_stats
    assert (chunks >= stats.min - 1e-6).all() and (chunks <= stats.max + 1e-6).all()  # physical units
    single = policy.predict_action_chunk(obs[0])
    np.testing.assert_allclose(single, chunks[0], atol=1e-6)

    policy.save_pretrained(tmp_path / "ckpt")
    for name in ("model.safetensors", "config.json", "processor_config.json", "tokenizer.json",
                 "norm_stats.json", "vla_policy.json", "action_tokenizer/action_tokenizer.json"):  # fmt: skip
        assert (tmp_path / "ckpt" / name).is_file(), name
    loaded = VLAPolicy.from_pretrained(tmp_path / "ckpt")
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs), chunks)
    assert loaded.action_token_offset == policy.action_token_offset
    assert type(loaded.backbone) is type(policy.backbone) and loaded.config == policy.config


@pytest.mark.parametrize("base_model", BASE_MODELS)
def test_state_in_prompt_when_enabled(synthetic_dataset, base_model):
    policy, dataset = make_policy(synthetic_dataset, base_model=base_model, include_state=True)
    text = policy.prompt_text("Pick up the soup.", np.asarray(dataset[0]["state"]))
    assert "State: " in text and text.count(" ") > 15
    assert "pick up the soup?" in text


@pytest.mark.parametrize("base_model", BASE_MODELS)
def test_variable_length_fast_tokens_train_and_decode(synthetic_dataset, base_model):
    """FAST rows end in PAD_ID: the targets drop it, and generation may stop at the end token."""
    from vla.data.dataset import compute_norm_stats, episode_action_chunks, load_chunked_dataset
    from vla.model.policy import PolicyConfig
    from vla.tokenizers import AutoActionTokenizer

    dataset = load_chunked_dataset(synthetic_dataset, 4)
    chunks = episode_action_chunks(dataset, 4)
    tokenizer = AutoActionTokenizer.from_config(
        "fast", horizon=4, action_dim=7, vocab_size=300, max_tokens=24
    )
    tokenizer.fit(chunks)
    config = PolicyConfig(base_model=base_model, horizon=4)
    policy = VLAPolicy.from_base(config, tokenizer, compute_norm_stats(dataset))
    batch = policy.collate([dataset[0], dataset[1]])
    expected = tokenizer.encode(np.stack([np.asarray(dataset[i]["actions"]) for i in (0, 1)]))
    for row in range(2):
        labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
        n_real = int((expected[row] >= 0).sum())
        assert len(labelled) == n_real + 1 and labelled[-1] == policy.eos_token_id
        assert (labelled[:-1] >= policy.action_token_offset).all()
    assert torch.isfinite(policy.loss(batch))
    chunk = policy.predict_action_chunk(dict(dataset[0]))
    assert chunk.shape == (4, 7) and np.isfinite(chunk).all()

    # an untrained model spells malformed rows; the length constraint makes every row decode exactly
    import dataclasses

    from vla.model.decoding import decode_action_ids

    observations = [dict(dataset[i]) for i in range(6)]
    plain = dataclasses.replace(policy.config, constrain_lengths=False)
    constrained = dataclasses.replace(policy.config, constrain_lengths=True)
    valid = {}
    for name, config in (("plain", plain), ("constrained", constrained)):
        policy.config = config
        batch = {
            k: v for k, v in policy.collate(observations, with_targets=False, padding_side="left").items()
        }
        rows = decode_action_ids(policy.model, batch, policy.decode_spec)
        valid[name] = tokenizer.decode(rows).valid
        if name == "constrained":
            per_token, needed = tokenizer.token_lengths()
            assert all(per_token[row].sum() == needed for row in rows)  # exactly 28 coefficients each
    assert valid["constrained"].all() and not valid["plain"].all()


def test_loss_under_bf16_autocast_matches_float32(backbone_policy, synthetic_dataset):
    """mixed_precision=bf16: SmolVLM writes half-precision image features into float32 embeddings, which
    torch refuses unless the policy casts them (vla.model.policy.match_image_features_dtype)."""
    import torch

    policy, dataset = backbone_policy
    batch = policy.collate([dataset[0], dataset[1]])
    reference = policy.loss(batch).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = policy.model(**batch)
    assert out.logits.dtype == torch.bfloat16
    assert abs(out.loss.item() - reference) < 0.05 * reference


def test_broken_checkpoints_are_refused_at_load_in_one_line(backbone_policy, tmp_path):
    import json
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from vla.model.policy import BrokenPolicyError
    from vla.tokenizers import BinningActionTokenizer

    policy, dataset = backbone_policy
    good = policy.save_pretrained(tmp_path / "good")
    meta = json.loads((good / "vla_policy.json").read_text())
    assert set(meta["integrity"]["weights"]) == {"model.safetensors"}
    VLAPolicy.from_pretrained(good)

    def copy(name):
        return shutil.copytree(good, tmp_path / name)

    # weights changed after saving (a truncated download, an edited file)
    changed = copy("changed")
    weights = load_file(changed / "model.safetensors")
    key = next(iter(weights))
    weights[key] = weights[key] + 1
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BrokenPolicyError, match="model.safetensors differs .*sha256"):
        VLAPolicy.from_pretrained(changed)

    # an incomplete copy: the architecture file is missing
    incomplete = copy("incomplete")
    (incomplete / "config.json").unlink()
    with pytest.raises(BrokenPolicyError, match="missing config.json .*incomplete copy"):
        VLAPolicy.from_pretrained(incomplete)

    # another tokenizer of the very same size swapped in
    swapped = copy("swapped")
    other = BinningActionTokenizer(horizon=4, n_bins=32, strategy="quantile").fit(
        np.random.default_rng(1).uniform(-1, 1, (64, 4, 7))
    )
    shutil.rmtree(swapped / "action_tokenizer")
    other.save_pretrained(swapped / "action_tokenizer")
    with pytest.raises(BrokenPolicyError, match="not the action tokenizer this policy was trained with"):
        VLAPolicy.from_pretrained(swapped)

    # checks that hold without a digest (checkpoints saved before vla recorded them)
    def without_digests(folder):
        meta = json.loads((folder / "vla_policy.json").read_text())
        meta.pop("integrity")
        (folder / "vla_policy.json").write_text(json.dumps(meta))
        return folder

    rows = policy.model.get_input_embeddings().weight.shape[0]
    shifted = without_digests(copy("shifted"))
    meta = json.loads((shifted / "vla_policy.json").read_text())
    meta["action_token_offset"] = rows - 3
    (shifted / "vla_policy.json").write_text(json.dumps(meta))
    with pytest.raises(BrokenPolicyError, match=f"past the model's {rows} embedding rows"):
        VLAPolicy.from_pretrained(shifted)

    nan = without_digests(copy("nan"))
    weights = load_file(nan / "model.safetensors")
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, nan / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BrokenPolicyError, match="weight .* holds NaN"):
        VLAPolicy.from_pretrained(nan)


@pytest.mark.parametrize("base_model", BASE_MODELS)
def test_backbone_gives_the_image_token_layout_of_the_prompt(synthetic_dataset, base_model):
    """Each camera image becomes ``tokens_per_image`` image tokens in the prompt the model sees."""
    policy, dataset = make_policy(synthetic_dataset, base_model=base_model)
    backbone, config = policy.backbone, policy.model.config
    assert backbone.name == {"tiny": "smolvlm", "tiny-llava": "llava"}[base_model]
    image_token = config.image_token_id if hasattr(config, "image_token_id") else config.image_token_index
    batch = policy.collate([dataset[0], dataset[4]], with_targets=False)
    per_row = (batch["input_ids"] == image_token).sum(1)
    assert per_row.tolist() == [len(policy.config.image_keys) * backbone.tokens_per_image(config)] * 2
    assert backbone.tokens_per_image(config) == 16
    # the processor's image inputs reach the model as one batch of both rows' images
    assert batch["pixel_values"].shape[:2] in ((2, 2), (4, 3))
