"""Training callbacks: config → callbacks, schedule values per epoch, exact resume, diagnostics,
and a short training with each seed method that beats chance on the embedded digits data."""

from __future__ import annotations

import json

import pytest
import torch

from neurodeploy.data.registry import load_data
from neurodeploy.errors import ConfigError
from neurodeploy.surrogates import gradstats
from neurodeploy.train import callbacks as cb
from neurodeploy.train.config import load_config
from neurodeploy.train.models import build_model
from neurodeploy.train.trainer import Trainer

BASE = ["train.lr_schedule=\"constant\"", "train.augment_shift_px=0", "train.seed=0"]

METHODS = {
    "adali": ['surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_linear"'],
    "slope_interval": ['surrogate.name="sigmoid"', "surrogate.params={}",
                       'surrogate.schedule="slope_interval"', "surrogate.schedule_params={k_start=1.0, k_end=10.0, intervals=2}"],
    "slope_adaptive": ['surrogate.name="arctan"', "surrogate.params={}", 'surrogate.schedule="slope_adaptive"'],
    "asgl": ['surrogate.name="asgl"', "surrogate.params={width=2.5}",
             "surrogate.schedule_params={milestones=[2], zeta=0.5, width_lr=0.01}"],
    "a2sg": ['surrogate.name="asy"', "surrogate.params={beta=1.5}", "surrogate.schedule_params={every_n_steps=5}"],
}


@pytest.fixture(scope="module")
def data():
    cfg = load_config("configs/digits.toml")
    return load_data(cfg["data"])


def _cfg(*overrides, epochs=2):
    return load_config("configs/digits.toml", [*BASE, f"train.epochs={epochs}", *overrides])


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------- config → callbacks

def test_default_has_no_callbacks(data):
    cfg = _cfg()
    model = build_model(cfg, data.input_shape, data.classes)
    assert cb.build_callbacks(cfg, model) == []


@pytest.mark.parametrize("name,expected", [("adali", cb.AdaLiSchedule), ("asgl", cb.ASGLSchedule),
                                           ("asy", cb.A2SGSearch)])
def test_auto_picks_the_seed_method(data, name, expected):
    cfg = _cfg(f'surrogate.name="{name}"', "surrogate.params={}")
    cbs = cb.build_callbacks(cfg, build_model(cfg, data.input_shape, data.classes))
    assert any(isinstance(c, expected) for c in cbs)


def test_config_errors(data):
    cfg = _cfg('surrogate.schedule="adali_log"')
    model = build_model(cfg, data.input_shape, data.classes)
    with pytest.raises(ConfigError, match="schedule = 'adali_log' needs name = 'adali', got 'fast_sigmoid'"):
        cb.build_callbacks(cfg, model)
    cfg = _cfg('surrogate.schedule="slope_interval"', "surrogate.schedule_params={k_stop=3.0}")
    with pytest.raises(ConfigError, match="unknown key 'k_stop' for schedule 'slope_interval'; known: k_start"):
        cb.build_callbacks(cfg, model)
    cfg = _cfg('surrogate.schedule="slope_interval"', 'surrogate.schedule_params={spacing="cubic"}')
    with pytest.raises(ConfigError, match="spacing: 'cubic' is not one of linear, log"):
        cb.build_callbacks(cfg, model)
    cfg = _cfg('surrogate.name="asgl"', "surrogate.params={}", 'surrogate.schedule="none"')
    with pytest.raises(ConfigError, match="cannot learn its width"):
        cb.build_callbacks(cfg, build_model(cfg, data.input_shape, data.classes))
    cfg = _cfg('surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="slope_adaptive"')
    with pytest.raises(ConfigError, match="needs a surrogate with a width"):
        cb.build_callbacks(cfg, build_model(cfg, data.input_shape, data.classes))
    with pytest.raises(ConfigError, match="schedule.*'cosine' is not one of"):
        _cfg('surrogate.schedule="cosine"')
    with pytest.raises(ConfigError, match=r"\[diagnostics\] every_n_steps: 0 is below the minimum 1"):
        _cfg("diagnostics.every_n_steps=0")


# --------------------------------------------------------------------- schedule values

def test_adali_callback_sets_boundaries(data):
    cfg = _cfg('surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_linear"')
    model = build_model(cfg, data.input_shape, data.classes)
    (c,) = cb.build_callbacks(cfg, model)
    c.epochs = 5
    for epoch, d in enumerate([1.5, 1.2, 0.9, 0.6, 0.3]):
        c.on_epoch_start(None, epoch)
        for layer in cb.neuron_layers(model):
            assert layer.surrogate.live.get("left") == pytest.approx(d)
            assert layer.surrogate.live.get("right") == pytest.approx(d)


def test_adali_auto_boundaries_cover_the_fraction(data):
    """auto_coverage: L and R are quantiles of the layer's membranes, so a fraction c of them lies
    in [−L, R] (up to ties); the trainer-facing callback starts the schedule from them, ends at
    p of them, and keeps them across a checkpoint."""
    from types import SimpleNamespace

    from neurodeploy.train.callbacks.schedules import auto_boundaries
    from neurodeploy.train.near_threshold import membranes

    cfg = _cfg('surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_log"',
               "surrogate.schedule_params={auto_coverage=0.65}", epochs=4)
    model = build_model(cfg, data.input_shape, data.classes)
    x = data.train.frames[:64].transpose(0, 1).float()
    found = auto_boundaries(model, x, 0.65)
    assert len(found) == len(cb.neuron_layers(model))
    with torch.no_grad():
        _, outs = model.eval()(x, record=True)
        u, _ = membranes(model[2], outs[1])
    left, right = found[0]
    frac = float(((u >= -left) & (u <= right)).float().mean())
    assert 0.6 <= frac <= 0.75

    (c,) = cb.build_callbacks(cfg, model)
    trainer = SimpleNamespace(cfg=cfg, data=data, device=torch.device("cpu"))
    c.on_train_start(trainer)
    assert [v for lr in c.initial for v in lr] == pytest.approx([v for lr in found for v in lr])
    c.on_epoch_start(trainer, 0)
    live = cb.neuron_layers(model)[0].surrogate.live
    assert (live.get("left"), live.get("right")) == pytest.approx(found[0])
    c.on_epoch_start(trainer, 3)
    assert live.get("left") == pytest.approx(0.2 * found[0][0])
    fresh = cb.build_callbacks(cfg, build_model(cfg, data.input_shape, data.classes))[0]
    fresh.load_state_dict(c.state_dict())
    assert fresh.initial == c.initial


def test_adali_auto_coverage_out_of_range_is_refused(data):
    cfg = _cfg('surrogate.name="adali"', "surrogate.params={}", 'surrogate.schedule="adali_log"',
               "surrogate.schedule_params={auto_coverage=1.5}")
    with pytest.raises(ConfigError, match="auto_coverage"):
        cb.build_callbacks(cfg, build_model(cfg, data.input_shape, data.classes))


def test_slope_interval_callback_sets_width(data):
    cfg = _cfg('surrogate.name="sigmoid"', "surrogate.params={}", 'surrogate.schedule="slope_interval"')
    model = build_model(cfg, data.input_shape, data.classes)
    (c,) = cb.build_callbacks(cfg, model)
    c.epochs = 10
    c.on_epoch_start(None, 9)
    assert cb.neuron_layers(model)[0].surrogate.live.get("width") == pytest.approx(0.01)


def test_local_gradients_match_autograd(data):
    """δ^l captured by the hooks equals ∂L/∂(neuron input) from retain_grad."""
    cfg = _cfg('surrogate.name="asy"', "surrogate.params={beta=1.5}")
    model = build_model(cfg, data.input_shape, data.classes)
    x = data.train.frames[:16].transpose(0, 1).float()
    y = data.train.labels[:16]

    class FakeTrainer:
        def _loss(self, x, y):
            out = model(x)
            return torch.nn.functional.cross_entropy(out.sum(0), y), out

    tap = cb._BatchTap.of(FakeTrainer())
    tap.x, tap.y = x, y
    deltas = cb.local_gradients(None, tap, cb.neuron_layers(model))
    kept = []

    def keep(_m, args):
        args[0].retain_grad()
        kept.append(args[0])

    hooks = [layer.register_forward_pre_hook(keep) for layer in cb.neuron_layers(model)]
    loss, _ = FakeTrainer()._loss(x, y)
    loss.backward()
    for h in hooks:
        h.remove()
    for d, k in zip(deltas, kept):
        torch.testing.assert_close(d, k.grad)
    assert gradstats.sgv(deltas[0][-1]) >= 0


# --------------------------------------------------------------------- exact resume

@pytest.mark.parametrize("method", ["adali", "slope_adaptive", "asgl", "a2sg"])
def test_resume_restores_schedule_state_exactly(tmp_path, data, method):
    cfg = _cfg(*METHODS[method], "diagnostics.enabled=true", epochs=2)
    full = Trainer(cfg, tmp_path / "full", progress=False, data=data)
    full.fit()
    half_cfg = _cfg(*METHODS[method], "diagnostics.enabled=true", epochs=1)
    Trainer(half_cfg, tmp_path / "half", progress=False, data=data).fit()
    resumed = Trainer(cfg, tmp_path / "half", resume=True, progress=False, data=data)
    resumed.fit()
    for a, b in zip(full.callbacks, resumed.callbacks):
        assert a.name == b.name
        sa, sb = a.state_dict(), b.state_dict()
        sa.pop("seconds", None), sb.pop("seconds", None)  # wall-clock time spent
        assert json.dumps(sa, default=str) == json.dumps(sb, default=str)
    last_full, last_resumed = _metrics(tmp_path / "full")[-1], _metrics(tmp_path / "half")[-1]
    for key in last_full:
        if key not in ("seconds", "diag_seconds", "a2sg_search_seconds"):
            assert last_full[key] == pytest.approx(last_resumed[key], rel=1e-5), key


# --------------------------------------------------------------------- training beats chance

@pytest.mark.parametrize("method", list(METHODS))
def test_short_training_beats_chance(tmp_path, data, method):
    cfg = _cfg(*METHODS[method], "diagnostics.enabled=true", "train.lr=5e-3", epochs=3)
    result = Trainer(cfg, tmp_path, progress=False, data=data).fit()
    assert result.best_accuracy > 0.35  # chance is 0.10 (10 classes)
    m = _metrics(tmp_path)[-1]
    for key in ("diag_sgv", "diag_tgc", "diag_grad_cv", "diag_grad_norm", "diag_compute_density",
                "diag_firing_rate"):
        assert len(m[key]) == 2, key
    assert all(0.0 <= v <= 1.0 for v in m["diag_compute_density"])
    if method == "adali":
        assert m["adali_left"] == pytest.approx(0.3) and 0 < m["adali_compute_density"] < 1
    if method == "asgl":
        assert m["asgl_p"] == pytest.approx(0.9)
        assert m["asgl_width"] != [2.5, 2.5]  # learned
    if method == "a2sg":
        assert m["a2sg_search_seconds"] > 0


def test_diagnostics_cosine_to_reference_slope(tmp_path, data):
    cfg = _cfg('surrogate.name="sigmoid"', "surrogate.params={}", "diagnostics.enabled=true",
               "diagnostics.every_n_steps=5", "diagnostics.slope_cosine_every_n_steps=5", epochs=1)
    Trainer(cfg, tmp_path, progress=False, data=data).fit()
    m = _metrics(tmp_path)[-1]
    assert len(m["diag_cosine_ref"]) == 2 and all(-1 <= v <= 1 for v in m["diag_cosine_ref"])


def test_per_batch_hook_sees_every_training_batch_and_the_trainer_is_not_patched(tmp_path, data):
    cfg = _cfg('surrogate.name="asy"', "surrogate.params={beta=1.5}",
               "surrogate.schedule_params={every_n_steps=5}", "diagnostics.enabled=true",
               "diagnostics.slope_cosine_every_n_steps=5", epochs=1)
    trainer = Trainer(cfg, tmp_path, progress=False, data=data)
    seen = []

    class Spy(cb.Callback):
        def on_batch(self, trainer, step, x, y):
            seen.append((step, x.shape[1], y.shape[0]))

    trainer.callbacks.append(Spy())
    trainer.fit()
    n_batches = -(-len(data.train) // cfg["train"]["batch_size"])
    assert [s for s, _, _ in seen] == list(range(n_batches))
    assert all(b == n for _, b, n in seen)  # time-major x, labels of the same batch
    assert "_loss" not in vars(trainer)  # callbacks read the batch from the hook, not a wrapper


def test_asgl_eval_after_fit_is_pure_spikes(tmp_path, data):
    cfg = _cfg(*METHODS["asgl"], epochs=1)
    trainer = Trainer(cfg, tmp_path, progress=False, data=data)
    trainer.fit()
    x = data.test.frames[:8].transpose(0, 1).float()
    out = trainer.model(x)  # grad enabled, surrogates in eval mode after fit
    assert set(torch.unique(out.detach()).tolist()) <= {0.0, 1.0}


def test_cpp_kernel_honours_live_fast_sigmoid_width():
    """A schedule changes the width in place; the compiled backward must read the new value."""
    from neurodeploy.neurons.kernels import use_backend
    from neurodeploy.surrogates import make_surrogate
    from neurodeploy.train.callbacks import check_live_honoured

    with use_backend("cpp"):
        check_live_honoured(make_surrogate("fast_sigmoid", width=0.5), "width")
