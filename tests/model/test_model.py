import pytest
import torch
import torch.nn.functional as F

from acoustemo.config import Config
from acoustemo.data.collate import IGNORE_INDEX, Collator, Example
from acoustemo.data.manifest import Utterance
from acoustemo.model.memory import GiB, memory_estimate, meta_model
from acoustemo.model import AcoustEmo, count_parameters

from conftest import make_example, tiny_config


def build(**changes) -> AcoustEmo:
    torch.manual_seed(0)
    return AcoustEmo.from_config(tiny_config(**changes)).eval()


def examples():
    return [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), labels=("sad",),
                                            seed=1)]


def trainable_groups(model):
    """``{"qformers.utterance", "projections.global", ..., "lora"}``: the parts with trainable tensors."""
    groups = set()
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.add("lora" if "lora_" in name else ".".join(name.split(".")[:2]))
    return groups


def test_trainable_parameters_are_exactly_those_of_section_4_1():
    model = build()
    assert trainable_groups(model) == {"qformers.utterance", "projections.utterance", "projections.global",
                                       "projections.visual", "lora"}
    for name, p in model.llm.named_parameters():
        assert p.requires_grad == ("lora_" in name), name
    assert not any(p.requires_grad for p in model.qformers["global"].parameters())
    assert not any(p.requires_grad for p in model.qformers["visual"].parameters())


def test_switches_for_the_global_and_visual_qformers_and_lora():
    assert trainable_groups(build(train_global_qformer=True, train_visual_qformer=True)) == {
        f"{part}.{kind}" for part in ("qformers", "projections") for kind in ("visual", "global", "utterance")
    } | {"lora"}
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
    assert set(model.qformers) == set(model.projections) == {"visual"} | has
    batch = Collator(model.config, model.tokenizer)(examples())
    k, kv = 4, 2
    expected = [kv + (k if "global" in has else 0) + n * k for n in per_sample_windows]
    assert batch.slot_mask.sum(1).tolist() == expected
    assert batch.num_windows == sum(per_sample_windows)
    for code, kind, per_sample in ((1, "visual", [kv, kv]), (2, "global", [k if "global" in has else 0] * 2),
                                   (3, "utterance", [n * k for n in per_sample_windows])):
        assert (batch.slot_kind == code).sum(1).tolist() == per_sample, kind
        if kind in model.qformers and sum(per_sample):
            assert model.slot_tokens(kind, batch).flatten(0, 1).shape == (sum(per_sample), 64)
    assert torch.isfinite(model(batch).loss)


class ConstantQFormer(torch.nn.Module):
    """Stands in for a Q-Former: every token of every slot is ``value`` in each of its ``width`` channels."""

    def __init__(self, value: float, num_queries: int, width: int):
        super().__init__()
        self.value, self.num_queries, self.width = value, num_queries, width

    def forward(self, frames, mask=None):
        return torch.full((frames.shape[0], self.num_queries, self.width), self.value)


@pytest.mark.parametrize("layout", ["interleaved", "prefix"])
def test_each_slot_kind_is_filled_by_its_own_qformer_and_projection(layout):
    model = build(prompt_layout=layout)
    d = model.llm.config.hidden_size
    for value, kind in enumerate(("visual", "global", "utterance"), 1):
        k = model.qformers[kind].num_queries
        model.qformers[kind] = ConstantQFormer(float(value), k, d)
        model.projections[kind] = torch.nn.Identity()
    batch = Collator(model.config, model.tokenizer)(examples())
    embeds = model.embed(batch)
    text = model.llm.get_input_embeddings()(batch.input_ids)
    for code in (1, 2, 3):
        where = batch.slot_kind == code
        assert where.any()
        assert (embeds[where] == float(code)).all()  # kind k's positions hold kind k's tokens, nothing else
    torch.testing.assert_close(embeds[batch.slot_kind == 0], text[batch.slot_kind == 0])
    # the utterance tokens of each sample sit after that sample's own utterance lines, one group per window
    assert (batch.slot_kind == 3).sum(1).tolist() == [2 * 4, 1 * 4]


def test_prefix_layout_trains_and_generates():
    model = build(prompt_layout="prefix")
    batch = Collator(model.config, model.tokenizer)(examples())
    first = int(model.tokenizer.bos_token_id is not None)
    k, kv = 4, 2
    assert batch.slot_mask[0, first:first + kv + 3 * k].all()  # all Q-Former tokens right after BOS
    loss = model(batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert model.qformers["utterance"].query_tokens.grad.abs().sum() > 0  # the prefix slots reach the loss
    preds = model.generate(Collator(model.config, model.tokenizer, train=False)(examples()), max_new_tokens=3,
                           min_new_tokens=3)
    assert [p.id for p in preds] == ["a", "b"]
    assert all(len(model.tokenizer(p.text, add_special_tokens=False)["input_ids"]) >= 1 for p in preds)


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
    from acoustemo.model.prompts import parse_emotions

    for p in preds:
        assert p.text and p.emotions == parse_emotions(p.text)
    assert preds[0].text != preds[1].text  # different audio, different answers from the random model
    with pytest.raises(ValueError, match="train=False"):
        model.generate(Collator(model.config, model.tokenizer)(examples()))


def test_batched_left_padded_generation_equals_one_sample_at_a_time():
    model = build()
    collate = Collator(model.config, model.tokenizer, train=False)
    many = [make_example("a"), make_example("b", seconds=3.0, utterances=((0.3, 2.7, "ok"),), seed=1),
            make_example("c", seconds=6.0, utterances=((0.1, 1.0, "one"), (1.2, 2.0, "two"), (2.5, 5.5, "three")),
                         seed=2)]
    batch = collate(many)
    assert len(set(batch.attention_mask.sum(1).tolist())) == 3  # three lengths: real left padding
    together = model.generate(batch, max_new_tokens=8, min_new_tokens=8)
    alone = [model.generate(collate([ex]), max_new_tokens=8, min_new_tokens=8)[0] for ex in many]
    assert [p.text for p in together] == [p.text for p in alone]


def test_bf16_llm_weights_run_forward_and_generate_on_cpu():
    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config(llm_dtype="bf16"), device="cpu").eval()
    assert model.llm_dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.qformers.parameters())  # Q-Formers keep fp32 weights
    assert all(p.dtype == torch.float32 for p in model.projections.parameters())
    frozen_llm = [p.dtype for n, p in model.llm.named_parameters() if "lora_" not in n]
    assert set(frozen_llm) == {torch.bfloat16}
    batch = Collator(model.config, model.tokenizer)(examples())
    assert model.embed(batch).dtype == torch.bfloat16  # Q-Former tokens cast to the LLM's dtype
    assert torch.isfinite(model(batch).loss.float())
    preds = model.generate(Collator(model.config, model.tokenizer, train=False)(examples()), max_new_tokens=4,
                           min_new_tokens=4)
    assert [p.id for p in preds] == ["a", "b"] and all(p.text for p in preds)


def test_forward_and_generate_move_the_batch_to_the_models_device(monkeypatch):
    from acoustemo.data.collate import Batch

    model = build()
    moved = []
    original = Batch.to
    monkeypatch.setattr(Batch, "to", lambda self, device: moved.append(torch.device(device)) or original(self, device))
    model(Collator(model.config, model.tokenizer)(examples()))
    model.generate(Collator(model.config, model.tokenizer, train=False)(examples()), max_new_tokens=1)
    assert moved == [model.device, model.device]


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
    model = meta_model(cfg)  # what `acoustemo info` builds: the dtypes a recipe loads on a bf16 GPU
    counts = count_parameters(model)
    llama2_7b = 6_738_415_616
    lora = 32 * 4 * 2 * 4096 * 16  # 32 layers x q,k,v,o x (A + B) x 4096 x rank 16
    assert counts["part:llm"] == llama2_7b + lora
    assert counts["part:qformers.global"] == counts["part:qformers.utterance"]
    assert counts["part:projections.utterance"] == 768 * 4096 + 4096
    trainable = counts["part:qformers.utterance"] + 3 * (768 * 4096 + 4096) + lora
    assert counts["trainable"] == trainable
    assert all(p.device.type == "meta" for p in model.parameters())
    # the LLM's frozen weights in bf16; LoRA (peft keeps adapters in fp32), Q-Formers and projections in fp32
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert {d for n, d in dtypes.items() if n.startswith("llm.") and "lora_" not in n} == {torch.bfloat16}
    assert {d for n, d in dtypes.items() if not n.startswith("llm.") or "lora_" in n} == {torch.float32}
    est = memory_estimate(model, batch_size=1, seq_len=cfg.max_length)
    fp32_params = sum(p.numel() for n, p in model.named_parameters() if dtypes[n] == torch.float32)
    assert est.weights == 2 * llama2_7b + 4 * fp32_params  # each weight in the dtype it is loaded in
    assert est.gradients == 4 * trainable and est.optimizer == 8 * trainable
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
    torch.testing.assert_close(warm.qformers["global"].query_tokens, source.qformers["global"].query_tokens)
    torch.testing.assert_close(warm.projections["utterance"].weight, source.projections["utterance"].weight)
    lora = {n: p for n, p in source.named_parameters() if "lora_" in n}
    assert lora  # a whole trained model's tensors: fine-tuning it further starts from all of them
    for n, p in warm.named_parameters():
        if n in lora:
            torch.testing.assert_close(p, lora[n])
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
    assert all(float(p.grad.abs().sum()) == 0 for p in model.qformers["utterance"].parameters())
    # nothing to splice at all (no visual, no global, no utterances) is fine too
    bare = build(use_visual=False, global_qformer=False)
    out = bare(Collator(bare.config, bare.tokenizer)([make_example("silent", utterances=())]))
    assert torch.isfinite(out.loss)


def test_merged_lora_gives_the_same_answers_faster_and_refuses_to_be_saved(tmp_path):
    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config()).eval()
    with torch.no_grad():  # LoRA's B starts at zero: give it weight so that merging has something to fold
        for name, p in model.llm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    collator = Collator(model.config, model.tokenizer, train=False)
    g = torch.Generator().manual_seed(1)
    ex = Example(id="a", audio=torch.randn(120, model.config.audio_dim, generator=g), frame_rate=50.0,
                 utterances=[Utterance(0.1, 1.0, "one"), Utterance(1.2, 2.2, "two")],
                 visual=torch.randn(3, model.config.visual_dim, generator=g))
    batch = collator([ex])
    with torch.no_grad():
        before = model.llm(inputs_embeds=model.embed(batch), attention_mask=batch.attention_mask).logits
        model.merge_lora()
        after = model.llm(inputs_embeds=model.embed(batch), attention_mask=batch.attention_mask).logits
    assert not any("lora_" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="merged"):
        model.save_trainable(tmp_path / "w.safetensors")


def trained_tiny_checkpoint(tmp_path):
    """A tiny model whose LoRA factors are not zero, its trainable tensors saved: (model, file)."""
    torch.manual_seed(0)
    model = AcoustEmo.from_config(tiny_config()).eval()
    with torch.no_grad():
        for name, p in model.llm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.save_trainable(tmp_path / "w.safetensors")
    return model, tmp_path / "w.safetensors"


def test_lora_folded_while_loading_equals_peft_merge_exactly(tmp_path):
    model, weights = trained_tiny_checkpoint(tmp_path)
    torch.manual_seed(0)  # the frozen parts rebuilt as they were
    folded = AcoustEmo.from_config(tiny_config(), fold_lora=True).eval()
    assert not any("lora_" in n for n, _ in folded.named_parameters())
    folded.load_trainable(weights)
    merged = dict(model.merge_lora().named_parameters())
    own = dict(folded.named_parameters())
    assert own.keys() == merged.keys()
    for name, p in own.items():
        assert torch.equal(p, merged[name]), name  # the same operation as peft's: bit for bit
    with pytest.raises(RuntimeError, match="merged"):
        folded.save_trainable(tmp_path / "again.safetensors")
    with pytest.raises(RuntimeError, match="already holds folded LoRA"):
        folded.load_trainable(weights)  # its factors would be added twice


def test_folding_refuses_factors_that_do_not_fit_and_changes_nothing(tmp_path):
    from acoustemo.io import load_tensors, save_tensors
    from acoustemo.model.lora import fold_lora, split_lora

    _, weights = trained_tiny_checkpoint(tmp_path)
    state = load_tensors(weights)
    rest, factors = split_lora(state)
    assert factors and not any("lora_" in k for k in rest)
    module = sorted(factors)[0]
    torch.manual_seed(0)
    plain = AcoustEmo.from_config(tiny_config(), fold_lora=True).eval()
    before = {n: p.clone() for n, p in plain.llm.named_parameters()}
    bad = {**factors, module: {"A": factors[module]["A"]}}
    with pytest.raises(ValueError, match="factor B missing"):
        fold_lora(plain.llm, bad, 2.0)
    bad = {**factors, module: {"A": factors[module]["A"][:, :-1], "B": factors[module]["B"]}}
    with pytest.raises(ValueError, match="do not fit"):
        fold_lora(plain.llm, bad, 2.0)
    with pytest.raises(ValueError, match="not a linear layer"):
        fold_lora(plain.llm, {**factors, "model.norm": factors[module]}, 2.0)
    assert all(torch.equal(p, before[n]) for n, p in plain.llm.named_parameters())
    # a checkpoint without one projection's factors is incomplete; with factors the config does not adapt, foreign
    save_tensors(tmp_path / "short.safetensors", {k: v for k, v in state.items() if f".{module}.lora_" not in k})
    with pytest.raises(KeyError, match="LoRA factors missing"):
        plain.load_trainable(tmp_path / "short.safetensors")
    import dataclasses

    torch.manual_seed(0)
    lora = dataclasses.replace(tiny_config().lora, target_modules=["q_proj"])
    fewer = AcoustEmo.from_config(tiny_config(lora=lora), fold_lora=True)
    with pytest.raises(KeyError, match="modules the config does not adapt"):
        fewer.load_trainable(weights)


def test_lora_is_not_folded_into_bitsandbytes_weights():
    from acoustemo.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be folded into 8bit"):
        AcoustEmo.from_config(tiny_config(), fold_lora=True, quantize="8bit")
