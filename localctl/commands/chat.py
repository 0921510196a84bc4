"""``localctl chat``: one-shot (or line REPL) streaming chat with metrics and cost."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``chat`` verb."""
    parser = subparsers.add_parser(
        "chat",
        help="chat with an OpenAI-compatible server, with metrics",
        description="Stream a reply from a server and print tok/s, TTFT and API-equivalent cost. "
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


def _document(reply: Any) -> dict[str, Any]:
    from localctl.cost import TOKENIZER_CAVEAT, api_equivalent, price_source

    metrics = reply.metrics
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
        "api_equivalent_usd": api_equivalent(metrics.prompt_tokens, metrics.completion_tokens),
        "price_source": price_source(),
        "caveat": TOKENIZER_CAVEAT,
    }


async def _one_turn(
    args: argparse.Namespace, messages: list[dict[str, str]], conversation: Any
) -> Any:
    from localctl.chat import ReplyDone, TokenDelta, stream_chat

    reply = None
    async for event in stream_chat(
        args.url,
        messages,
        api_key=args.api_key,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
        system=args.system,
    ):
        if isinstance(event, TokenDelta):
            if conversation is not None:
                conversation.delta(event.text)
            if not args.json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        elif isinstance(event, ReplyDone):
            reply = event.reply
    assert reply is not None
    if conversation is not None:
        conversation.end_reply(reply.text, reply.status)
    return reply


def _print_metrics(reply: Any) -> None:
    doc = _document(reply)
    costs = ", ".join(f"{model} ${usd:.6f}" for model, usd in doc["api_equivalent_usd"].items())
    print(file=sys.stderr)
    print(
        f"[{doc['prompt_tokens']} prompt + {doc['completion_tokens']} completion tokens · "
        f"TTFT {doc['ttft_s']:.3f} s · prompt {doc['prompt_tok_s']:.1f} tok/s · "
        f"generation {doc['gen_tok_s']:.1f} tok/s]",
        file=sys.stderr,
    )
    print(f"[API-equivalent: {costs} · {doc['price_source']}]", file=sys.stderr)
    if reply.status != "complete":
        print(f"[reply {reply.status}: {reply.error}]", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``localctl chat``."""
    import asyncio

    from localctl.conversations import Conversation
    from localctl.errors import BadInputError
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
        reply = asyncio.run(_one_turn(args, messages, conversation))
        messages.append({"role": "assistant", "content": reply.text})
        if args.json:
            emit_json(_document(reply))
        else:
            _print_metrics(reply)
        if not repl:
            return 0 if reply.status == "complete" else 1
