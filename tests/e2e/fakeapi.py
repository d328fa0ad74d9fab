"""A scripted fake of the Anthropic Messages API, served on 127.0.0.1 for the end-to-end tier.

The real Claude Code CLI is pointed at it with ANTHROPIC_BASE_URL. A scenario is a list of turns; each turn
is either a list of tool calls (streamed as `tool_use` blocks, stop_reason `tool_use`) or a final text
(stop_reason `end_turn`). Which turn a request gets is decided by the number of assistant messages already
in its history, so a client retry of the same request gets the same answer. Requests that do not come from
the main agent loop (no tools offered: title generation, summaries, quota probes) get a short text answer
and never consume a turn.

Every request is recorded (path and parsed JSON body) so tests can assert on what the
client sent: tool_result contents (our deny reasons), the system prompt, hook context and the skill listing.

A `Conductor` is a script decided while it runs: each main-loop request is handed to a callback, which sees
what the client sent back for the previous turn (it arrives after the tool and every Post hook ran) and
returns the next turn. The adversarial corpus uses it to judge each case's effect and restore the repo
between cases, so one client session carries many cases.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
MODEL = "claude-sonnet-4-5"
SIDE_ANSWER = "ok"  # what any non-agent-loop request gets back


def tool(name: str, **tool_input: Any) -> dict:
    """One scripted tool call: `tool("Bash", command="git status")`."""
    return {"name": name, "input": tool_input, "id": f"toolu_{uuid.uuid4().hex[:20]}"}


@dataclass
class Recorded:
    path: str
    body: dict
    main_loop: bool
    turn: int | None = None


@dataclass
class Script:
    """The turns of one scenario. A turn is a list of tool() calls or a str (the final answer)."""

    turns: list[list[dict] | str]
    fallback_text: str = "Done."  # answered once the script runs out (e.g. after a Stop hook block)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def main_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.main_loop]

    def turn_for(self, body: dict, index: int) -> list[dict] | str:
        """The turn for a main-loop request whose history holds `index` assistant messages."""
        return self.turns[index] if index < len(self.turns) else self.fallback_text


class Conductor(Script):
    """A script decided while it runs: `decide(body, index)` returns the turn for a main-loop request whose
    history holds `index` assistant messages (a list of tool() calls or the final text).

    `decide` is called once per index, under the script's lock, so a client retry of the same request gets
    the same answer and the callback never runs twice at once. If it raises, the error is kept in `errors`
    and the session is ended with `fallback_text`.
    """

    def __init__(self, decide: Callable[[dict, int], list[dict] | str], fallback_text: str = "Done."):
        super().__init__(turns=[], fallback_text=fallback_text)
        self.decide = decide
        self.served: dict[int, list[dict] | str] = {}
        self.errors: list[str] = []

    def turn_for(self, body: dict, index: int) -> list[dict] | str:
        if index not in self.served:
            try:
                self.served[index] = self.decide(body, index)
            except Exception as exc:  # a failing callback must end the session, not hang it
                import traceback

                self.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                self.served[index] = self.fallback_text
        return self.served[index]


def _assistant_count(body: dict) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def is_main_loop(body: dict) -> bool:
    """The agent loop offers tools; side requests (titles, summaries, probes) do not."""
    names = {t.get("name") for t in body.get("tools") or []}
    return "Bash" in names


def _content_for(turn: list[dict] | str) -> tuple[list[dict], str]:
    if isinstance(turn, str):
        return [{"type": "text", "text": turn}], "end_turn"
    blocks = [{"type": "text", "text": "Running the scripted step."}]
    for call in turn:
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["input"]})
    return blocks, "tool_use"


def _message(blocks: list[dict], stop_reason: str, model: str) -> dict:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def _sse_events(blocks: list[dict], stop_reason: str, model: str) -> list[tuple[str, dict]]:
    msg = _message([], None, model)  # type: ignore[arg-type]
    msg["usage"] = {"input_tokens": 10, "output_tokens": 1}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": msg})]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script  # set on the subclass made per server

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.script.requests.append(Recorded(self.path, {}, main_loop=False))
        self._send_json(200, {"data": [], "has_more": False})

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self.script.requests.append(Recorded(self.path, body, main_loop=False))
            self._send_json(200, {"input_tokens": 100})
            return
        if not path.endswith("/v1/messages"):
            self.script.requests.append(Recorded(self.path, body, main_loop=False))
            self._send_json(200, {})
            return
        model = body.get("model") or MODEL
        main = is_main_loop(body)
        with self.script.lock:
            record = Recorded(self.path, body, main_loop=main)
            if main:
                record.turn = _assistant_count(body)
                turn = self.script.turn_for(body, record.turn)
            else:
                turn = SIDE_ANSWER
            self.script.requests.append(record)
        blocks, stop_reason = _content_for(turn)
        if body.get("stream"):
            self._stream(blocks, stop_reason, model)
        else:
            self._send_json(200, _message(blocks, stop_reason, model))

    def _stream(self, blocks: list[dict], stop_reason: str, model: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for event, data in _sse_events(blocks, stop_reason, model):
            self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


class FakeAnthropic:
    """Context manager: `with FakeAnthropic(script) as api: env["ANTHROPIC_BASE_URL"] = api.url`."""

    def __init__(self, script: Script):
        self.script = script
        handler = type("ScriptedHandler", (_Handler,), {"script": script})
        self.server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
