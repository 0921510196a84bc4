"""The real test model loads in a real (in-process) llama.cpp and generates tokens."""

from __future__ import annotations

from pathlib import Path


def test_smollm2_generates_tokens_in_process(smollm2_path: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(smollm2_path), n_ctx=512, n_threads=2, verbose=False, seed=1)
    out = llm.create_completion("The capital of France is", max_tokens=16, temperature=0.0)
    text = out["choices"][0]["text"]
    assert out["usage"]["completion_tokens"] >= 2
    assert text.strip()
