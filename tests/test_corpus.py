"""The stdlib corpus: a deterministic file list and split, byte-level and BPE tokens that round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.lm import corpus


@pytest.fixture(scope="module")
def files():
    return corpus.stdlib_files()


def test_file_list_is_sorted_and_repeatable(files):
    assert files == sorted(files) == corpus.stdlib_files()
    assert len(files) > 100 and all(f.endswith(".py") for f in files)


def test_file_list_leaves_out_tests_idle_and_site_packages(files):
    for f in files:
        assert not set(f.split("/")[:-1]) & corpus.EXCLUDED_DIRS, f
    assert "os.py" in files and "json/__init__.py" in files


def test_split_is_by_file_deterministic_and_disjoint(files):
    tr, ho = corpus.split(files, 0.1)
    assert (tr, ho) == corpus.split(files, 0.1)
    assert not set(tr) & set(ho) and sorted(tr + ho) == files
    assert 0.05 < len(ho) / len(files) < 0.15


def test_split_of_a_file_does_not_depend_on_the_other_files(files):
    sub = files[::7][::-1]
    tr, ho = corpus.split(sub, 0.1) if any(corpus.is_held_out(f, 0.1) for f in sub) else (sub, [])
    _, ho_all = corpus.split(files, 0.1)
    assert set(ho) == set(ho_all) & set(sub)
    assert set(tr) == set(sub) - set(ho_all)


def test_fingerprint_names_the_file_set(files):
    assert corpus.fingerprint(files) == corpus.fingerprint(list(files))
    assert corpus.fingerprint(files) != corpus.fingerprint(files[:-1])


def test_bad_split_fraction_is_an_error(files):
    with pytest.raises(MupsimError, match="held_out must be a fraction"):
        corpus.split(files, 1.5)


def test_byte_tokens_round_trip(files):
    raw = corpus.read_bytes(files[:3])
    t = corpus.byte_tokens(raw)
    assert t.dtype == np.uint8 and t.size == len(raw)
    assert corpus.byte_decode(t) == raw


def test_byte_corpus_is_the_split_files(files):
    d = corpus.load_corpus("byte", max_files=40, context=16)
    tr, ho = corpus.split(files[:: -(-len(files) // 40)], 0.1)
    assert d.vocab_size == 256 and d.info["n_train_files"] == len(tr)
    assert corpus.byte_decode(d.held_out) == corpus.read_bytes(ho)
    assert d.fingerprint()["corpus"] == d.info["fingerprint"]


def test_bpe_round_trips_and_is_cached(files, tmp_path):
    pytest.importorskip("tokenizers")
    sample = files[:6]
    tok = corpus.load_bpe(sample, 300, cache_dir=tmp_path)
    cached = list((tmp_path / "mupsim-lm").glob("bpe-*-300.json"))
    assert len(cached) == 1
    text = (corpus.stdlib_root() / sample[0]).read_text(encoding="utf-8")
    ids = tok.encode(text).ids
    assert tok.decode(ids) == text
    assert max(ids) < tok.get_vocab_size() <= 300 and len(ids) < len(text.encode())  # merges shorten it
    again = corpus.load_bpe(sample, 300, cache_dir=tmp_path)
    assert again.encode(text).ids == ids


def test_bpe_corpus_tokens_decode_to_the_files(tmp_path):
    pytest.importorskip("tokenizers")
    d = corpus.load_corpus("bpe", 4096, max_files=20, held_out=0.3, cache_dir=tmp_path, context=16)
    assert d.info["tokenizer"] == "bpe" and d.train.max() < d.vocab_size <= 4096
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(next((tmp_path / "mupsim-lm").glob("bpe-*-4096.json"))))
    files = corpus.stdlib_files()[:: -(-len(corpus.stdlib_files()) // 20)]
    _, ho = corpus.split(files, 0.3)
    want = "\n".join(corpus.read_bytes([f]).decode("utf-8", errors="replace") for f in ho)
    assert tok.decode(d.held_out.tolist()) == want
    d2 = corpus.load_corpus("bpe", 4096, max_files=20, held_out=0.3, cache_dir=tmp_path, context=16)
    assert np.array_equal(d2.train, d.train)


def test_bpe_vocab_outside_range_is_an_error():
    with pytest.raises(MupsimError, match=r"vocab_size must be an integer in \[4096, 8192\]"):
        corpus.load_corpus("bpe", 100)
