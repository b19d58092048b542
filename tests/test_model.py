import math

import pytest
import torch
import torch.nn.functional as F

from acoustemo.config import Config
from acoustemo.data.collate import IGNORE_INDEX, Collator
from acoustemo.info import GiB, memory_estimate
from acoustemo.model import AcoustEmo, count_parameters

from conftest import make_example, tiny_config


def build(**changes) -> AcoustEmo:
    torch.manual_seed(0)
    return AcoustEmo.from_config(tiny_config(**changes)).eval()


def examples():
    return [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), labels=("sad",),
                                            seed=1)]


def trainable_groups(model):
    groups = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.add("lora" if "lora_" in name else name.split(".")[0])
    return groups


def test_trainable_parameters_are_exactly_those_of_section_4_1():
    model = build()
    assert trainable_groups(model) == {"utterance_qformer", "utterance_proj", "global_proj", "visual_proj", "lora"}
    for name, p in model.llm.named_parameters():
        assert p.requires_grad == ("lora_" in name), name
    assert not any(p.requires_grad for p in model.global_qformer.parameters())
    assert not any(p.requires_grad for p in model.visual_qformer.parameters())


def test_switches_for_the_global_and_visual_qformers_and_lora():
    assert trainable_groups(build(train_global_qformer=True, train_visual_qformer=True)) == {
        "utterance_qformer", "utterance_proj", "global_qformer", "global_proj", "visual_qformer", "visual_proj",
        "lora"}
    from acoustemo.config import LoRAConfig

    no_lora = build(lora=LoRAConfig(enabled=False))
    assert "lora" not in trainable_groups(no_lora)
    assert not any(p.requires_grad for p in no_lora.llm.parameters())


def test_loss_is_eq4_on_the_answer_tokens_only():
    model = build()
    batch = Collator(model.config, model.tokenizer)(examples())
    out = model(batch)
    logits = out.logits[:, :-1]  # position t predicts token t + 1
    targets = batch.labels[:, 1:]
    keep = targets != IGNORE_INDEX
    manual = F.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(out.loss, manual, rtol=1e-5, atol=1e-6)
    # every prompt, slot and padding position is ignored
    assert not (keep & batch.slot_mask[:, 1:]).any()
    assert int(keep.sum()) == sum(len(model.tokenizer(t, add_special_tokens=False)["input_ids"]) + 1
                                  for t in (" happy, calm", " sad"))
    # the acoustic frames do reach the answer's loss, and padded frames do not
    batch.audio.requires_grad_(True)
    model(batch).loss.backward()
    grad = batch.audio.grad.abs().sum(-1)  # (B, L_max)
    assert (grad[batch.audio_mask] > 0).all()
    assert (grad[~batch.audio_mask] == 0).all()


@pytest.mark.parametrize(
    "changes, per_sample_windows, has",
    [
        ({}, [2, 1], {"global", "utterance"}),
        ({"global_qformer": False}, [2, 1], {"utterance"}),
        ({"windows": "fixed"}, [2, 2], {"global", "utterance"}),  # 4 s -> 2 windows, 3 s -> 2 windows
        ({"utterance_qformer": False}, [0, 0], {"global"}),
    ],
    ids=["full", "no-global", "fixed-2s", "no-utterance"],
)
def test_ablations_of_table_2_give_the_expected_token_counts(changes, per_sample_windows, has):
    model = build(**changes)
    assert (model.global_qformer is not None) == ("global" in has)
    assert (model.utterance_qformer is not None) == ("utterance" in has)
    batch = Collator(model.config, model.tokenizer)(examples())
    k, kv = 4, 2
    expected = [kv + (k if "global" in has else 0) + n * k for n in per_sample_windows]
    assert batch.slot_mask.sum(1).tolist() == expected
    assert batch.num_windows == sum(per_sample_windows)
    assert model.modality_tokens(batch).shape == (sum(expected), model.llm.config.hidden_size)
    assert torch.isfinite(model(batch).loss)


def test_prefix_layout_trains_and_generates():
    model = build(prompt_layout="prefix")
    batch = Collator(model.config, model.tokenizer)(examples())
    first = int(model.tokenizer.bos_token_id is not None)
    k, kv = 4, 2
    assert batch.slot_mask[0, first:first + kv + 3 * k].all()  # all Q-Former tokens right after BOS
    assert torch.isfinite(model(batch).loss)
    (p, _) = model.generate(Collator(model.config, model.tokenizer, train=False)(examples()), max_new_tokens=3)
    assert isinstance(p.text, str)


def test_right_padding_never_changes_a_sample():
    model = build()
    collate = Collator(model.config, model.tokenizer)
    short = make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1)
    alone = model(collate([short])).logits[0]
    together = collate([make_example("a", seconds=6.0), short])
    n = int(together.attention_mask[1].sum())
    assert n == alone.shape[0] < together.input_ids.shape[1]
    torch.testing.assert_close(model(together).logits[1, :n], alone, rtol=0, atol=1e-4)


def test_a_few_optimizer_steps_lower_the_loss_and_generation_learns_the_answer():
    model = build()
    batch = Collator(model.config, model.tokenizer)([make_example("a")])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(30):
        loss = model(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[5] < losses[0] and losses[-1] < 0.1 * losses[0]
    model.eval()
    (pred,) = model.generate(Collator(model.config, model.tokenizer, train=False)([make_example("a")]),
                             max_new_tokens=16)
    assert pred.id == "a" and pred.emotions == ["happy", "calm"] and pred.text == "happy, calm"


def test_generation_runs_and_parses_a_batch():
    model = build()
    batch = Collator(model.config, model.tokenizer, train=False)(examples())
    preds = model.generate(batch, max_new_tokens=6, min_new_tokens=6)
    assert [p.id for p in preds] == ["a", "b"]
    from acoustemo.prompts import parse_emotions

    for p in preds:
        assert isinstance(p.text, str) and p.emotions == parse_emotions(p.text)
    with pytest.raises(ValueError, match="train=False"):
        model.generate(Collator(model.config, model.tokenizer)(examples()))


def test_trainable_weights_round_trip_through_safetensors(tmp_path):
    model = build()
    path = tmp_path / "trainable.safetensors"
    model.save_trainable(path)
    other = AcoustEmo.from_config(tiny_config())  # different random init
    batch = Collator(model.config, model.tokenizer)(examples())
    other.eval()
    assert not torch.isclose(other(batch).loss, model(batch).loss)
    torch.manual_seed(0)
    fresh = build()  # same frozen weights as `model` (same seed)
    fresh.load_trainable(path)
    torch.testing.assert_close(fresh(batch).loss, model(batch).loss)
    with pytest.raises(KeyError, match="not in this model"):
        build(global_qformer=False).load_trainable(path)


def test_paper_preset_builds_on_meta_and_fits_one_24gb_gpu():
    cfg = Config.from_name("paper").model
    model = AcoustEmo.from_config(cfg, device="meta", dtype=torch.bfloat16)
    counts = count_parameters(model)
    llama2_7b = 6_738_415_616
    lora = 32 * 4 * 2 * 4096 * 16  # 32 layers x q,k,v,o x (A + B) x 4096 x rank 16
    assert counts["part:llm"] == llama2_7b + lora
    assert counts["part:global_qformer"] == counts["part:utterance_qformer"]
    assert counts["part:utterance_proj"] == 768 * 4096 + 4096
    trainable = counts["part:utterance_qformer"] + 3 * (768 * 4096 + 4096) + lora
    assert counts["trainable"] == trainable
    assert all(p.device.type == "meta" for p in model.parameters())
    est = memory_estimate(model, batch_size=1, seq_len=cfg.max_length)
    assert est.weights > 2 * llama2_7b  # bf16 weights alone: 12.6 GiB
    assert 13 * GiB < est.total < 24 * GiB
    assert memory_estimate(model, batch_size=8, seq_len=1024, gradient_checkpointing=False).total > 24 * GiB


def test_qformer_weights_warm_start_a_model_and_bad_paths_are_config_errors(tmp_path):
    from acoustemo.errors import ConfigError

    source = build(train_global_qformer=True)
    with torch.no_grad():
        for p in source.parameters():
            if p.requires_grad:
                p.add_(1.0)  # differ from the same-seed initialisation of `warm`
    path = tmp_path / "start.safetensors"
    source.save_trainable(path)
    warm = build(qformer_weights=str(path))  # loaded after LoRA is attached: LoRA keys fit too
    torch.testing.assert_close(warm.global_qformer.query_tokens, source.global_qformer.query_tokens)
    torch.testing.assert_close(warm.utterance_proj.weight, source.utterance_proj.weight)
    with pytest.raises(ConfigError, match="no such file"):
        build(qformer_weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(ConfigError, match="not in this model"):
        build(qformer_weights=str(path), global_qformer=False)


def test_batches_without_utterances_keep_every_trainable_parameter_in_the_graph():
    model = build().train()
    batch = Collator(model.config, model.tokenizer)([make_example("silent", utterances=())])
    assert batch.num_windows == 0
    model(batch).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing  # DDP needs a gradient (zero is fine) for every parameter on every process
    assert all(float(p.grad.abs().sum()) == 0 for p in model.utterance_qformer.parameters())
    # nothing to splice at all (no visual, no global, no utterances) is fine too
    bare = build(use_visual=False, global_qformer=False)
    out = bare(Collator(bare.config, bare.tokenizer)([make_example("silent", utterances=())]))
    assert torch.isfinite(out.loss)
