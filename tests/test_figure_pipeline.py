"""The figure pipeline end to end (spec → sweep → stored results → analysis → figure files),
driven by the synthetic runner so that it checks plumbing, not physics."""

import json

from mupsim.experiments import make_figures

FIGURES = (
    "f1_gain_vs_step",
    "f2_spectra_collapse",
    "f3_sigma_max_vs_width",
    "f4_wd_rules",
    "f5_transfer",
    "f6_coord_check",
    "f7_steady_state_theory",
    "f8_muon_spectral",
    "f10_long_memory",
    "f10b_long_memory_transfer",
)


def _run(tmp_path):
    return make_figures.main(
        [
            "--quick",
            "1",
            "--fake",
            "--results-dir",
            str(tmp_path / "results"),
            "--figures-dir",
            str(tmp_path / "figures"),
            "--workers",
            "0",
            "--no-progress",
        ]
    )


def test_every_figure_is_written_with_its_numbers_beside_it(tmp_path):
    assert _run(tmp_path) == 0
    out = tmp_path / "figures" / "fake" / "quick"
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 0, name
        assert (out / f"{name}.csv").stat().st_size > 0, name
        json.loads((out / f"{name}.json").read_text())


def test_second_run_reads_only_stored_results(tmp_path):
    _run(tmp_path)
    stored = sorted(p.name for p in (tmp_path / "results").rglob("*.npz"))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.npz")}
    _run(tmp_path)
    assert sorted(p.name for p in (tmp_path / "results").rglob("*.npz")) == stored
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_the_command_line_names_every_registered_figure_in_drawing_order():
    from mupsim.experiments.figures import FIGURES

    assert make_figures.ORDER == tuple(FIGURES)
    assert all(f.name == name for name, f in FIGURES.items())


def test_each_figure_lives_in_the_module_named_for_its_output_files():
    from mupsim.experiments.figures import FIGURES

    for f in FIGURES.values():
        assert f.make.__module__ == f"mupsim.experiments.figures.{f.stem}", f.name
