"""transformers: the reference implementation the vLLM numbers are checked against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evals.backends.base import (
    BACKENDS,
    Backend,
    BackendSpec,
    PromptEncoder,
    folder_fingerprint,
    resolve_dtype,
    truncate_at_stop,
)
from evals.errors import ModelError
from evals.records import (
    GenerateRequest,
    GenerateResponse,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResponse,
    TokenLogprobs,
)

DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class HFBackend:
    name = "hf"

    def __init__(self, spec: BackendSpec) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        runner = spec.runner
        resolved = resolve_dtype(runner.dtype, on_cpu=not torch.cuda.is_available())
        dtype: Any = getattr(torch, DTYPES[resolved])
        from evals.backends.engine_log import engine_stderr

        try:
            with engine_stderr():  # weight-loading bars and warnings go to engine.log
                self.tokenizer = AutoTokenizer.from_pretrained(spec.model_path)
                self.model = AutoModelForCausalLM.from_pretrained(spec.model_path, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelError(f"backend hf: cannot load {spec.model_path}: {exc}") from None
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        max_len = runner.max_model_len or int(
            getattr(self.model.config, "max_position_embeddings", 2048)
        )
        self.encoder = PromptEncoder(self.tokenizer, max_len)
        self.batch_size = runner.hf_batch_size
        self.seed = runner.seed
        self._torch = torch
        self._fingerprint = folder_fingerprint(
            spec.model_path, {"backend": "hf", "dtype": resolved, "max_len": max_len}
        )

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResponse]:
        encoded = [
            self.encoder.encode_prompt(r.prompt, r.params.max_tokens, r.params.truncate == "middle")
            for r in requests
        ]
        order = sorted(range(len(requests)), key=lambda i: (repr(requests[i].params), -len(encoded[i])))
        results: dict[int, GenerateResponse] = {}
        i = 0
        while i < len(order):
            params = requests[order[i]].params
            batch = [j for j in order[i : i + self.batch_size] if requests[j].params == params]
            for j, resp in zip(batch, self._generate_batch([encoded[j] for j in batch], params),
                               strict=True):
                results[j] = resp
            i += len(batch)
        return [results[i] for i in range(len(requests))]

    def _generate_batch(
        self, batch: list[list[int]], params: GenerationParams
    ) -> list[GenerateResponse]:
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        sample = params.temperature > 0
        if sample:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max(1, min(params.max_tokens, self.encoder.max_len - width)),
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=None,
                stop_strings=list(params.stop) or None,
                tokenizer=self.tokenizer,
                pad_token_id=pad,
                output_logits=params.logprobs > 0,
                return_dict_in_generate=True,
            )
        tops = self._top_logprobs(out.logits, params.logprobs) if params.logprobs else None
        out = out.sequences
        responses = []
        eos = self.tokenizer.eos_token_id
        for b, (ids, row) in enumerate(zip(batch, out[:, width:].tolist(), strict=True)):
            if eos in row:
                row = row[: row.index(eos) + 1]
            while row and row[-1] == pad and pad != eos:
                row.pop()
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            text, stopped = truncate_at_stop(text, params.stop)
            finished = stopped or (bool(row) and row[-1] == eos)
            responses.append(GenerateResponse(
                text, len(ids), len(row), "stop" if finished else "length",
                tuple(tops[b][: len(row)]) if tops else (),
            ))
        return responses

    def _top_logprobs(self, logits: Any, k: int) -> list[list[TokenLogprobs]]:
        """Top-k log-probabilities of the raw next-token distribution at each step, as vLLM
        returns them by default (before temperature or other processors)."""
        torch = self._torch
        steps = [torch.log_softmax(step.float(), dim=-1).topk(k) for step in logits]
        rows: list[list[TokenLogprobs]] = []
        for b in range(logits[0].shape[0]):
            rows.append([
                tuple((self.tokenizer.decode([int(t)]), float(v))
                      for v, t in zip(st.values[b].tolist(), st.indices[b].tolist(), strict=True))
                for st in steps
            ])
        return rows

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResponse]:
        pairs = [self.encoder.encode_pair(r.context, r.continuation) for r in requests]
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        results: dict[int, LoglikelihoodResponse] = {}
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, resp in zip(idx, self._score_batch([pairs[i] for i in idx]), strict=True):
                results[i] = resp
        return [results[i] for i in range(len(pairs))]

    def _score_batch(
        self, batch: list[tuple[list[int], list[int]]]
    ) -> list[LoglikelihoodResponse]:
        torch = self._torch
        seqs = [c + k for c, k in batch]
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits
        out = []
        for row, (ctx, cont), seq in zip(logits, batch, seqs, strict=True):
            logprobs = torch.log_softmax(row[: len(seq) - 1].float(), dim=-1)
            targets = torch.tensor(seq[1:])
            token_lp = logprobs.gather(1, targets[:, None])[:, 0]
            greedy = logprobs.argmax(dim=-1) == targets
            n_ctx = len(ctx)
            out.append(
                LoglikelihoodResponse(
                    logprob=float(token_lp[n_ctx - 1 :].sum()),
                    tokens=len(cont),
                    is_greedy=bool(greedy[n_ctx - 1 :].all()),
                    context_logprob=float(token_lp[: n_ctx - 1].sum()),
                    context_tokens=n_ctx,
                )
            )
        return out

    def close(self) -> None:
        del self.model


@BACKENDS.register("hf")
def _make(spec: BackendSpec) -> Backend:
    return HFBackend(spec)
