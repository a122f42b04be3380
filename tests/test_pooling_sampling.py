import numpy as np
import pytest
import torch

from o1_retriever.model.pooling import l2_normalize, last_token_pool, mean_of_unit_vectors, mean_pool
from o1_retriever.model.sampling import SentenceMarks, row_seed, select_next_tokens, top_p_filter


def test_last_token_pool_left_and_right_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(last_token_pool(hidden, right), torch.stack([hidden[0, 1], hidden[1, 3]]))
    assert torch.equal(last_token_pool(hidden, left), torch.stack([hidden[0, 3], hidden[1, 3]]))


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_mean_of_unit_vectors_is_renormalised_mean():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 3.0])
    expected = (a + b / 3) / np.linalg.norm(a + b / 3)
    assert np.allclose(mean_of_unit_vectors(np.stack([a, b])), expected)
    assert np.allclose(np.linalg.norm(l2_normalize(np.array([[3.0, 4.0]]))), 1.0)


def test_top_p_keeps_smallest_set_reaching_mass():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(top_p_filter(probs.log(), 0.8))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 + 0.3 reaches 0.8
    kept = torch.isfinite(top_p_filter(probs.log(), 0.81))
    assert kept.tolist() == [[True, True, True, False]]
    assert torch.isfinite(top_p_filter(probs.log(), 0.01)).sum() == 1  # the top token always stays


def test_greedy_and_seeded_sampling():
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(select_next_tokens(logits, 0.0, 0.9, []), logits.argmax(-1))
    draw = lambda seed: select_next_tokens(  # noqa: E731
        logits, 1.0, 1.0, [torch.Generator().manual_seed(seed + i) for i in range(3)]
    )
    assert torch.equal(draw(7), draw(7))
    assert any(not torch.equal(draw(7), draw(s)) for s in range(8, 20))


def test_row_seed_depends_on_seed_query_and_sample_only():
    assert row_seed(0, "q", 1) == row_seed(0, "q", 1)
    assert len({row_seed(0, "q", 1), row_seed(1, "q", 1), row_seed(0, "r", 1), row_seed(0, "q", 2)}) == 4


@pytest.mark.parametrize("top_p", [0.3, 0.9])
def test_top_p_filter_never_empties_a_row(top_p):
    logits = torch.randn(4, 30)
    assert (torch.isfinite(top_p_filter(logits, top_p)).sum(-1) >= 1).all()


def test_nucleus_sampling_distribution_matches_full_filter():
    # the fast path (nucleus among the top candidates) draws from the same distribution as the full filter
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.0, -1.0, -3.0]])
    expected = top_p_filter(logits, 0.8).softmax(-1)[0]
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([select_next_tokens(logits, 1.0, 0.8, [gen], candidates=4) for _ in range(4000)])
    freq = torch.bincount(draws.flatten(), minlength=6).float() / 4000
    assert torch.allclose(freq, expected, atol=0.03)
    # a nucleus larger than the candidates falls back to the full filter
    flat = torch.zeros(1, 50)
    gen = torch.Generator().manual_seed(0)
    assert len({int(select_next_tokens(flat, 1.0, 0.99, [gen], candidates=4)) for _ in range(200)}) > 4


def test_repeated_ngram_tokens_are_those_that_would_close_a_seen_ngram():
    from o1_retriever.model.sampling import repeated_ngram_tokens

    history = [5, 6, 7, 5, 6]
    assert repeated_ngram_tokens(history, 3) == [7]  # "5 6" was followed by 7 before
    assert repeated_ngram_tokens(history, 2) == [7]  # after "6" came 7 once
    assert repeated_ngram_tokens(history, 4) == []
    assert set(repeated_ngram_tokens([1, 1, 1], 2)) == {1}


def test_a_thought_stops_where_its_second_sentence_would_begin():
    texts = ["Vitamin", " D", ".", " The", "3", " said", '."', "\n", " ", "?", " e", ".g", "."]
    marks = SentenceMarks.of(texts)
    ids = {t: i for i, t in enumerate(texts)}
    vitamin_d = [ids["Vitamin"], ids[" D"], ids["."]]
    assert marks.stops_before(vitamin_d, ids[" The"])  # ". The": a new sentence
    assert not marks.stops_before(vitamin_d, ids["3"])  # ".3": a number goes on
    assert not marks.stops_before(vitamin_d[:2], ids[" The"])  # no sentence mark before the space
    assert marks.stops_before([ids[" said"], ids['."']], ids[" The"])  # a closing quote after the mark
    assert marks.stops_before([ids["Vitamin"], ids["?"]], ids[" The"])
    assert marks.stops_before([ids["Vitamin"]], ids["\n"])  # a line break after a word ends a paragraph
    assert not marks.stops_before([ids[" "]], ids["\n"])  # ... but not a thought of whitespace alone
    assert not marks.stops_before([], ids["\n"]) and not marks.stops_before([], ids[" The"])
