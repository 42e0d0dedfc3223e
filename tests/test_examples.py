"""Training examples: the inference prompt, the gold SQL as target, examples that never leak the answer."""

from __future__ import annotations

from finsql.ask.pairs import ExampleRetriever, Pair, question_skeleton
from finsql.ask.session import Session
from finsql.experts.augment import SKELETON_MARKER, paraphrase_question
from finsql.experts.examples import ExcludingRetriever, build_examples, end_of_turn_id


def test_training_retrieval_never_shows_a_pair_its_own_sql(small_pairs):
    """A paraphrase's nearest pair is the one it rewrites: as a shot it would hand the model the gold SQL."""
    plain = ExampleRetriever(small_pairs)
    excluding = ExcludingRetriever(plain, seed=0)
    rewritten = leaks = 0
    for pair in small_pairs:
        rewrite = paraphrase_question(pair.question, 0)
        if rewrite is not None:
            rewritten += 1
            leaks += plain.nearest(rewrite, 1) == [pair]  # the leak the exclusion exists for
        for question in filter(None, (pair.question, rewrite)):
            shots = excluding.nearest(question, 3)
            assert len(shots) == 3 and pair not in shots
            assert shots == [p for p in plain.nearest(question, 5) if p is not pair][-3:]  # still the closest
    assert rewritten >= 3 and leaks >= 2  # the leak is real (a rewrite's shape may differ from its source)


def test_retrieval_weighs_the_shape_of_the_question():
    """A plain count question is shown a plain count, not the topical group-bys a bare embedding prefers."""
    assert question_skeleton("How many bond funds are there?") == "how many x are there"
    assert (
        question_skeleton("Which 5 funds had the highest fee in 2023?") == "which N x had the highest x in N"
    )
    pairs = [
        Pair("How many funds are there of each type?", "SELECT fund_type, count(*) FROM fund GROUP BY 1"),
        Pair("How many funds does each company manage?", "SELECT company_id, count(*) FROM fund GROUP BY 1"),
        Pair("How many stocks are there?", "SELECT count(*) FROM stock"),
        Pair("Which stock has the most employees?", "SELECT stock_name FROM stock ORDER BY employees DESC"),
    ]
    assert (
        ExampleRetriever(pairs).nearest("How many funds are there?", 1)[0].sql == "SELECT count(*) FROM stock"
    )


def test_training_prompt_is_the_inference_prompt(cache, small_db, small_pairs, tiny_model_dir):
    session = Session(small_db, model_name=str(tiny_model_dir), shots=0, expert=False)
    tok = session.lm.tokenizer
    examples, counts = build_examples(session.prompts, small_pairs[:2], ("skeleton",))
    assert counts.sql == 2 and counts.skeleton == 2
    prompt = session.prompts.build(small_pairs[1].question).text
    plain, skeleton = examples[2], examples[3]
    assert plain.input_ids[: plain.prompt_len] == tok(prompt, add_special_tokens=False)["input_ids"]
    assert (
        tok.decode(plain.input_ids[plain.prompt_len :])
        == " fund_name FROM fund WHERE fund_type = 'bond'<|im_end|>"
    )
    assert plain.input_ids[-1] == end_of_turn_id(tok) == tok.convert_tokens_to_ids("<|im_end|>")
    skeleton_prompt = tok.decode(skeleton.input_ids[: skeleton.prompt_len])
    assert f"{SKELETON_MARKER} List the bond funds." in skeleton_prompt and skeleton_prompt.endswith("SELECT")
    assert tok.decode(skeleton.input_ids[skeleton.prompt_len :]).startswith(
        " fund_name FROM fund WHERE fund_type = _"
    )
    session.close()


def test_synthesized_pairs_are_retrieved_beside_written_ones_which_win_a_near_tie():
    from finsql.ask.linking import embed
    from finsql.ask.pairs import SYNTHESIZED_PENALTY

    question = "How many funds are there?"
    written = [Pair("How many funds are there", "SELECT count(*) FROM fund")]  # same shape, cosine < 1
    drawn = [Pair(question, "SELECT count(*) FROM fund AS f", ("synthetic", "count"))]
    gap = 1.0 - float(embed([written[0].question])[0] @ embed([question])[0])
    assert 0 < gap < SYNTHESIZED_PENALTY  # the synthesized pair is closer, by less than the penalty
    assert ExampleRetriever(written, drawn).nearest(question, 1) == written
    far = [Pair("Which bond has the highest coupon rate?", "SELECT bond_name FROM bond LIMIT 1")]
    near = [Pair("How many funds are there?", "SELECT count(*) FROM fund", ("synthetic", "count"))]
    found = ExampleRetriever(far, near).nearest("How many funds are there in all?", 2)
    assert found == far + near  # the closest, the synthesized one, sits next to the question


def test_the_base_model_retrieves_from_the_synthesized_pool_an_expert_does_not(cache, small_db):
    from finsql.synth.pool import pool_path
    from finsql.synth.synthesizer import is_synthetic

    plain = Session(small_db, expert=False, synth_pool=0)
    pooled = Session(small_db, expert=False, synth_pool=40)
    unshown = Session(small_db, expert=False, shots=0)
    given = Session(small_db, expert=False, retriever=plain.retriever)
    try:
        assert plain.synth_pool == 0 and not any(is_synthetic(p) for p in plain.retriever.pairs)
        kept = pool_path(pooled.schema, small_db, 40)
        assert not kept.is_file()  # drawn on the first retrieval, not when the session opens
        drawn = [p for p in pooled.retriever.pairs if is_synthetic(p)]
        assert kept.is_file()
        assert pooled.synth_pool == 40 and 0 < len(drawn) <= 40
        assert unshown.synth_pool == 0  # no examples in the prompt, nothing to draw
        assert given.synth_pool == 0 and given.retriever is plain.retriever
    finally:
        for session in (plain, pooled, unshown, given):
            session.close()
