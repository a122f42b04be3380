import pytest

from o1_retriever.retrieval.fusion import Fusion, agreement, fuse, lexical_weight


def ranking(ids, top=1.0, step=0.1):
    return [(doc, top - i * step) for i, doc in enumerate(ids)]


def order(scores):
    return sorted(scores, key=lambda doc: (-scores[doc], doc))


def test_classic_rrf():
    dense, lexical = ranking(["a", "b", "c"]), ranking(["c", "a"], top=9.0)
    fused = fuse(dense, lexical, 1000, Fusion.rrf())
    assert fused == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61})


def test_agreement_is_chance_corrected():
    assert agreement(ranking("abcd"), ranking("abcd"), 4, 1000) == 1.0
    assert agreement(ranking("abcd"), ranking("wxyz"), 4, 1000) == 0.0
    assert agreement(ranking("abcd"), ranking("abyz"), 4, 1000) == pytest.approx((0.5 - 0.004) / 0.996)
    assert agreement(ranking("ab"), ranking("ba"), 4, 4) == 1.0  # the whole collection: nothing to tell apart
    assert agreement(ranking("ab"), [], 4, 1000) == 0.0


def test_a_lexical_side_that_agrees_with_nothing_is_ignored():
    dense = ranking([f"d{i}" for i in range(30)])
    noise = ranking([f"x{i}" for i in range(30)], top=20.0, step=0.5)  # strong scores, all unrelated
    guarded = Fusion()
    assert lexical_weight(dense, noise, 10_000, guarded) == 0.0
    assert order(fuse(dense, noise, 10_000, guarded))[:30] == [d for d, _ in dense]
    unguarded = Fusion(dense_weight=0.5, gate_saturation=None)
    assert order(fuse(dense, noise, 10_000, unguarded))[0] == "x0"  # without the gate noise wins


def test_agreeing_sides_get_their_full_weights():
    dense = ranking([f"d{i}" for i in range(20)])
    lexical = ranking([f"d{i}" for i in range(10)] + [f"x{i}" for i in range(10)], top=12.0)
    assert lexical_weight(dense, lexical, 10_000, Fusion(dense_weight=0.7)) == pytest.approx(0.3)
    assert lexical_weight(dense, lexical, 10_000, Fusion(dense_weight=0.7, gate_saturation=1.0)) < 0.3
    assert lexical_weight(dense, lexical, 10_000, Fusion()) == pytest.approx(0.4)  # the default: 0.6 / 0.4


def test_score_fusion_uses_exact_lexical_scores_of_dense_candidates():
    dense = ranking(["a", "b", "c"])
    lexical = ranking(["c", "b"], top=5.0, step=1.0)
    fusion = Fusion(dense_weight=0.5, gate_saturation=None)
    without = fuse(dense, lexical, 1000, fusion)
    with_exact = fuse(dense, lexical, 1000, fusion, {"a": 3.9})  # "a" nearly made the lexical list
    assert with_exact["a"] > without["a"] and with_exact["b"] == without["b"]
    z = (0.0 - 4.5) / 0.5  # a missing document scores 0 on the lexical side, in that side's z units
    assert without["a"] == pytest.approx(0.5 * (0.1 / 0.0816496580927726) + 0.5 * z)


def test_one_empty_side_returns_the_other():
    dense, lexical = ranking("ab"), ranking("ba", top=3.0)
    assert fuse(dense, [], 10) == dict(dense)
    assert fuse([], lexical, 10) == dict(lexical)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "sum"}, "method"),
        ({"dense_weight": 1.5}, "dense_weight"),
        ({"gate_depth": 0}, "gate_depth"),
        ({"gate_saturation": 0.0}, "gate_saturation"),
        ({"rrf_k": 0}, "rrf_k"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fusion(**kwargs)


def test_presets():
    assert Fusion.named("guarded") == Fusion()
    assert Fusion.named("rrf") == Fusion.rrf()
    assert Fusion.named("unguarded") == Fusion(dense_weight=0.5, gate_saturation=None)
    with pytest.warns(DeprecationWarning, match="'score' is now 'unguarded'"):
        assert Fusion.named("score") == Fusion.named("unguarded")
    assert Fusion.of("rrf") == Fusion.rrf() and Fusion.of(Fusion(dense_weight=0.5)) == Fusion(dense_weight=0.5)
    with pytest.raises(ValueError, match="choose from guarded, unguarded, rrf"):
        Fusion.named("best")
