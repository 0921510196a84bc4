"""``localctl chat``: one-shot (or line REPL) streaming chat with metrics and cost."""

from __future__ import annotations

import argparse
import sys
from typing import Any

POWER_SAMPLE_S = 0.5
"""How often power is sampled while a reply streams (the mean prices its energy)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``chat`` verb."""
    parser = subparsers.add_parser(
        "chat",
        help="chat with an OpenAI-compatible server, with metrics",
        description="Stream a reply from a server and print tok/s, TTFT, API-equivalent cost "
        "and energy cost (power measured via NVML/RAPL where readable, else [cost] power_w). "
        "The prompt comes from --prompt, else stdin when it is not a terminal, else a REPL.",
    )
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--prompt", help="the user message")
    parser.add_argument("--system", help="system prompt")
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--api-key", help="bearer key (found by itself for servers localctl started)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not save the conversation")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def _document(reply: Any, power: Any, usd_per_kwh: float) -> dict[str, Any]:
    from localctl.cost import TOKENIZER_CAVEAT, api_equivalent, energy_cost_usd, price_source

    metrics = reply.metrics
    energy_wh = power.watts * metrics.total_s / 3600.0
    return {
        "text": reply.text,
        "status": reply.status,
        "finish_reason": reply.finish_reason,
        "error": reply.error,
        "prompt_tokens": metrics.prompt_tokens,
        "completion_tokens": metrics.completion_tokens,
        "ttft_s": round(metrics.ttft_s, 4),
        "prompt_tok_s": round(metrics.prompt_tok_s, 2),
        "gen_tok_s": round(metrics.gen_tok_s, 2),
        "total_s": round(metrics.total_s, 4),
        "token_count_source": metrics.token_count_source,
        "timing_source": metrics.timing_source,
        "api_equivalent_usd": api_equivalent(metrics.prompt_tokens, metrics.completion_tokens),
        "price_source": price_source(),
        "power_w": round(power.watts, 2),
        "power_source": power.source,
        "energy_measured": power.measured,
        "energy_wh": energy_wh,
        "energy_usd": energy_cost_usd(metrics.total_s, power.watts, usd_per_kwh),
        "electricity_usd_per_kwh": usd_per_kwh,
        "caveat": TOKENIZER_CAVEAT,
    }


async def _one_turn(
    args: argparse.Namespace,
    messages: list[dict[str, str]],
    conversation: Any,
    power_meter: Any,
) -> tuple[Any, Any]:
    """Stream one reply; return it with the mean power drawn while it streamed."""
    import time

    from localctl.chat import ReplyDone, TokenDelta, stream_chat
    from localctl.meters import mean_power

    reply = None
    power_meter.read()  # starts the RAPL interval at the request
    readings: list[Any] = []
    next_sample = time.monotonic() + POWER_SAMPLE_S
    async for event in stream_chat(
        args.url,
        messages,
        api_key=args.api_key,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
        system=args.system,
    ):
        if time.monotonic() >= next_sample:
            readings.append(power_meter.read())
            next_sample = time.monotonic() + POWER_SAMPLE_S
        if isinstance(event, TokenDelta):
            if conversation is not None:
                conversation.delta(event.text)
            if not args.json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        elif isinstance(event, ReplyDone):
            reply = event.reply
    readings.append(power_meter.read())
    if not args.json:
        sys.stdout.write("\n")  # the reply is a line of its own, also when piped to a file
        sys.stdout.flush()
    assert reply is not None
    if conversation is not None:
        conversation.end_reply(reply.text, reply.status)
    return reply, mean_power(readings)


def _power_label(doc: dict[str, Any]) -> str:
    source = doc["power_source"]
    if doc["energy_measured"]:
        return f"measured ({source})"
    if source == "config":
        return "assumed from [cost] power_w"
    return "estimated: no GPU/CPU power meter readable; set [cost] power_w"


def _print_metrics(reply: Any, doc: dict[str, Any]) -> None:
    costs = ", ".join(f"{model} ${usd:.6f}" for model, usd in doc["api_equivalent_usd"].items())
    print(
        f"[{doc['prompt_tokens']} prompt + {doc['completion_tokens']} completion tokens · "
        f"TTFT {doc['ttft_s']:.3f} s · prompt {doc['prompt_tok_s']:.1f} tok/s · "
        f"generation {doc['gen_tok_s']:.1f} tok/s]",
        file=sys.stderr,
    )
    print(f"[API-equivalent: {costs} · {doc['price_source']}]", file=sys.stderr)
    print(
        f"[energy: {doc['energy_wh']:.4f} Wh = ${doc['energy_usd']:.6f} at "
        f"${doc['electricity_usd_per_kwh']:g}/kWh · {doc['power_w']:.0f} W {_power_label(doc)}]",
        file=sys.stderr,
    )
    if reply.status != "complete":
        print(f"[reply {reply.status}: {reply.error}]", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl chat``."""
    import asyncio

    from localctl.config import load_config
    from localctl.conversations import Conversation
    from localctl.errors import BadInputError
    from localctl.meters import PowerMeter
    from localctl.output import emit_json

    prompt = args.prompt
    repl = False
    if prompt is None:
        if sys.stdin.isatty():
            repl = not args.json
            if not repl:
                raise BadInputError("--json needs --prompt or a prompt on stdin")
        else:
            prompt = sys.stdin.read().strip()
            if not prompt:
                raise BadInputError("empty prompt on stdin")
    cost = load_config().cost
    power_meter = PowerMeter(cost.power_w)
    conversation = None if args.no_save else Conversation.new(title=(prompt or "chat")[:60])
    messages: list[dict[str, str]] = []
    while True:
        if repl:
            try:
                prompt = input("> ").strip()
            except EOFError:
                return 0
            if not prompt:
                continue
        messages.append({"role": "user", "content": prompt or ""})
        if conversation is not None:
            conversation.add("user", prompt or "")
        reply, power = asyncio.run(_one_turn(args, messages, conversation, power_meter))
        messages.append({"role": "assistant", "content": reply.text})
        doc = _document(reply, power, cost.electricity_usd_per_kwh)
        if args.json:
            emit_json(doc)
        else:
            _print_metrics(reply, doc)
        if not repl:
            return 0 if reply.status == "complete" else 1
