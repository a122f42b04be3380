"""Any OpenAI-compatible ``/chat/completions`` endpoint as the thinker (vLLM, llama.cpp server, Ollama, an API).

One request per candidate, each with its own seed, ``concurrency`` at a time; timeouts and bounded retries with
exponential backoff (``Retry-After`` honoured). The API key is read from the environment and never logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from o1_retriever.model import prompts
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import refuse_local_only_settings, ThinkRequest, Thoughts, collect

RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504)


class OpenAIThinker:
    """Thoughts from ``model`` at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``). Endpoints that honour ``seed``
    (vLLM, llama.cpp server) give the same thoughts for the same seed; others may not, and the thought cache then
    keeps the first answer."""

    embeds = False

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env, "")
        self.concurrency, self.timeout = concurrency, timeout
        self.max_retries, self.backoff = max_retries, backoff
        digest = hashlib.sha256(f"{self.url}\x00{model}\x00{prompts.PROMPT_VERSION}".encode()).hexdigest()[:16]
        self.identity = f"openai:{model}:{digest}"

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIThinker(url={self.url!r}, model={self.model!r})"

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        refuse_local_only_settings(settings, self.url)
        k = settings.n_thoughts
        jobs = [
            (r.conversation(), row_seed(settings.seed, r.query, i), settings)
            for r in requests
            for i in range(k)
        ]
        with ThreadPoolExecutor(self.concurrency) as pool:
            outcomes = list(pool.map(lambda job: self._request(*job), jobs))
        return [collect(outcomes[j * k : (j + 1) * k], self.url) for j in range(len(requests))]

    def _request(self, messages: list[dict[str, str]], seed: int, settings: ThinkingConfig) -> tuple[str, str | None]:
        body = json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "max_tokens": settings.max_new_tokens,
                "temperature": settings.temperature,
                "top_p": settings.top_p,
                "seed": seed % 2**31,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read())
                text = payload["choices"][0]["message"]["content"]
                if not isinstance(text, str):
                    raise TypeError("content is not text")
                return text, None
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code} from {self.url}{_server_message(error)}"
                if error.code in (401, 403):
                    return "", f"{last_error} (the API key is read from ${self.api_key_env})"
                if error.code not in RETRY_STATUSES:
                    return "", last_error
                delay = _retry_after(error.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                last_error = f"cannot reach {self.url}: {reason}"
                delay = None
            except (KeyError, IndexError, TypeError, json.JSONDecodeError):
                return "", f"malformed response from {self.url}"
            if attempt < self.max_retries:
                time.sleep(min(delay if delay is not None else self.backoff * 2**attempt, 60.0))
        return "", f"{last_error} (after {self.max_retries + 1} attempts)"


def _server_message(error: urllib.error.HTTPError) -> str:
    """What the server said about a failed request, for the error: an OpenAI-style ``{"error": {"message": ...}}``
    or the start of its body; empty when it said nothing."""
    try:
        body = error.read(2000).decode("utf-8", "replace")
    except (OSError, AttributeError):
        return ""
    try:
        detail = json.loads(body)["error"]
        text = str(detail.get("message", detail)) if isinstance(detail, dict) else str(detail)
    except (ValueError, KeyError, TypeError):
        text = body
    text = " ".join(text.split())[:200]
    return f": {text}" if text else ""


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
