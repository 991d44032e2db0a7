"""make_figures passes --backend/--executor/--scheduler to every figure's sweep."""

import pytest

from mupsim.experiments import make_figures


def test_make_figures_passes_executor_options_to_the_sweeps(tmp_path, monkeypatch):
    import mupsim.sim.sweep as sw
    real, seen = sw.sweep, []

    def spy(configs, out_dir, **kw):
        seen.append({k: kw.get(k) for k in ("executor", "scheduler", "backend")})
        kw.update(executor="local", scheduler=None, workers=0)  # Dask itself: test_sweep_dask
        return real(configs, out_dir, **kw)

    monkeypatch.setattr(sw, "sweep", spy)
    rc = make_figures.main(["--quick", "1", "--fake", "--only", "F1", "--no-progress",
                            "--results-dir", str(tmp_path / "r"), "--figures-dir",
                            str(tmp_path / "f"), "--executor", "dask", "--scheduler",
                            "tcp://10.0.0.5:8786"])
    assert rc == 0 and seen
    assert all(s == {"executor": "dask", "scheduler": "tcp://10.0.0.5:8786", "backend": "numba"}
               for s in seen)


@pytest.mark.parametrize("argv", [["--scheduler", "tcp://h:1"], ["--fake", "--backend", "ensemble"]])
def test_make_figures_rejects_inconsistent_sweep_options(tmp_path, argv, capsys):
    assert make_figures.main(["--quick", "1", "--results-dir", str(tmp_path), *argv]) == 2
    assert "error:" in capsys.readouterr().err
