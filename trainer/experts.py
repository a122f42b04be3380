"""Expert LLMs that write candidate thoughts, behind one small interface.

- ``LocalExpert``: a transformers causal LM on this machine, batched, seeded per (query, candidate).
- ``OpenAIExpert``: any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama) with concurrency,
  timeouts and retries with backoff. The API key is read from the environment and never logged.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from o1_retriever.sampling import row_seed

Messages = list[dict[str, str]]


@dataclass
class Completion:
    """The non-empty texts an expert wrote for one prompt, and why any candidate failed."""

    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Expert(Protocol):
    name: str

    def complete(self, prompts: list[Messages], keys: list[str], n: int, seed: int) -> list[Completion]:
        """``n`` candidates per chat prompt. ``keys`` (e.g. the queries) seed each prompt's sampling, so a
        candidate does not depend on which other prompts share its batch."""
        ...


class LocalExpert:
    """A local causal LM (a built-in name, a folder, or a hub id when online) writing through its chat template."""

    def __init__(
        self,
        name_or_path: str = "smollm2-135m-instruct",
        *,
        max_new_tokens: int = 96,
        temperature: float = 0.8,
        top_p: float = 0.95,
        batch_rows: int = 16,
        device: str | None = None,
    ) -> None:
        from o1_retriever.causal_lm import CausalLM, default_device, load_causal_lm
        from o1_retriever.weights import resolve_weights

        model, tokenizer = load_causal_lm(resolve_weights(name_or_path), device or default_device())
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.lm = CausalLM(model, tokenizer)
        self.name = f"local:{name_or_path}"
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.batch_rows = batch_rows

    def complete(self, prompts: list[Messages], keys: list[str], n: int, seed: int) -> list[Completion]:
        per_call = max(1, self.batch_rows // n)  # prompts per generation call; each prompt is read once
        texts: list[str] = []
        for start in range(0, len(prompts), per_call):
            chunk = list(zip(prompts[start : start + per_call], keys[start : start + per_call]))
            generated = self.lm.generate(
                [self._prompt_ids(p) for p, _ in chunk],
                [row_seed(seed, k, i) for _, k in chunk for i in range(n)],
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                top_p=self.top_p,
                embed=False,
                samples_per_prompt=n,
            )
            texts += [self.lm.tokenizer.decode(t, skip_special_tokens=True).strip() for t in generated.token_ids]
        return [_completion(texts[j * n : (j + 1) * n]) for j in range(len(prompts))]

    def _prompt_ids(self, messages: Messages) -> list[int]:
        ids = self.lm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _completion(texts: list[str]) -> Completion:
    """The non-empty texts; an empty one is an error to report, never a silent empty thought."""
    completion = Completion([t for t in texts if t])
    empty = len(texts) - len(completion.texts)
    if empty:
        completion.errors.append(f"the expert returned empty text ({empty} of {len(texts)})")
    return completion


class ExpertRequestError(RuntimeError):
    pass


class OpenAIExpert:
    """An OpenAI-compatible ``/chat/completions`` endpoint, one request per candidate (each with its own seed)."""

    RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504)

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        max_new_tokens: int = 96,
        temperature: float = 0.8,
        top_p: float = 0.95,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = os.environ.get(api_key_env, "")
        self.name = f"openai:{model}"
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.concurrency, self.timeout = concurrency, timeout
        self.max_retries, self.backoff = max_retries, backoff

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIExpert(url={self.url!r}, model={self.model!r})"

    def complete(self, prompts: list[Messages], keys: list[str], n: int, seed: int) -> list[Completion]:
        jobs = [(p, row_seed(seed, k, i)) for p, k in zip(prompts, keys) for i in range(n)]
        with ThreadPoolExecutor(self.concurrency) as pool:
            outcomes = list(pool.map(lambda job: self._request(*job), jobs))
        completions = []
        for j in range(len(prompts)):
            chunk = outcomes[j * n : (j + 1) * n]
            completion = _completion([text for text, error in chunk if error is None])
            completion.errors += [error for _, error in chunk if error is not None]
            completions.append(completion)
        return completions

    def _request(self, messages: Messages, seed: int) -> tuple[str, str | None]:
        body = json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "max_tokens": self.max_new_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
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
                return (payload["choices"][0]["message"]["content"] or "").strip(), None
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code} from {self.url}"
                if error.code not in self.RETRY_STATUSES:
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


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
