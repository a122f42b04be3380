import numpy as np
import pytest

from o1_retriever.trainer.voting import hard_vote, soft_vote, softmax, standardise


def test_standardise_formula_and_flat_rows():
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    z = standardise(scores)
    assert np.allclose(z[0], (scores[0] - 2.0) / np.std([1.0, 2.0, 3.0]))
    assert np.array_equal(z[1], [0, 0, 0])


def test_scale_does_not_matter():
    bm25 = np.array([10.0, 30.0, 20.0])
    cosine = np.array([0.30, 0.10, 0.20])
    # BM25 at 100x the scale of the cosines still counts the same as one member
    winner, totals = soft_vote(np.stack([bm25, cosine]))
    z = standardise(np.stack([bm25, cosine]))
    assert np.allclose(totals, softmax(z[0]) + softmax(z[1]))
    # the members disagree exactly: candidates 0 and 1 tie (lowest index wins), the lukewarm 2 loses
    assert np.isclose(totals[0], totals[1]) and totals[2] < totals[0] and winner == 0


def test_soft_vote_weights():
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert soft_vote(scores, weights=[2, 1])[0] == 0
    assert soft_vote(scores, weights=[1, 2])[0] == 1
    assert soft_vote(scores)[0] == 0  # exact tie: lowest index
    with pytest.raises(ValueError, match="member weights"):
        soft_vote(scores, weights=[1])


def test_hard_vote_majority_and_ties():
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.0, 0.1, 0.9]])
    winner, votes = hard_vote(scores)
    assert winner == 0 and votes.tolist() == [2, 0, 1]
    assert hard_vote(scores, weights=[1, 1, 3])[0] == 2
    tie = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.9]])
    # one vote each for 0 and 1: the soft total decides between them
    _, totals = soft_vote(tie)
    assert hard_vote(tie)[0] == (0 if totals[0] >= totals[1] else 1)


def test_any_number_of_candidates():
    assert soft_vote(np.array([[0.3]]))[0] == 0
    assert hard_vote(np.array([[0.3], [0.1]]))[0] == 0
    assert soft_vote(np.random.default_rng(0).random((4, 7)))[1].shape == (7,)
