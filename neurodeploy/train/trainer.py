"""The training loop: BPTT with surrogate gradients, checkpoints, resume.

Loss: cross-entropy on the model's readout scores (:mod:`neurodeploy.neurons.readout`; by
default output spike counts summed over T: the class is the output neuron that fires most;
ties go to the lowest index), plus an optional firing-rate regulariser
``rate_weight · Σ_l (rate_l − rate_target)²`` over hidden spiking layers.
Resuming from ``last.pt`` continues exactly: shuffling is seeded per epoch from (seed, epoch) and
the global torch RNG state is restored.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from neurodeploy.atomic import write_text as atomic_write_text
from neurodeploy.data.registry import LoadedData, load_data
from neurodeploy.errors import CheckpointError, ConfigError
from neurodeploy.neurons import SpikingNeuron, SpikingSequential, readout_logits
from neurodeploy.train import distributed
from neurodeploy.train.callbacks import build_callbacks
from neurodeploy.train.checkpoint import load_checkpoint, read_metrics, save_checkpoint
from neurodeploy.train.config import validate
from neurodeploy.train.models import build_model
from neurodeploy.train.run_lock import RunLock, lock_run_dir


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_accuracy: float
    last_accuracy: float
    epochs: int
    seconds: float
    already_finished: bool = False  # --resume of a run that had reached its epochs: nothing trained


def to_time_major(x: torch.Tensor) -> torch.Tensor:
    """(B, T, …) batch from a dataset → (T, B, …) float as the network expects."""
    return x.transpose(0, 1).float()


def batches(dataset, batch_size: int, shuffle: bool, seed: int = 0):
    """Yield (x (B, T, …), y (B,)) batches; in-memory datasets are indexed without a DataLoader."""
    n = len(dataset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(n)
    frames = getattr(dataset, "frames", None)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if frames is not None:
            yield frames[idx], dataset.labels[idx]
        else:
            items = [dataset[int(i)] for i in idx]
            yield torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def predict(counts: torch.Tensor) -> torch.Tensor:
    """Class = argmax of spike counts (B, C); ties go to the lowest index."""
    return counts.argmax(dim=-1)


def spiking_outputs(model: SpikingSequential, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Outputs of the spiking layers (a non-spiking LI/CubaLI readout is not one)."""
    return [o for layer, o in zip(model, outputs) if isinstance(layer, SpikingNeuron) and layer.spiking]


def training_transform(name: str):
    """The :class:`~neurodeploy.targets.base.TrainingTransform` of target ``name`` (``train.target``),
    ``None`` for ``"none"``; a target without one is refused naming those that have one."""
    if name in ("", "none"):
        return None
    from neurodeploy.targets.base import TARGETS

    tt = TARGETS.get(name).training_transform
    if tt is None:
        have = [n for n in TARGETS.names() if TARGETS.get(n).training_transform is not None]
        raise ConfigError(f"[train] target = {name!r}: that target has no hardware-aware training; "
                          f"use one of: none, {', '.join(have)}")
    return tt


@torch.no_grad()
def evaluate(model: SpikingSequential, dataset, batch_size: int = 256, device="cpu",
             transform=None) -> dict:
    """Accuracy and per-spiking-layer firing rates (spikes per neuron per step) on ``dataset``;
    with a target's ``transform`` (hardware-aware fine-tuning) as that target's bit-exact emulator
    computes it on the exported integers (``transform.evaluate``)."""
    model.eval()
    if transform is not None:
        return transform.evaluate(model, dataset, batch_size)
    correct = total = 0
    rate_sums: list[float] = []
    for x, y in batches(dataset, batch_size, shuffle=False):
        xt = to_time_major(x).to(device)
        out, outputs = model(xt, record=True)
        correct += int((predict(readout_logits(model, out)).cpu() == y).sum())
        total += len(y)
        rates = [float(o.mean()) * len(y) for o in spiking_outputs(model, outputs)]
        rate_sums = rates if not rate_sums else [a + b for a, b in zip(rate_sums, rates)]
    return {"accuracy": correct / max(total, 1), "firing_rates": [r / max(total, 1) for r in rate_sums]}


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"[train] device = {name!r} but no CUDA GPU is available; use 'cpu' or 'auto'")
    return torch.device(name)


def _optimizer(model: nn.Module, t: dict) -> torch.optim.Optimizer:
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t["lr"], momentum=0.9, weight_decay=t["weight_decay"])
    cls = torch.optim.AdamW if t["optimizer"] == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])


def _graph_bytes(graph) -> bytes:
    import tempfile

    import nir

    with tempfile.TemporaryDirectory() as d:
        nir.write(f"{d}/g.nir", graph)
        return Path(f"{d}/g.nir").read_bytes()


def _graph_from_bytes(data: bytes):
    import tempfile

    import nir

    with tempfile.TemporaryDirectory() as d:
        Path(f"{d}/g.nir").write_bytes(data)
        return nir.read(f"{d}/g.nir")


def _model_from_graph(graph, cfg: dict, input_shape: tuple[int, ...]) -> SpikingSequential:
    """Trainable model of a NIR graph; a Flatten is prepended when the data is (C, H, W) and
    the graph takes flat input."""
    from neurodeploy.ir import from_nir
    from neurodeploy.surrogates import make_surrogate

    s = cfg["surrogate"]
    model, conv = from_nir(graph, surrogate=make_surrogate(s["name"], **s["params"]))
    if not cfg["model"]["bias"]:
        _keep_bias_free(model)
    if len(conv.input_shape) == 1 and len(input_shape) > 1:
        model = SpikingSequential(nn.Flatten(), *model)
    return model.train()


def _keep_bias_free(model: nn.Module) -> None:
    """``model.bias = false`` with a NIR init graph: NIR's Conv2d (and some writers' Affine) always
    carries a bias, so all-zero biases are removed (exact) and non-zero ones are kept but frozen
    (the network stays the same; it is not given trainable biases it did not have)."""
    for name, layer in model.named_modules():
        bias = getattr(layer, "bias", None)
        if not isinstance(layer, (nn.Linear, nn.Conv2d)) or bias is None:
            continue
        if bool((bias == 0).all()):
            layer.register_parameter("bias", None)
        else:
            bias.requires_grad_(False)
            warnings.warn(f"train.init: layer {name} has a non-zero bias in the init graph while "
                          "[model] bias = false: it is kept fixed (set -s model.bias=true to train it)",
                          stacklevel=3)


def _model_from_spec(spec: dict, state: dict, cfg: dict) -> SpikingSequential:
    """A model given to the trainer directly (``neurodeploy.train(model=…)``), rebuilt from the
    architecture its checkpoint records (:mod:`neurodeploy.neurons.spec`)."""
    from neurodeploy.neurons.spec import model_from_spec
    from neurodeploy.surrogates import make_surrogate

    s = cfg["surrogate"]
    return model_from_spec(spec, state, lambda: make_surrogate(s["name"], **s["params"]))


def model_from_checkpoint(ckpt: dict) -> SpikingSequential:
    """Rebuild the trained model (CPU, eval mode) from a loaded checkpoint."""
    cfg = validate(ckpt["config"], "checkpoint config")
    if ckpt.get("model_spec"):
        return _model_from_spec(ckpt["model_spec"], ckpt["model_state"], cfg).eval()
    if ckpt.get("init_graph"):
        model = _model_from_graph(_graph_from_bytes(ckpt["init_graph"]), cfg, tuple(ckpt["input_shape"]))
    else:
        model = build_model(cfg, tuple(ckpt["input_shape"]), ckpt["classes"])
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        raise CheckpointError(f"checkpoint weights do not match its config: {detail}") from None
    return model.eval()


class Trainer:
    """Train ``cfg`` into ``run_dir``; ``resume=True`` continues from ``run_dir/last.pt``."""

    def __init__(self, cfg: dict, run_dir: str | Path, resume: bool = False, progress: bool = True,
                 data: LoadedData | None = None, model: nn.Module | None = None):
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.start_epoch = 0
        self.best = -1.0
        self.resumed_metrics: dict = {}
        if not resume and (self.run_dir / "last.pt").exists():
            raise ConfigError(f"{self.run_dir} already holds a run; use --resume to continue it "
                              "or choose another --out")
        if resume:  # the run's own config (it names the device): read before joining the ranks
            epochs = cfg["train"]["epochs"] if cfg is not None else None
            cfg = validate(load_checkpoint(self.run_dir, "last")["config"], f"{self.run_dir}/last.pt config")
            if epochs is not None:
                cfg["train"]["epochs"] = epochs
        self.cfg = cfg
        t = cfg["train"]
        if t["threads"]:
            torch.set_num_threads(t["threads"])
        self.dist, self.device = distributed.setup(_device(t["device"]))
        self.lock: RunLock | None = None
        try:
            self._build(resume, data, model)
        except BaseException:  # a refused or failed start leaves the folder unlocked
            self.release()
            raise

    def _build(self, resume: bool, data: LoadedData | None, model: nn.Module | None) -> None:
        """Everything after joining the ranks: the checkpoint, data, model, optimiser, callbacks."""
        cfg, t = self.cfg, self.cfg["train"]
        ckpt = None
        if resume:  # the checkpoint itself once this run is the folder's only writer, the same on every rank
            self._hold_run_dir()
            distributed.barrier(self.dist)
            ckpt = load_checkpoint(self.run_dir, "last")
            distributed.agree(self.dist, ckpt["epoch"], f"the epoch of {self.run_dir}/last.pt", self.device)
        self.transform = training_transform(t["target"])
        if self.transform is not None and cfg["model"].get("readout", "spike-count") != "spike-count":
            raise ConfigError(f"[train] target = {t['target']!r} with [model] readout = "
                              f"{cfg['model']['readout']!r}: hardware-aware training reads spike counts "
                              "(the chips have no membrane readout); set readout = \"spike-count\"")
        if self.dist.enabled and self.transform is not None:
            raise ConfigError(f"[train] target = {t['target']!r} with {self.dist.world} processes: hardware-aware "
                              "training runs in one process only; drop --nproc/torchrun or set train.target = 'none'")
        self.init_graph: bytes | None = ckpt.get("init_graph") if ckpt is not None else None
        self.model_spec: dict | None = ckpt.get("model_spec") if ckpt is not None else None
        init_state = None
        if t["init"] and ckpt is None:
            init_state = self._init_from(t["init"])
        self.data = data or load_data(cfg["data"])
        torch.manual_seed(t["seed"])
        if model is not None:  # neurodeploy.train(model=…): the architecture is recorded as a spec
            from neurodeploy.neurons.spec import model_spec

            self.model_spec = model_spec(model)
            self.model = model.to(self.device).train()
        elif self.model_spec is not None:
            self.model = _model_from_spec(self.model_spec, ckpt["model_state"], cfg).to(self.device)
        elif self.init_graph is not None:
            self.model = _model_from_graph(_graph_from_bytes(self.init_graph), cfg,
                                           self.data.input_shape).to(self.device)
        else:
            self.model = build_model(cfg, self.data.input_shape, self.data.classes).to(self.device)
        if init_state is not None:
            self.model.load_state_dict(init_state)
        self.init_window = None if ckpt is not None else self._init_window(
            apply=init_state is None and self.init_graph is None and model is None)
        self.opt = _optimizer(self.model, t)
        self.callbacks = build_callbacks(cfg, self.model)
        self.sched = None
        if t["lr_schedule"] == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=t["epochs"])
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model_state"])
            self.opt.load_state_dict(ckpt["optimizer_state"])
            if self.sched is not None and ckpt.get("scheduler_state"):
                self.sched.load_state_dict(ckpt["scheduler_state"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            self.start_epoch = ckpt["epoch"] + 1
            saved = ckpt.get("callbacks") or {}
            for cb in self.callbacks:
                if cb.name in saved:
                    cb.load_state_dict(saved[cb.name])
            self.best = ckpt.get("best_accuracy", -1.0)
            self.resumed_metrics = ckpt.get("metrics") or {}
            kept = [m for m in read_metrics(self.run_dir) if m["epoch"] <= ckpt["epoch"]]
            if self.dist.main:
                atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in kept))
        self.net = distributed.wrap(self.model, self.dist, self.device)  # DDP in a torchrun run

    def _init_window(self, apply: bool) -> list[dict]:
        """``model.init = near-threshold`` (fresh models only) and the in-window diagnostic on the
        first (unshuffled) training batch; recorded in the first epoch's metrics as ``init_in_window``."""
        from neurodeploy.train.near_threshold import in_window, near_threshold_init

        m = self.cfg["model"]
        x, _ = next(batches(self.data.train, self.cfg["train"]["batch_size"], shuffle=False))
        x = to_time_major(x).to(self.device)
        if m["init"] == "near-threshold" and apply:  # given weights (train.init, a model) are kept
            return [w.as_dict() for w in near_threshold_init(self.model, x, m["init_in_window"],
                                                               m.get("init_window_width") or None)]
        return [w.as_dict() for w in in_window(self.model, x)]

    def _diverged(self, epoch: int, what: str) -> ConfigError:
        kept = (f"{self.run_dir}/last.pt keeps epoch {epoch}" if epoch > 0 and (self.run_dir / "last.pt").exists()
                else "no checkpoint was written")
        return ConfigError(f"training diverged in epoch {epoch + 1}: {what} (train.lr = "
                           f"{self.cfg['train']['lr']:g}); lower train.lr or check the time constants "
                           f"and data; {kept}")

    def _start_clean(self) -> None:
        """A fresh start into a folder without ``last.pt``: drop what a run killed before its
        first checkpoint left (metrics rows, a best.pt), so nothing old mixes into the new run."""
        for name in ("metrics.jsonl", "best.pt"):
            (self.run_dir / name).unlink(missing_ok=True)

    def _init_from(self, source: str):
        """``train.init``: a run/checkpoint (its model and surrogate config are taken over and
        its weights loaded) or a NIR graph (the model is built from the graph). Returns the
        state dict to load, or None."""
        from neurodeploy.pipeline import read_nir

        p = Path(source)
        if p.suffix == ".nir":
            t = self.cfg["train"]
            graph = read_nir(p, t["init_dialect"], t["init_dt_s"] or None, t["init_reset"] or None,
                             t["init_input_scale"])
            self.init_graph = _graph_bytes(graph)
            return None
        init = load_checkpoint(p, "last")
        if init.get("init_graph"):
            self.init_graph = init["init_graph"]
        for section in ("model", "surrogate", "data"):
            if self.cfg[section] != init["config"][section]:
                warnings.warn(f"train.init: [{section}] is taken from {p}, not from this config "
                              "(the weights fix the architecture)", stacklevel=2)
            self.cfg[section] = init["config"][section]
        return init["model_state"]

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.cfg["train"]
        if self.transform is not None:
            out, outputs = self.transform.forward(self.model, x, record=True)
        else:
            out, outputs = self.net(x, record=True)
        counts = readout_logits(self.model, out)
        loss = nn.functional.cross_entropy(counts, y)
        if t["rate_weight"] > 0:
            hidden = [o for layer, o in zip(self.model, outputs)
                      if isinstance(layer, SpikingNeuron) and layer.spiking and layer is not self.model[-1]]
            loss = loss + t["rate_weight"] * sum((o.mean() - t["rate_target"]) ** 2 for o in hidden)
        return loss, counts

    def _payload(self, epoch: int, metrics: dict) -> dict:
        return {
            "epoch": epoch, "config": self.cfg, "model_state": self.model.state_dict(),
            "optimizer_state": self.opt.state_dict(),
            "scheduler_state": self.sched.state_dict() if self.sched is not None else None, "rng": {"torch": torch.get_rng_state()},
            "metrics": metrics, "best_accuracy": self.best,
            "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks},
            "input_shape": list(self.data.input_shape), "classes": self.data.classes,
            "dataset": self.data.name, "init_graph": self.init_graph,
            "model_spec": self.model_spec,
        }

    def fit(self, stop_after: int | None = None) -> TrainResult:
        """Train until ``train.epochs`` (or only ``stop_after`` more epochs: an interrupted run,
        continued by a new ``Trainer(…, resume=True)``). The run folder is locked against other
        writers meanwhile (:mod:`neurodeploy.train.run_lock`)."""
        t = self.cfg["train"]
        if self.start_epoch >= t["epochs"]:  # --resume of a finished run: say so, train nothing
            self.release()
            self._finish_distributed()
            acc = self.resumed_metrics.get("test_accuracy", float("nan"))
            return TrainResult(self.run_dir, self.best, acc, self.start_epoch, 0.0, already_finished=True)
        try:
            return self._fit(stop_after)
        finally:
            self.release()

    def release(self) -> None:
        """Free the run folder's writer lock (``fit`` does at its end)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _finish_distributed(self) -> None:
        """Leave a torchrun run's process group; the DDP wrapper goes first (it holds the group,
        see :func:`neurodeploy.train.distributed.teardown`)."""
        self.net = self.model
        distributed.finish(self.dist)

    def _hold_run_dir(self) -> None:
        """Rank 0 (the writer) takes the run folder's lock (:mod:`neurodeploy.train.run_lock`)."""
        if self.dist.main and self.lock is None:
            self.lock = lock_run_dir(self.run_dir)

    def _fit(self, stop_after: int | None) -> TrainResult:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        t = self.cfg["train"]
        start = time.perf_counter()
        main = self.dist.main  # only rank 0 writes and shows progress
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._hold_run_dir()
            if self.start_epoch == 0:
                if (self.run_dir / "last.pt").exists():  # another run wrote it since __init__ looked
                    raise ConfigError(f"{self.run_dir} already holds a run; use --resume to continue it "
                                      "or choose another --out")
                self._start_clean()
            atomic_write_text(self.run_dir / "config.json", json.dumps(self.cfg, indent=2))
        n_batches = -(-len(self.data.train) // t["batch_size"])
        last = {"accuracy": float("nan")}
        columns = (TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn(
            "loss {task.fields[loss]:.3f}  train {task.fields[acc]:.1%}  test {task.fields[test]}"),
            TimeElapsedColumn())
        for cb in self.callbacks:
            cb.on_train_start(self)
        step = 0
        with Progress(*columns, disable=not (self.progress and main), transient=False) as bar:
            end = t["epochs"] if stop_after is None else min(t["epochs"], self.start_epoch + stop_after)
            for epoch in range(self.start_epoch, end):
                for cb in self.callbacks:
                    cb.on_epoch_start(self, epoch)
                task = bar.add_task("", total=n_batches, epoch=f"{epoch + 1}/{t['epochs']}", loss=0.0, acc=0.0, test="…")
                self.model.train()
                loss_sum = correct = seen = 0
                epoch_seed = t["seed"] * 100003 + epoch
                aug = torch.Generator().manual_seed(epoch_seed + 1)
                for x, y, n, weight in distributed.shard_batches(self.dist, self.data.train, t["batch_size"],
                                                                 epoch_seed, t["augment_shift_px"], aug):
                    x, y = to_time_major(x).to(self.device), y.to(self.device)
                    for cb in self.callbacks:
                        cb.on_batch(self, step, x, y)
                    loss, counts = self._loss(x, y)
                    if not bool(torch.isfinite(loss)):
                        raise self._diverged(epoch, f"the loss is {float(loss)}")
                    self.opt.zero_grad(set_to_none=True)
                    (loss if weight == 1.0 else loss * weight).backward()  # weight: this rank's share
                    for cb in self.callbacks:
                        cb.on_after_backward(self, step)
                    step += 1
                    self.opt.step()
                    loss_sum += float(loss.detach()) * n
                    correct += int((predict(counts.detach())[:n] == y[:n]).sum())
                    seen += n
                    bar.update(task, advance=1, loss=loss_sum / max(seen, 1), acc=correct / max(seen, 1))
                if self.sched is not None:
                    self.sched.step()
                loss_sum, correct, seen = distributed.all_sum(self.dist, [loss_sum, correct, seen], self.device)
                last = distributed.evaluate(self.dist, self.model, self.data.test, self.device, self.transform)
                bar.update(task, test=f"{last['accuracy']:.1%}")
                metrics = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                           "test_accuracy": last["accuracy"], "firing_rates": last["firing_rates"],
                           "seconds": time.perf_counter() - start}
                if epoch == 0 and self.init_window is not None:
                    metrics["init_in_window"] = self.init_window
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, metrics)
                if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                    raise self._diverged(epoch, "the weights hold NaN/inf")
                improved = last["accuracy"] > self.best
                if improved:
                    self.best = last["accuracy"]
                if main:
                    with open(self.run_dir / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(metrics) + "\n")
                    payload = self._payload(epoch, metrics)
                    if improved:
                        save_checkpoint(self.run_dir / "best.pt", payload)
                    save_checkpoint(self.run_dir / "last.pt", payload)
        self._finish_distributed()  # every rank returns after rank 0 wrote the last checkpoint
        return TrainResult(self.run_dir, self.best, last["accuracy"], t["epochs"], time.perf_counter() - start)
