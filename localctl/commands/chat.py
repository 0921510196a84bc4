"""``localctl chat``: one-shot (or line REPL) streaming chat with metrics and cost."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localctl.chat_session import ChatSession, TurnEnded
    from localctl.config import CostConfig
    from localctl.replies import Reply


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
        "--api-key",
        help="bearer key (found by itself for servers localctl started; else LOCALCTL_API_KEY)",
    )
    parser.add_argument("--api-key-file", metavar="FILE", help="read the bearer key from FILE")
    parser.add_argument("--no-save", action="store_true", help="do not save the conversation")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def _document(ended: TurnEnded, cost: CostConfig) -> dict[str, Any]:
    from localctl.cost import TOKENIZER_CAVEAT, api_equivalent, energy_cost_usd, price_source

    reply, power, usd_per_kwh = ended.reply, ended.power, cost.electricity_usd_per_kwh
    metrics = reply.metrics
    energy_wh = power.watts * metrics.total_s / 3600.0
    return {
        "text": reply.text,
        "status": reply.status,
        "finish_reason": reply.finish_reason,
        "error": reply.error,
        "reasoning": reply.reasoning,
        "prompt_tokens": metrics.prompt_tokens,
        "completion_tokens": metrics.completion_tokens,
        "reasoning_tokens": metrics.reasoning_tokens,
        "context_tokens": ended.context_tokens,
        "n_ctx": ended.n_ctx,
        "cached_tokens": metrics.cached_tokens,
        "draft_tokens": metrics.draft_tokens,
        "draft_accepted": metrics.draft_accepted,
        "ttft_s": round(metrics.ttft_s, 4),
        "prompt_tok_s": round(metrics.prompt_tok_s, 2),
        "gen_tok_s": round(metrics.gen_tok_s, 2),
        "total_s": round(metrics.total_s, 4),
        "token_count_source": metrics.token_count_source,
        "timing_source": metrics.timing_source,
        "api_equivalent_usd": api_equivalent(
            metrics.prompt_tokens, metrics.completion_tokens, cost.api_models
        ),
        "price_source": price_source(cost.api_models),
        "power_w": round(power.watts, 2),
        "power_source": power.source,
        "energy_measured": power.measured,
        "energy_wh": energy_wh,
        "energy_usd": energy_cost_usd(metrics.total_s, power.watts, usd_per_kwh),
        "electricity_usd_per_kwh": usd_per_kwh,
        "caveat": TOKENIZER_CAVEAT,
    }


PROGRESS_AFTER_S = 1.0
"""A prompt still being read after this long shows its progress."""


async def _one_turn(session: ChatSession, prompt: str, *, echo: bool) -> TurnEnded:
    """Stream one reply (to stdout when ``echo``); return its ``TurnEnded``."""
    from localctl.chat_session import ContextTrimmed, SavingStopped, TurnEnded
    from localctl.replies import PromptProgress, ThinkingDelta, TokenDelta

    ended = None
    streamed = thinking = progress_shown = False
    try:
        async for event in session.send(prompt):
            if isinstance(event, TokenDelta):
                if echo and thinking:
                    sys.stderr.write("\n[/thinking]\n")
                thinking = False
                streamed = True
                if echo:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, ThinkingDelta):
                if echo:
                    sys.stderr.write(event.text if thinking else f"[thinking] {event.text}")
                    sys.stderr.flush()
                thinking = True
            elif isinstance(event, PromptProgress):
                if echo and event.elapsed_s >= PROGRESS_AFTER_S and event.processed < event.total:
                    progress_shown = True
                    print(
                        f"\r[prompt {event.processed:,} / {event.total:,} tokens, "
                        f"{event.elapsed_s:.1f} s]",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )
            elif isinstance(event, ContextTrimmed):
                print(f"[{event.describe()}]", file=sys.stderr)
            elif isinstance(event, SavingStopped):
                print(f"[{event.reason}]", file=sys.stderr)
            elif isinstance(event, TurnEnded):
                ended = event
    finally:
        if progress_shown:
            print(file=sys.stderr)
        if echo and thinking:
            sys.stderr.write("\n[/thinking]\n")
        if echo and (streamed or ended is not None):
            sys.stdout.write("\n")  # the reply is a line of its own, also when piped to a file
            sys.stdout.flush()
    assert ended is not None
    return ended


def _power_label(doc: dict[str, Any]) -> str:
    source = doc["power_source"]
    if doc["energy_measured"]:
        return f"measured ({source})"
    if source == "config":
        return "assumed from [cost] power_w"
    return "estimated: no GPU/CPU power meter readable; set [cost] power_w"


def _print_metrics(reply: Reply, doc: dict[str, Any]) -> None:
    costs = ", ".join(f"{model} ${usd:.6f}" for model, usd in doc["api_equivalent_usd"].items())
    thinking = f" ({doc['reasoning_tokens']} thinking)" if doc["reasoning_tokens"] else ""
    context = f" · context {doc['context_tokens']:,} / {doc['n_ctx']:,}" if doc["n_ctx"] else ""
    print(
        f"[{doc['prompt_tokens']} prompt + {doc['completion_tokens']} completion tokens"
        f"{thinking}{context} · "
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

    from localctl.auth import api_key_from
    from localctl.chat_session import ChatEndpoint, ChatSession
    from localctl.config import load_config
    from localctl.endpoint import check_url
    from localctl.errors import BadInputError
    from localctl.model_settings import ModelSettings
    from localctl.output import emit_json
    from localctl.runfile import find_server

    base = check_url(args.url)
    api_key = api_key_from(args.api_key, args.api_key_file)
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
    config = load_config()
    settings = ModelSettings(
        system_prompt=args.system or "",
        temperature=args.temperature,
        max_tokens=args.max_tokens or 0,
        seed=args.seed,
    )
    # A server localctl started names its model (so do the conversations saved with it).
    server = find_server(base)
    model = server.model if server is not None else "local"
    session = ChatSession(
        config, ChatEndpoint(base, api_key, model), settings, save=not args.no_save
    )
    while True:
        if repl:
            try:
                prompt = input("> ").strip()
            except EOFError:
                return 0
            if not prompt:
                continue
        ended = asyncio.run(_one_turn(session, prompt or "", echo=not args.json))
        doc = _document(ended, config.cost)
        if args.json:
            emit_json(doc)
        else:
            _print_metrics(ended.reply, doc)
        if not repl:
            return 0 if ended.reply.status == "complete" else 1
