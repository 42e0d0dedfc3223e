"""Answering fast: bf16 weights and merged experts (``finsql.lm.inference``), prompt-lookup decoding that
gives the greedy answer in fewer steps, and a grammar matcher that follows drafts it may have to undo."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from finsql.ask.constrain import GrammarConstraint
from finsql.ask.generation import generate
from finsql.ask.prompting import ANSWER_PREFIX
from finsql.ask.session import Session
from finsql.errors import UsageError
from finsql.lm.inference import Fp32Head, merge_adapter, prepare
from finsql.lm.models import LoadedModel, load_model
from finsql.lm.testing import build_tiny_model
from finsql.plugins import peft_methods

# a prompt whose answer the tiny model can copy from: prompt lookup finds its n-grams
PROMPT = (
    "<|im_start|>user\nselect count from fund where year<|im_end|>\n<|im_start|>assistant\n"
    "SELECT count(*) FROM fund WHERE year = 2020<|im_end|>\n"
    "<|im_start|>user\nselect count from fund<|im_end|>\n<|im_start|>assistant\n" + ANSWER_PREFIX
)


@pytest.fixture(scope="module", params=["byte-level", "metaspace"])
def tiny(request, tmp_path_factory) -> LoadedModel:
    folder = build_tiny_model(tmp_path_factory.mktemp(request.param), tokenizer_style=request.param)
    return load_model(str(folder))


def _logits(lm: LoadedModel, text: str) -> torch.Tensor:
    ids = lm.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        return lm.model(input_ids=ids).logits[0, -1].float()


def test_precision_sets_the_weights_dtype(tiny) -> None:
    before = _logits(tiny, PROMPT)
    bf16, done = prepare(LoadedModel(copy.deepcopy(tiny.model), *_rest(tiny)), "bf16")
    assert done.precision == "bfloat16" and not done.merged
    head = bf16.model.get_output_embeddings()
    assert isinstance(head, Fp32Head) and head.weight.dtype == torch.float32  # logits keep fp32 precision
    assert all(p.dtype == torch.bfloat16 for n, p in bf16.model.named_parameters() if "lm_head" not in n)
    ids = bf16.tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        assert bf16.model(input_ids=ids).logits.dtype == torch.float32
    assert torch.corrcoef(torch.stack([before, _logits(bf16, PROMPT)]))[0, 1] > 0.99
    cpu, done = prepare(LoadedModel(copy.deepcopy(tiny.model), *_rest(tiny)), "fp32")
    assert done.precision == "float32"
    assert torch.equal(_logits(cpu, PROMPT), before)
    # auto keeps the loaded dtype: bf16 costs answers (see finsql.lm.inference), so it is asked for
    auto, done = prepare(LoadedModel(copy.deepcopy(tiny.model), *_rest(tiny)), "auto")
    assert done.precision == "float32" and torch.equal(_logits(auto, PROMPT), before)


def _rest(lm: LoadedModel) -> tuple:
    return lm.tokenizer, lm.name, lm.path, lm.device


def test_unknown_precision_is_one_clear_error(tiny) -> None:
    with pytest.raises(UsageError, match="precision"):
        prepare(tiny, "int4")


def test_lora_expert_is_merged_into_the_weights(tiny) -> None:
    """The merged model answers as the model with the adapter did, with plain linear layers."""
    methods = peft_methods()
    wrapped = methods["lora"].wrap(copy.deepcopy(tiny.model), dict(methods["lora"].defaults))
    for name, param in wrapped.named_parameters():
        if "lora_B" in name:  # a trained adapter, not the identity peft starts from
            torch.nn.init.normal_(param, std=0.5)
    adapted = LoadedModel(wrapped, *_rest(tiny))
    before = _logits(adapted, PROMPT)
    unmerged, done = prepare(LoadedModel(copy.deepcopy(wrapped), *_rest(tiny)), "fp32", merge=False)
    assert not done.merged and torch.equal(_logits(unmerged, PROMPT), before)
    merged, done = prepare(adapted, "fp32")
    assert done.merged
    assert not any("lora" in name for name, _ in merged.model.named_parameters())
    assert torch.allclose(_logits(merged, PROMPT), before, atol=1e-4)


def test_prompt_learning_is_not_merged(tiny) -> None:
    methods = peft_methods()
    wrapped = methods["prompt-tuning"].wrap(
        copy.deepcopy(tiny.model), dict(methods["prompt-tuning"].defaults)
    )
    model, merged = merge_adapter(wrapped)
    assert model is wrapped and not merged


@pytest.mark.parametrize("constrained", [False, True])
def test_prompt_lookup_gives_the_greedy_answer(tiny, small_grammar, constrained) -> None:
    text = small_grammar if constrained else None
    plain = generate(tiny, PROMPT, 0, max_new_tokens=24, grammar=text)
    for lookup in (2, 8):
        drafted = generate(tiny, PROMPT, 0, max_new_tokens=24, grammar=text, lookup=lookup)
        assert [c.sql for c in drafted.candidates] == [c.sql for c in plain.candidates]
        assert drafted.prefill_seconds > 0 and drafted.passes <= plain.passes == plain.steps
    assert drafted.passes < plain.passes  # drafts were accepted: fewer forward passes for the same tokens


def test_constraint_follows_a_sequence_that_backs_up(tiny, small_grammar) -> None:
    """Drafted tokens the model then rejects: the matcher rolls back and masks as a fresh one would; a
    token the grammar refuses leaves only end-of-sequence for that call, not for the next."""
    tok = tiny.tokenizer
    eos = [tok.eos_token_id]
    prompt = tok(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    scores = torch.zeros(1, len(tok))

    def extended(text: str) -> torch.Tensor:
        return torch.cat([prompt, torch.tensor([tok.encode(text, add_special_tokens=False)])], dim=1)

    follower = GrammarConstraint(small_grammar, tok, len(tok), eos)
    follower(prompt, scores)
    follower(extended(" count(*) FROM fund WHERE"), scores)
    refused = follower(extended(" count(*) FROM nowhere_at_all"), scores)
    assert torch.isfinite(refused[0]).nonzero().flatten().tolist() == eos
    backed_up = follower(extended(" count(*) FROM"), scores)
    fresh = GrammarConstraint(small_grammar, tok, len(tok), eos)
    fresh(prompt, scores)
    assert torch.equal(torch.isfinite(backed_up), torch.isfinite(fresh(extended(" count(*) FROM"), scores)))


def test_session_reports_how_it_runs(small_db: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(UsageError):
        Session(small_db, model_name=str(tiny_model_dir), expert=False, lookup=-1)
    session = Session(small_db, model_name=str(tiny_model_dir), expert=False, shots=0, precision="fp32")
    assert session.lm is not None and session.prepared is not None
    assert session.prepared.precision == "float32" and session.lookup > 0
    session.close()


def test_a_row_that_runs_on_is_stopped(tiny) -> None:
    """A looping row ends after its block repeats four times, not at the token limit; other rows go on."""
    from finsql.ask.stopping import RUNON_REPEATS, RunOn

    stop = RunOn(prompt_length=2)
    loop = [9, 9] + [5, 6, 7] * RUNON_REPEATS
    varied = [9, 9] + list(range(10, 10 + 3 * RUNON_REPEATS))
    short = [9, 9] + [5, 6] * RUNON_REPEATS  # 8 tokens: too short to call a run-on
    assert stop(torch.tensor([loop, varied]), None).tolist() == [True, False]
    assert stop(torch.tensor([short]), None).tolist() == [False]
    generation = generate(tiny, PROMPT, 0, max_new_tokens=96)
    assert generation.steps <= 96


def test_runon_end_is_where_the_loop_first_closed() -> None:
    from finsql.ask.stopping import runon_end

    assert runon_end([1, 2, 3, 4]) is None
    looping = [1, 2] + [5, 6, 7] * 6
    assert runon_end(looping) == 2 + 12  # four blocks of three after the first two tokens
