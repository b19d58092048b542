"""The AcoustEmo model: what it is made of, one module per part.

- :mod:`~acoustemo.model.windows`  Eq. (1): utterance time stamps -> frame windows, batched gathering
- :mod:`~acoustemo.model.qformer`  Eq. (2): the Q-Former (global, utterance-aware and visual alike)
- :mod:`~acoustemo.model.prompts`  Eq. (3): the instruction prompt with its slots; parsing answers
- :mod:`~acoustemo.model.llm`      the causal LM and tokenizer (hub, local folder, bundled GGUF, tiny)
- :mod:`~acoustemo.model.acoustemo` the module: Q-Formers by slot kind, LoRA LLM, Eq. (4) loss, generate
- :mod:`~acoustemo.model.memory`   parameter counts and a training-memory estimate
"""

from .acoustemo import AcoustEmo, Prediction, count_parameters

__all__ = ["AcoustEmo", "Prediction", "count_parameters"]
