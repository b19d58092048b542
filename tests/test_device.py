"""Devices and the LLM's dtype, chosen in one place (acoustemo.device), and their errors."""

import pytest
import torch

from acoustemo.cli import main
from acoustemo.device import llm_dtype, resolve_device
from acoustemo.errors import ConfigError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")


def test_auto_picks_the_cpu_here_and_names_parse():
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_llm_dtype_auto_is_fp32_on_cpu_and_16_bit_on_gpus():
    assert llm_dtype("auto", "cpu") == torch.float32
    assert llm_dtype("auto", "meta", bf16_supported=True) == torch.bfloat16  # what `info` estimates for a GPU
    assert llm_dtype("auto", "meta", bf16_supported=False) == torch.float16
    assert llm_dtype("bf16", "cpu") == torch.bfloat16  # allowed on the CPU (slow; tests of the dtype plumbing)
    assert llm_dtype("fp16", "cpu") == torch.float16


def test_bf16_on_a_gpu_without_it_is_a_config_error():
    with pytest.raises(ConfigError, match="does not support bfloat16"):
        llm_dtype("bf16", torch.device("cuda"), bf16_supported=False)


@no_cuda
@pytest.mark.parametrize("name, message", [("cuda", "CUDA is not available"), ("cuda:3", "CUDA is not available"),
                                           ("tpu", "not a device name|unsupported device"),
                                           ("gpu!", "not a device name")])
def test_absent_or_unknown_devices_are_config_errors(name, message):
    with pytest.raises(ConfigError, match=message):
        resolve_device(name)


@no_cuda
def test_the_commands_refuse_an_absent_device_with_one_line_and_status_2(tmp_path, capsys):
    media = tmp_path / "a.wav"
    media.write_bytes(b"")
    for argv in (["evaluate", "--checkpoint", str(tmp_path), "--device", "cuda"],
                 ["predict", str(media), "--checkpoint", str(tmp_path), "--device", "cuda:1"],
                 ["extract", "--manifest", str(tmp_path / "m.jsonl"), "--cache", str(tmp_path / "c"),
                  "--device", "cuda"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "CUDA is not available" in err[0], (argv, err)
