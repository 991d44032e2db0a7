"""make_figures refuses inconsistent sweep options (that it hands them to its run pool:
tests/test_figure_schedule.py)."""

import pytest

from mupsim.experiments import make_figures


@pytest.mark.parametrize("argv", [["--scheduler", "tcp://h:1"], ["--fake", "--backend", "ensemble"]])
def test_make_figures_rejects_inconsistent_sweep_options(tmp_path, argv, capsys):
    assert make_figures.main(["--quick", "1", "--results-dir", str(tmp_path), *argv]) == 2
    assert "error:" in capsys.readouterr().err
