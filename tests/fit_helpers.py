"""Helpers for the fit tests: a small GGUF writer and llama.cpp's own buffer sizes."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = (
    range(13)
)


def gguf_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_scalar(key: str, vtype: int, value: int | float) -> bytes:
    fmt = {
        UINT8: "<B",
        INT8: "<b",
        UINT16: "<H",
        INT16: "<h",
        UINT32: "<I",
        INT32: "<i",
        FLOAT32: "<f",
        BOOL: "<B",
        UINT64: "<Q",
        INT64: "<q",
        FLOAT64: "<d",
    }[vtype]
    return gguf_string(key) + struct.pack("<I", vtype) + struct.pack(fmt, value)


def kv_str(key: str, value: str) -> bytes:
    return gguf_string(key) + struct.pack("<I", STRING) + gguf_string(value)


def kv_u32_array(key: str, values: list[int]) -> bytes:
    body = b"".join(struct.pack("<I", v) for v in values)
    return gguf_string(key) + struct.pack("<IIQ", ARRAY, UINT32, len(values)) + body


def kv_str_array(key: str, values: list[str]) -> bytes:
    body = b"".join(gguf_string(v) for v in values)
    return gguf_string(key) + struct.pack("<IIQ", ARRAY, STRING, len(values)) + body


def tensor_info(name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    out = gguf_string(name) + struct.pack("<I", len(dims))
    out += b"".join(struct.pack("<Q", d) for d in dims)
    return out + struct.pack("<IQ", ggml_type, offset)


@dataclass
class TinyModel:
    """A valid little llama GGUF file, with parts that tests can break."""

    n_layers: int = 2
    n_embd: int = 64
    n_heads: int = 4
    n_kv_heads: int = 2
    n_vocab: int = 32
    alignment: int = 32
    extra_kv: tuple[bytes, ...] = ()

    def kvs(self) -> list[bytes]:
        kvs = [
            kv_str("general.architecture", "llama"),
            kv_str("general.name", "tiny"),
            kv_scalar("general.file_type", UINT32, 1),
            kv_scalar("llama.block_count", UINT32, self.n_layers),
            kv_scalar("llama.embedding_length", UINT32, self.n_embd),
            kv_scalar("llama.feed_forward_length", UINT32, 128),
            kv_scalar("llama.attention.head_count", UINT32, self.n_heads),
            kv_scalar("llama.attention.head_count_kv", UINT32, self.n_kv_heads),
            kv_scalar("llama.context_length", UINT32, 4096),
            kv_str_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(self.n_vocab)]),
        ]
        return kvs + list(self.extra_kv)

    def tensors(self) -> list[tuple[str, tuple[int, ...], int]]:
        out: list[tuple[str, tuple[int, ...], int]] = [
            ("token_embd.weight", (self.n_embd, self.n_vocab), 1)
        ]
        for layer in range(self.n_layers):
            out.append((f"blk.{layer}.attn_q.weight", (self.n_embd, self.n_embd), 1))
            out.append((f"blk.{layer}.attn_norm.weight", (self.n_embd,), 0))
        out.append(("output_norm.weight", (self.n_embd,), 0))
        return out

    def build(
        self,
        *,
        kvs: list[bytes] | None = None,
        tensors: list[tuple[str, tuple[int, ...], int, int]] | None = None,
        magic: bytes = b"GGUF",
        version: int = 3,
        data: bool = True,
    ) -> bytes:
        kv_list = self.kvs() if kvs is None else kvs
        sizes = {0: 4, 1: 2}
        if tensors is None:
            tensors = []
            offset = 0
            for name, dims, ggml_type in self.tensors():
                tensors.append((name, dims, ggml_type, offset))
                count = 1
                for d in dims:
                    count *= d
                offset += -(-count * sizes[ggml_type] // self.alignment) * self.alignment
        header = magic + struct.pack("<IQQ", version, len(tensors), len(kv_list))
        header += b"".join(kv_list)
        header += b"".join(tensor_info(*t) for t in tensors)
        header += b"\0" * (-len(header) % self.alignment)
        if not data:
            return header
        end = 0
        for _name, dims, ggml_type, offset in tensors:
            count = 1
            for d in dims:
                count *= d
            end = max(end, offset + count * sizes.get(ggml_type, 2))
        return header + b"\0" * end


BUFFER_LINES = {
    "model": re.compile(r"CPU_Mapped model buffer size =\s+([\d.]+) MiB"),
    "kv": re.compile(r"llama_kv_cache:\s+CPU KV buffer size =\s+([\d.]+) MiB"),
    "compute": re.compile(r"sched_reserve:\s+CPU compute buffer size =\s+([\d.]+) MiB"),
}

_LOADER = """
import sys
from llama_cpp import Llama
types = {"f16": 1, "q8_0": 8, "q4_0": 2}
path, ctx, kv, fa = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
Llama(model_path=path, n_ctx=ctx, n_threads=1, verbose=True, flash_attn=fa,
      type_k=types[kv], type_v=types[kv])
"""


def llama_buffers(model: Path, ctx: int, kv_type: str, flash_attn: bool) -> dict[str, float]:
    """llama.cpp's own buffer sizes in MiB, parsed from its verbose log (a subprocess,
    because llama.cpp logs from C straight to stderr)."""
    result = subprocess.run(
        [sys.executable, "-c", _LOADER, str(model), str(ctx), kv_type, "1" if flash_attn else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found: dict[str, float] = {}
    for key, pattern in BUFFER_LINES.items():
        match = pattern.search(result.stderr)
        if match:
            found[key] = float(match.group(1))
    if len(found) != len(BUFFER_LINES):
        raise AssertionError(f"llama.cpp did not report its buffers:\n{result.stderr[-2000:]}")
    return found


_DECODE = """
import sys, time
from llama_cpp import Llama
path, fill, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
threads = int(sys.argv[4])
llm = Llama(model_path=path, n_ctx=fill + n + 256, n_threads=threads, verbose=False, seed=1)
filler = "The quick brown fox jumps over the lazy dog. " * (fill // 10)
ask = "Now write a long new story about a dragon who learns to code."
prompt = "Story:\\n" + filler + "\\n" + ask + "\\n"
best = 0.0
for _ in range(3):
    llm.reset()
    start, count = None, 0
    for _chunk in llm.create_completion(prompt, max_tokens=n, temperature=0.0, stream=True):
        if start is None:
            start = time.perf_counter()
        else:
            count += 1
    if start is not None and count > 8:
        best = max(best, count / (time.perf_counter() - start))
print(len(llm.tokenize(prompt.encode())), best)
"""


def measure_decode_tok_s(
    model: Path, fill: int, tokens: int = 128, threads: int = 2
) -> tuple[int, float]:
    """Decode speed of llama.cpp in-process (best of three) after ``fill`` tokens of prompt.

    Returns:
        ``(prompt_tokens, tok_s)``.
    """
    result = subprocess.run(
        [sys.executable, "-c", _DECODE, str(model), str(fill), str(tokens), str(threads)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    prompt_tokens, tok_s = result.stdout.split()[-2:]
    return int(prompt_tokens), float(tok_s)


def calibrate() -> None:
    """Print measured vs predicted decode speed of the test model on this machine."""
    from conftest import fetch_smollm2

    from localctl.hardware import resolve_hardware
    from localctl.plan import cpu_read_rate
    from localctl.plan import plan as make_plan
    from localctl.request import PlanRequest
    from localctl.shape import shape_from_file

    model = fetch_smollm2()
    hw = resolve_hardware(None)
    print(f"RAM bandwidth (hardware module): {hw.ram_bandwidth_bytes_s / 1e9:.1f} GB/s")
    print(f"CPU read rate the plan uses: {cpu_read_rate(hw) / 1e9:.1f} GB/s")
    for fill in (0, 2000, 5000):
        prompt, tok_s = measure_decode_tok_s(model, fill)
        mean_fill = prompt + 64  # half of the 128 generated tokens
        plan = make_plan(shape_from_file(model), hw, PlanRequest(ctx=mean_fill))
        print(
            f"context {mean_fill:5d} tokens: measured {tok_s:6.1f} tok/s, "
            f"predicted {plan.predicted_tok_s:6.1f}, "
            f"{plan.bytes_per_token / 1e6:.1f} MB read per token"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    calibrate()


def nested_array_header(outer: int = 1 << 16, inner: int = 84) -> bytes:
    """A hostile GGUF header: ``outer`` arrays of ``inner`` empty u8 arrays (about 64 MiB).

    Every byte is well-formed; only the work a parser spends on it is absurd
    (5.5 million nested arrays at the defaults).
    """
    import struct as st

    empty = st.pack("<IQ", UINT8, 0)
    middle = st.pack("<IQ", ARRAY, inner) + empty * inner
    value = st.pack("<IQ", ARRAY, outer) + middle * outer
    kv = gguf_string("evil.nested") + st.pack("<I", ARRAY) + value
    return b"GGUF" + st.pack("<IQQ", 3, 0, 1) + kv
