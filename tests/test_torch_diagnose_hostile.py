"""``diagnose`` on checkpoints that are diverged, empty of floats, tied, or malformed: a flagged
row or one clear line, never a traceback (mupsim.torch.diagnose / checkpoints / cli)."""

import json
import math
import struct

import numpy as np
import pytest
from test_torch_diagnose import write_width_series

from mupsim.cli import main
from mupsim.errors import MupsimError
from mupsim.torch.checkpoints import Checkpoint, write_safetensors
from mupsim.torch.diagnose import diagnose


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_cli(capfd):
    """``mupsim ARGS`` in this process; capfd also catches what C libraries (LAPACK) print."""

    def run(*args):
        capfd.readouterr()
        rc = main([str(a) for a in args])
        out, err = capfd.readouterr()
        return Run(rc, out, err)

    return run


def raw_safetensors(path, header, data=b""):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def spoil(path, name, value, index=(0, 0)):
    """Rewrite tensor ``name`` of an F32 safetensors file with one entry set to ``value``."""
    ck = Checkpoint(path)
    tensors = {n: ck.get(n) for n in ck.names}
    tensors[name][index] = value
    write_safetensors(path, tensors)


def test_a_nan_weight_is_a_flagged_row_and_the_fit_uses_the_rest(tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64, 128))
    spoil(paths[1], "h1", np.nan)
    d = diagnose(paths)
    bad = [m for m in d.matrices if m.flag]
    assert [(m.name, m.width) for m in bad] == [("h1", 64)] and "1 NaN" in bad[0].flag
    assert d.alpha.exponent == pytest.approx(0.8, abs=1e-3)
    assert "flag" in d.table() and "non-finite" in d.table()


def test_inf_weights_give_a_flagged_row_and_nothing_on_stderr(run_cli, tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    spoil(paths[0], "h2", np.inf)
    r = run_cli("diagnose", *paths)
    assert r.returncode == 0 and r.stderr == ""
    assert "0 NaN, 1 inf" in r.stdout


def test_all_zero_matrices_at_two_widths_are_flagged_not_divided_by(tmp_path):
    paths = []
    for n in (32, 64):
        p = tmp_path / f"z{n}.safetensors"
        write_safetensors(p, {"h": np.zeros((n, n), np.float32)})
        paths.append(p)
    d = diagnose(paths)
    assert [m.flag for m in d.matrices] == ["all zero", "all zero"] and d.alpha is None
    assert any("no hidden matrix with finite, non-zero weights" in n for n in d.notes)


@pytest.mark.parametrize("dtype,itemsize", [("I32", 4), ("F8_E4M3", 1), ("C64", 8)])
def test_checkpoint_without_readable_floats_is_one_line_exit_2(run_cli, tmp_path, dtype, itemsize):
    p = raw_safetensors(
        tmp_path / "i.safetensors",
        {"w": {"dtype": dtype, "shape": [4, 4], "data_offsets": [0, 16 * itemsize]}},
        bytes(16 * itemsize),
    )
    r = run_cli("diagnose", p)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{dtype} ×1" in r.stderr


def test_torch_checkpoint_of_complex_and_int_tensors_is_one_line_exit_2(run_cli, tmp_path):
    torch = pytest.importorskip("torch", reason="reading .pt checkpoints needs torch")
    torch.save(
        {"a": torch.zeros(4, 4, dtype=torch.complex64), "b": torch.zeros(4, 4, dtype=torch.int64)},
        tmp_path / "c.pt",
    )
    r = run_cli("diagnose", tmp_path / "c.pt")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "complex64 ×1" in r.stderr


def test_torch_fp8_matrices_are_read(tmp_path):
    torch = pytest.importorskip("torch", reason="reading .pt checkpoints needs torch")
    w = torch.eye(8).to(torch.float8_e4m3fn)
    torch.save({"h": w}, tmp_path / "f.pt")
    d = diagnose([tmp_path / "f.pt"])
    assert d.matrices[0].sigma_max == pytest.approx(1.0, rel=1e-6) and not d.matrices[0].flag


def test_tied_readout_saved_by_torch_appears_once_with_its_settings(tmp_path):
    torch = pytest.importorskip("torch", reason="the tied model is a torch module")
    from torch_models import GPT

    from mupsim.torch import apply_multipliers, param_groups, save_settings

    rows = {}
    for n in (32, 64):
        model = GPT(n)
        apply_multipliers(model, GPT(16), multipliers=(0, 0, 1))
        groups = param_groups(model, GPT(16), lr=1e-3, wd=0.1, wd_rule="fan2025", multipliers=(0, 0, 1))
        torch.save(model.state_dict(), tmp_path / f"g{n}.pt")
        save_settings(tmp_path / f"g{n}.mupsim.json", model, groups, width=n)
    d = diagnose([tmp_path / "g32.pt", tmp_path / "g64.pt"])
    for m in d.matrices:
        rows.setdefault(m.name, []).append(m)
    assert "head.weight" not in rows and len(rows["emb.weight"]) == 2
    assert all(m.lr is not None and m.wd is not None for m in rows["emb.weight"])


def test_tied_readout_stored_twice_in_safetensors_appears_once_by_its_settings(tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    for n, p in zip((32, 64), paths):
        ck = Checkpoint(p)
        tensors = {k: ck.get(k) for k in ck.names}
        tensors["head"] = tensors["emb"].copy()  # safetensors cannot share storage: a copy
        write_safetensors(p, tensors)
        s = tmp_path / f"w{n}.mupsim.json"
        doc = json.loads(s.read_text())
        doc["params"]["head"] = dict(doc["params"]["emb"], tied_to="emb")
        s.write_text(json.dumps(doc))
    names = [m.name for m in diagnose(paths).matrices]
    assert "head" not in names and names.count("emb") == 2


def test_plotted_alpha_line_passes_through_the_data(tmp_path):
    d = diagnose(write_width_series(tmp_path, widths=(32, 64, 128)))
    n, line = d.alpha_line()
    for w, y in zip(n, line):
        vals = [m.sigma_over_sqrt_lr_wd for m in d.matrices if m.layer == "hidden" and m.width == w]
        # the data lie on one power law; σ_max is converged to tol = 1e-4 relative
        assert y == pytest.approx(math.exp(np.mean(np.log(vals))), rel=1e-3)


def test_header_shape_whose_byte_count_overflows_int64_is_refused(tmp_path):
    p = raw_safetensors(
        tmp_path / "big.safetensors", {"w": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}
    )
    with pytest.raises(MupsimError, match="does not fit its byte range"):
        Checkpoint(p)


def test_deeply_nested_header_is_refused(tmp_path):
    p = raw_safetensors(tmp_path / "deep.safetensors", b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(MupsimError, match="nested too deeply"):
        Checkpoint(p)


def test_dtype_that_is_not_a_string_is_refused(tmp_path):
    p = raw_safetensors(
        tmp_path / "d.safetensors",
        {"w": {"dtype": ["F32"], "shape": [2, 2], "data_offsets": [0, 16]}},
        bytes(16),
    )
    with pytest.raises(MupsimError, match="malformed safetensors entry for 'w'"):
        Checkpoint(p)


@pytest.mark.parametrize(
    "edit,what",
    [
        (lambda d: d["params"]["h1"].update(wd=-0.1), "wd must be a finite number >= 0"),
        (lambda d: d["params"]["h1"].update(lr="fast"), "lr must be a finite number >= 0"),
        (lambda d: d.update(width="wide"), "width must be a positive integer"),
        (lambda d: d["params"].update(h1=[1, 2]), "must be an object"),
    ],
)
def test_bad_settings_file_is_one_line_exit_2(run_cli, tmp_path, edit, what):
    paths = write_width_series(tmp_path, widths=(32, 64))
    s = tmp_path / "w32.mupsim.json"
    doc = json.loads(s.read_text())
    edit(doc)
    s.write_text(json.dumps(doc))
    r = run_cli("diagnose", *paths)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and what in r.stderr


def test_latin1_settings_file_is_one_line_exit_2(run_cli, tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    s = tmp_path / "w32.mupsim.json"
    s.write_bytes(s.read_bytes().replace(b'"h1"', b'"h1\xe9"'))
    r = run_cli("diagnose", *paths)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not UTF-8" in r.stderr


def test_json_of_a_diverged_checkpoint_is_strict_json_with_null_for_the_flagged_values(run_cli, tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    spoil(paths[0], "h1", np.nan)
    r = run_cli("diagnose", *paths, "--format", "json")
    assert r.returncode == 0, r.stderr

    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    doc = json.loads(r.stdout, parse_constant=refuse)
    row = next(m for m in doc["matrices"] if m["flag"])
    assert row["sigma_max"] is None and row["rms"] is None
