"""Coordinate check of a real model (mupsim.torch.coordinates)."""

import pytest

torch = pytest.importorskip("torch")

from torch_models import MLP  # noqa: E402

from mupsim.errors import MupsimError  # noqa: E402
from mupsim.torch import coord_check, make_optimizers, param_groups, rescale_init_  # noqa: E402

WIDTHS = [32, 128, 512]


def batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(32, 8, generator=g), torch.randn(32, 3, generator=g)) for _ in range(4)]


def loss(model, batch):
    return (model(batch[0]) - batch[1]).square().mean()


def mup_check():
    base, delta = MLP(32), MLP(48)

    def make(w):
        m = MLP(w)
        rescale_init_(m, base, delta_model=delta)
        return m

    return coord_check(
        make,
        WIDTHS,
        batches(),
        loss_fn=loss,
        steps=4,
        seeds=(0, 1),
        make_optimizer=lambda m, w: make_optimizers(param_groups(m, base, lr=1e-2, delta_model=delta)),
    )


def test_mup_groups_give_flat_activations_after_a_few_steps():
    cc = mup_check()
    assert set(cc.slopes) == {"inp", "hid", "norm", "out"}
    for m, f in cc.slopes.items():
        assert abs(f.exponent) < 0.1, (m, f.exponent)


def test_standard_parameterization_with_one_adam_lr_blows_up():
    cc = coord_check(
        MLP,
        WIDTHS,
        batches(),
        loss_fn=loss,
        steps=4,
        seeds=(0, 1),
        make_optimizer=lambda m, w: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.0),
    )
    assert cc.slopes["hid"].exponent > 0.5 and cc.slopes["out"].exponent > 0.4


def test_table_plot_and_json(tmp_path):
    cc = mup_check()
    text = cc.table()
    assert "slope" in text and "n=512" in text and text.count("\n") == 2 + len(cc.modules)
    cc.plot(tmp_path / "cc.png")
    assert (tmp_path / "cc.png").stat().st_size > 0
    d = cc.to_dict()
    assert len(d["records"]) == len(WIDTHS) * 2 * 5 * 4 and set(d["slopes"]) == set(cc.modules)


def test_one_width_is_refused():
    with pytest.raises(MupsimError, match="2 distinct widths"):
        coord_check(
            MLP, [32], batches(), loss_fn=loss, make_optimizer=lambda m, w: torch.optim.SGD(m.parameters())
        )
