"""A real chat-completions server on 127.0.0.1 for judge tests, with scripted faults per prompt.

A marker in the last message picks the behaviour: ``[429x2]`` (two rate limits, then a reply),
``[500x1]``, ``[timeoutx1]``, ``[malformedx1]`` (a 200 with a broken JSON body), ``[always500]``
and ``[garbage]`` (a reply with no rating). Otherwise it answers ``4`` with a short explanation
(``A`` to a pairwise "which answer is better" prompt, ``yes`` to an Ask-LLM yes/no prompt), and
with top logprobs when asked. Every request is counted per prompt. ``kill_after=N`` makes the server
stop listening right after its N-th reply (a judge endpoint dying mid-run); ``port`` brings one back
on the same address.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAIRWISE = "Which answer is better?"
ASKLLM = "OPTIONS:\n- yes\n- no"
MARKER = re.compile(r"\[(429|500|timeout|malformed)x(\d+)\]|\[(always500|garbage)\]")


class JudgeServer:
    """Start with ``with JudgeServer() as server: server.base_url``."""

    def __init__(self, slow_seconds: float = 1.5, *, port: int = 0, kill_after: int | None = None):
        self.calls: Counter[str] = Counter()
        self.kill_after = kill_after
        self.served = 0
        self.headers: list[dict] = []
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server._lock:
                    server.calls[prompt] += 1
                    count = server.calls[prompt]
                    server.headers.append(dict(self.headers))
                server.answer(self, body, prompt, count)
                with server._lock:
                    server.served += 1
                    if server.kill_after is not None and server.served == server.kill_after:
                        server.httpd.socket.close()  # later calls are refused: the endpoint is down

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, handler, body: dict, prompt: str, count: int) -> None:
        match = MARKER.search(prompt)
        kind, times = (match.group(1) or match.group(3), int(match.group(2) or 0)) if match else (None, 0)
        try:
            if kind == "always500" or (kind == "500" and count <= times):
                return self._send(handler, 500, {"error": {"message": "server exploded"}})
            if kind == "429" and count <= times:
                return self._send(handler, 429, {"error": {"message": "slow down"}})
            if kind == "timeout" and count <= times:
                time.sleep(self.slow_seconds)
                return self._send(handler, 200, self.completion(body, "4"))
            if kind == "malformed" and count <= times:
                return self._send(handler, 200, '{"choices": [ {"message": ')
            answer = ("I cannot rate this." if kind == "garbage" else "A" if PAIRWISE in prompt
                      else "yes" if ASKLLM in prompt else "4")
            return self._send(handler, 200, self.completion(body, answer))
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def completion(body: dict, answer: str) -> dict:
        text = answer if body.get("max_tokens") == 1 else f"{answer}\nThe response is accurate."
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        if body.get("logprobs"):
            top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in (("4", -0.2), ("5", -2.0), (" 3", -3.0), ("I", -4.0))]
            if answer == "A":
                top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in (("A", -0.3), ("B", -1.4))]
            if answer == "yes":
                top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in (("yes", -0.3), (" no", -1.5), ("I", -4.0))]
            choice["logprobs"] = {"content": [{"token": answer.split()[0], "logprob": -0.2, "bytes": None,
                                               "top_logprobs": top if answer in ("4", "A", "yes") else [top[3]]}]}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [choice],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}

    @staticmethod
    def _send(handler, status: int, payload) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> "JudgeServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
