"""``o1_retriever.model.vector_cache``: chunked, resumable, atomically written vectors."""

from __future__ import annotations

import numpy as np
import pytest

from o1_retriever.model.vector_cache import cached_vectors


def rows(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop, dtype="f4")[:, None].repeat(3, axis=1)


def test_an_interrupted_run_resumes_at_the_first_unfinished_chunk(tmp_path):
    calls = []

    def crash_on_the_second_chunk(start, stop):
        if calls:
            raise KeyboardInterrupt
        calls.append((start, stop))
        return rows(start, stop)

    stem = tmp_path / "vectors" / "model-1.5b"  # a dot in the stem is not a suffix
    with pytest.raises(KeyboardInterrupt):
        cached_vectors(stem, 25, crash_on_the_second_chunk, chunk_size=10)
    assert [p.name for p in stem.parent.glob("*.npy")] == ["model-1.5b-items000000000-000000010.npy"]  # kept

    def count(start, stop):
        calls.append((start, stop))
        return rows(start, stop)

    vectors, seconds = cached_vectors(stem, 25, count, chunk_size=10)
    assert calls == [(0, 10), (10, 20), (20, 25)]  # the rerun embedded only what was left
    np.testing.assert_array_equal(vectors, rows(0, 25))
    assert seconds >= 0 and sorted(p.name for p in stem.parent.iterdir()) == ["model-1.5b.json", "model-1.5b.npy"]

    def never(start, stop):
        raise AssertionError("a finished cache is not embedded again")

    again, again_seconds = cached_vectors(stem, 25, never, chunk_size=10)
    np.testing.assert_array_equal(again, vectors)
    assert again_seconds == seconds


def test_a_rerun_with_another_chunk_size_reuses_only_chunks_it_can_read(tmp_path):
    stem, calls = tmp_path / "v", []

    def stop_after_one(start, stop):
        if calls:
            raise KeyboardInterrupt
        calls.append((start, stop))
        return rows(start, stop)

    with pytest.raises(KeyboardInterrupt):
        cached_vectors(stem, 25, stop_after_one, chunk_size=10)  # items 0..9 kept
    calls.clear()
    vectors, _ = cached_vectors(stem, 25, lambda a, b: calls.append((a, b)) or rows(a, b), chunk_size=5)
    assert calls == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 25)]  # the 0..9 chunk is not a 0..4 one
    np.testing.assert_array_equal(vectors, rows(0, 25))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json", "v.npy"]  # every chunk file removed


def test_an_embedder_that_returns_the_wrong_number_of_vectors_is_refused_and_nothing_is_kept(tmp_path):
    with pytest.raises(RuntimeError, match="items 0..9 gave 9 vectors"):
        cached_vectors(tmp_path / "x", 10, lambda start, stop: rows(start, stop - 1), chunk_size=10)
    assert not list(tmp_path.glob("*.npy"))


def test_nothing_to_embed_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        cached_vectors(tmp_path / "x", 0, rows)
