"""Ensemble backend: many runs of one shape trained at once in PyTorch (CPU or CUDA).

Interface (used by :func:`mupsim.sim.sweep.sweep` with ``backend="ensemble"``)::

    group_key(config) -> tuple | None      # equal keys can share one stack; None: not supported
    unsupported_reason(config) -> str | None
    run_group(configs, device=None) -> list[Result]

Each run is prepared by :func:`mupsim.sim.run.prepare` (the same init, per-layer settings from
the calculator, teacher and held-out set as the numba loop), the runs are stacked on a leading
dimension and trained by :class:`mupsim.sim.ensemble.engine.Ensemble`, which reproduces the
numba loop step for step (batches included: :mod:`mupsim.sim.ensemble.rng`). Results are the
same :class:`~mupsim.sim.result.Result` as :func:`mupsim.sim.run.run` returns, with
``provenance["backend"] = "ensemble"``, the torch version, the device and the ensemble size.

Reproducibility: the same group (same configs in the same order, same device) gives
bit-identical results; the same config in a *different* group can differ in the last bits
(batched products take other kernel paths for another batch size), as it does from the numba
loop (tests/test_ensemble.py holds members to their numba runs at rtol 1e-10). A sweep that
needs bit-identical results across resumes must form its groups the same way every time.

PyTorch is imported only inside this package (and only by :func:`run_group`): the core never
needs it.
"""

from __future__ import annotations

import time

from mupsim.errors import MupsimError
from mupsim.sim.ensemble.support import group_key, unsupported_reason

__all__ = ["group_key", "unsupported_reason", "run_group", "default_device"]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _prepare_all(configs):
    """:func:`mupsim.sim.run.prepare` of every config (in a thread pool when there are many:
    the random init and the held-out set release the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from mupsim.sim.run import prepare

    threads = min(8, os.cpu_count() or 1, len(configs))
    if threads <= 1:
        return [prepare(c) for c in configs]
    first = prepare(configs[0])  # serially: fills the calculator's and numba's caches
    with ThreadPoolExecutor(threads) as ex:
        return [first] + list(ex.map(prepare, configs[1:]))


def run_group(configs, device: str | None = None, graphs: bool | None = None) -> list:
    """Train ``configs`` (all with the same :func:`group_key`) together; one Result each, in
    order. ``device``: a torch device string (default: CUDA if available, else CPU).
    ``graphs``: replay steps from a CUDA graph (default: True on CUDA)."""
    import numpy as np
    import torch

    from mupsim.sim.ensemble.engine import Ensemble
    from mupsim.sim.layout import activation_names
    from mupsim.sim.result import MATRIX_METRICS, Result, provenance
    from mupsim.sim.run import task_provenance
    from mupsim.sim.settings import SIMULATOR_VERSION

    configs = list(configs)
    if not configs:
        return []
    for c in configs:
        why = unsupported_reason(c)
        if why is not None:
            raise MupsimError(f"config {c.key()}: {why}")
    keys = {group_key(c) for c in configs}
    if len(keys) != 1:
        raise MupsimError(
            "run_group needs configs of one group (equal group_key: same model, "
            "width, depth, batch, steps, optimizer, dtype, n_logs, ...); "
            f"got {len(keys)} groups"
        )
    device = device or default_device()
    t0 = time.perf_counter()
    preps = _prepare_all(configs)
    t_prep = time.perf_counter() - t0
    ens = Ensemble(preps, device)
    t1 = time.perf_counter()
    ens.train(graphs=graphs)
    out_mat = ens.finish()  # waits for the host-side rank metrics
    t_train = time.perf_counter() - t1
    out_loss = ens.out_loss.cpu().numpy()
    out_act = ens.out_act.cpu().numpy()
    div = ens.div_step.cpu().numpy()
    t1 = time.perf_counter()
    spectra = ens.spectra()
    t_spec = time.perf_counter() - t1
    wall = time.perf_counter() - t0
    lay = ens.lay
    dev_name = str(ens.dev)
    if ens.dev.type == "cuda":
        dev_name += f" ({torch.cuda.get_device_name(ens.dev)})"
    results = []
    S = len(configs)
    for s, (cfg, prep) in enumerate(zip(configs, preps)):
        d = int(div[s])
        results.append(
            Result(
                config=cfg.to_dict(),
                provenance=provenance(
                    cfg,
                    settings=prep.settings.to_dict(),
                    wall_time_s=wall / S,
                    simulator_version=SIMULATOR_VERSION,
                    backend="ensemble",
                    torch_version=torch.__version__,
                    device=dev_name,
                    ensemble_size=S,
                    ensemble_wall_time_s=wall,
                    ensemble_prepare_s=t_prep,
                    ensemble_train_s=t_train,
                    ensemble_spectra_s=t_spec,
                    **task_provenance(prep.data),
                ),
                status="diverged" if d >= 0 else "ok",
                diverged_step=d if d >= 0 else None,
                steps=prep.log_steps.copy(),
                train_loss=out_loss[s, 0],
                test_loss=out_loss[s, 1],
                matrix_names=lay.matrix_names,
                matrix={k: out_mat[s, i] for i, k in enumerate(MATRIX_METRICS)},
                activation_names=activation_names(lay),
                activation_rms=out_act[s],
                spectra={k: np.asarray(v[s]) for k, v in spectra.items()},
            )
        )
    return results
