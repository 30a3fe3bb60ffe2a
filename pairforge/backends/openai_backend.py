"""Weak-model generation through an OpenAI-compatible server (`POST {base_url}/chat/completions`):
vLLM's server, TGI, llama.cpp's server, Ollama. Bounded concurrency, retries with exponential
backoff on 429 / 5xx / timeouts (Retry-After honoured), a per-request seed. The API key is read
from the environment variable the recipe names and is never written anywhere."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ..errors import PairforgeError
from ..weights import ModelRef
from ..recipe import WeakModel
from .base import Completion

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIBackend:
    name = "openai"
    context_length = None  # unknown: the server refuses prompts that are too long

    def __init__(self, cfg: WeakModel, ref: ModelRef):
        self.cfg = cfg
        self.opts = cfg.openai
        self.model_name = ref.name
        self.url = self.opts.base_url.rstrip("/") + "/chat/completions"
        self.api_key = None
        if self.opts.api_key_env:
            self.api_key = os.environ.get(self.opts.api_key_env)
            if not self.api_key:
                raise PairforgeError(f"weak_model.openai.api_key_env: the environment variable "
                                     f"{self.opts.api_key_env} is not set")
        self.pool = ThreadPoolExecutor(max_workers=self.opts.concurrency)
        self.retries = 0  # how many retries the last run needed (for stats and tests)

    def prompt_token_counts(self, prompts):
        return [None] * len(prompts)  # the server counts; filled in from its usage reports

    def token_counts(self, texts):
        return [None] * len(texts)

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        delay = self.opts.backoff_s
        for attempt in range(self.opts.max_retries + 1):
            retry_after = None
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.opts.timeout_s) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as e:
                detail = e.read().decode(errors="replace")[:300]
                if e.code not in RETRY_STATUS:
                    return {"error": f"HTTP {e.code}: {detail}"}
                retry_after = e.headers.get("Retry-After")
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if attempt == self.opts.max_retries:
                raise PairforgeError(f"weak_model.openai: {self.url} failed after {attempt + 1} tries ({last}); "
                                     "is the server up? rerun the build to resume")
            self.retries += 1
            wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else delay
            time.sleep(wait)
            delay *= 2

    def _one(self, messages, seed: int) -> Completion:
        s = self.cfg.sampling
        body = {"model": self.model_name, "messages": messages, "max_tokens": s.max_tokens, "n": 1, "seed": seed,
                "temperature": s.temperature}
        if s.temperature > 0:
            body["top_p"] = s.top_p
        out = self._post(body)
        if "error" in out and "choices" not in out:
            return Completion(text=None, finish_reason="error", tokens=0, error=str(out["error"])[:300])
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        text = choice["message"].get("content") or ""
        return Completion(text=text, finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                          tokens=usage.get("completion_tokens", 0), prompt_tokens=usage.get("prompt_tokens"))

    def generate(self, prompts, seeds: list[int]):
        n = self.cfg.sampling.n  # n requests of one sample each, seeds seed..seed+n-1: exact token counts
        jobs = [[self.pool.submit(self._one, p, (seed + j) % (2**31)) for j in range(n)]
                for p, seed in zip(prompts, seeds)]
        return [[f.result() for f in row] for row in jobs]
