"""Data-parallel training over ``torch.distributed`` (DistributedDataParallel), kept apart from
the training loop in :mod:`neurodeploy.train.trainer`.

How a run is split (``world`` processes, started by torchrun or ``neurodeploy train --nproc N``):

- Every rank draws the same seeded permutation of the training set per epoch (seed, epoch) as one
  process does, cuts it into the same global batches of ``train.batch_size`` samples, and takes a
  contiguous share of each global batch (sizes differ by at most one). So the global batch, the
  order and the number of optimiser steps do not depend on the number of processes.
- Each rank's mean loss is weighted by ``n_rank · world / n_global`` before ``backward``; DDP
  averages gradients over ranks, so the step uses the gradient of the global batch's mean loss,
  as one process computes it (up to float summation order). A rank whose share of a short last
  batch is empty runs one sample with weight 0 (DDP needs every rank in every step).
- Augmentation shifts are drawn for the whole global batch (as one process draws them) and sliced.
- Test metrics: each rank evaluates a contiguous share of the test set; correct counts, sample
  counts, losses and firing-rate sums are summed over ranks (``all_reduce``).
- Only rank 0 writes (checkpoints, metrics.jsonl, config.json) and shows progress.

Backends: gloo on CPU, NCCL on CUDA (device ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from neurodeploy.errors import ConfigError

#: env var the ``--nproc`` launcher sets: the folder where a failing rank leaves its one-line error
ERROR_DIR_ENV = "NEURODEPLOY_DIST_ERRORS"
#: env var the ``--nproc`` launcher sets: its process id (its ranks end when it does)
LAUNCHER_ENV = "NEURODEPLOY_DIST_LAUNCHER"


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (world = 1: a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer (set by torchrun)") from None


def from_env() -> Dist:
    """The rank/world torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK); a single process otherwise."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank}, WORLD_SIZE={world}: expected 0 ≤ RANK < WORLD_SIZE (torchrun sets both)")
    return Dist(rank, world, _env_int("LOCAL_RANK", 0))


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun (gloo on CPU, NCCL on CUDA); returns the
    rank info and the device this rank trains on (``cuda:LOCAL_RANK`` on GPUs)."""
    import torch.distributed as dist

    d = from_env()
    if not d.enabled:
        return d, device
    if device.type == "cuda":
        if d.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"rank {d.rank}: LOCAL_RANK {d.local_rank} but this node has "
                              f"{torch.cuda.device_count()} GPUs; start at most that many processes per node")
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not d.main:  # every rank runs the same code: rank 0's warnings are the run's warnings
        import warnings

        warnings.simplefilter("ignore")
    return d, device


def teardown(d: Dist) -> None:
    """Leave the process group; drop every DDP wrapper around it first.

    torch < 2.8 destroys the gloo group's C++ object while holding the GIL, and its destructor
    joins the group's worker threads; a worker that is still releasing a finished collective's
    tensors needs the GIL, so the two wait on each other for ever (pytorch#154976; here, 1 in ~5
    ``--nproc 2`` runs hung after their last epoch). The backends themselves are bound so that
    their destructor runs without the GIL: this holds them while the group goes (and while a
    collected DDP wrapper drops its own reference), then drops them last."""
    import gc

    import torch.distributed as dist

    if not (d.enabled and dist.is_initialized()):
        return
    group = dist.distributed_c10d._get_default_group()
    held = []
    for device in ("cpu", "cuda"):
        try:
            held.append(group._get_backend(torch.device(device)))
        except (RuntimeError, AttributeError):  # no backend for this device (or an older torch)
            pass
    del group
    dist.destroy_process_group()
    gc.collect()  # a wrapper left in a reference cycle lets go of the group now, not at a random time
    del held  # the last references: the worker threads are joined with the GIL released


def wrap(model: torch.nn.Module, d: Dist, device: torch.device) -> torch.nn.Module:
    """The module the training step calls: DDP around ``model`` (parameters broadcast from
    rank 0) in a distributed run, ``model`` itself otherwise."""
    if not d.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def share(n: int, d: Dist) -> tuple[int, int]:
    """[start, stop) of rank ``d.rank``'s contiguous share of ``n`` items (sizes differ ≤ 1)."""
    base, extra = divmod(n, d.world)
    start = d.rank * base + min(d.rank, extra)
    return start, start + base + (1 if d.rank < extra else 0)


def shard_batches(d: Dist, dataset, batch_size: int, seed: int, shift_px: int, generator: torch.Generator):
    """Yield ``(x (B_rank, T, …), y, n_real, weight)`` for this rank: its share of each global
    batch (see the module doc). ``n_real`` is the number of real samples (0: a stand-in sample
    with weight 0), ``weight`` the factor on the rank's mean loss."""
    from neurodeploy.data.augment import random_shift
    from neurodeploy.train.trainer import batches

    if not d.enabled:
        for x, y in batches(dataset, batch_size, True, seed=seed):
            yield random_shift(x, shift_px, generator), y, len(y), 1.0
        return
    n = len(dataset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    frames = getattr(dataset, "frames", None)
    for begin in range(0, n, batch_size):
        idx = order[begin:begin + batch_size]
        lo, hi = share(len(idx), d)
        if shift_px > 0:  # draw the global batch's shifts as one process would, then slice
            x, y = _take(dataset, frames, idx)
            x, y = random_shift(x, shift_px, generator)[lo:hi], y[lo:hi]
        else:
            x, y = _take(dataset, frames, idx[lo:hi])
        n_real = len(y)
        weight = n_real * d.world / len(idx)
        if n_real == 0:
            x, y = _take(dataset, frames, idx[:1])
        yield x, y, n_real, weight


def _take(dataset, frames, idx):
    if frames is not None:
        return frames[idx], dataset.labels[idx]
    items = [dataset[int(i)] for i in idx]
    if not items:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def all_sum(d: Dist, values: list[float], device: torch.device) -> list[float]:
    """``values`` summed over ranks (float64; itself in a single process)."""
    if not d.enabled:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.cpu().tolist()


class _Subset(torch.utils.data.Dataset):
    """Items [lo, hi) of a dataset (keeps in-memory ``frames``/``labels`` for fast batching)."""

    def __init__(self, dataset, lo: int, hi: int):
        self.dataset, self.lo, self.hi = dataset, lo, hi
        frames = getattr(dataset, "frames", None)
        if frames is not None:
            self.frames, self.labels = frames[lo:hi], dataset.labels[lo:hi]

    def __len__(self):
        return self.hi - self.lo

    def __getitem__(self, i):
        return self.dataset[self.lo + i]


def evaluate(d: Dist, model, dataset, device, transform=None) -> dict:
    """:func:`neurodeploy.train.trainer.evaluate` of the whole ``dataset``, each rank on its
    share, sums all-reduced: the same accuracy and firing rates as one process computes."""
    from neurodeploy.train.trainer import evaluate as evaluate_one

    if not d.enabled:
        return evaluate_one(model, dataset, device=device, transform=transform)
    lo, hi = share(len(dataset), d)
    part = evaluate_one(model, _Subset(dataset, lo, hi), device=device, transform=transform) if hi > lo else None
    n = hi - lo
    n_layers = _agree_len(d, len(part["firing_rates"]) if part else -1, device)
    mine = [n * part["accuracy"] if part else 0.0, float(n)] + (
        [n * r for r in part["firing_rates"]] if part else [0.0] * n_layers)
    total = all_sum(d, mine, device)
    seen = max(total[1], 1.0)
    return {"accuracy": round(total[0]) / seen, "firing_rates": [r / seen for r in total[2:]]}


def barrier(d: Dist) -> None:
    """Wait until every rank gets here (nothing in a single process)."""
    if d.enabled:
        import torch.distributed as dist

        dist.barrier()


def agree(d: Dist, value: int, what: str, device: torch.device) -> None:
    """Refuse unless every rank holds the same ``value`` (e.g. the epoch of the checkpoint each
    rank read: ranks on nodes that do not share the run folder, or a folder rewritten meanwhile).
    ``device``: this rank's training device (NCCL reduces CUDA tensors only)."""
    if not d.enabled:
        return
    import torch.distributed as dist

    t = torch.tensor([value, -value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if int(t[0]) != -int(t[1]):
        raise ConfigError(f"{what} differs between the ranks (from {-int(t[1])} to {int(t[0])}): every rank "
                          "must read the same run folder (a shared filesystem), and no other process may "
                          "write it meanwhile")


def _agree_len(d: Dist, mine: int, device) -> int:
    """The number of firing-rate entries (a rank with no test samples does not know it)."""
    import torch.distributed as dist

    t = torch.tensor([mine], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def report_error(message: str) -> bool:
    """In a ``--nproc`` run, leave this rank's one-line error for the launcher (which prints
    one line for the whole run); returns False when not launched that way (print it yourself)."""
    folder = os.environ.get(ERROR_DIR_ENV)
    if not folder or from_env().world <= 1:
        return False
    rank = from_env().rank
    try:
        with open(os.path.join(folder, f"rank{rank}.txt"), "w") as f:
            f.write(message)
    except OSError:
        return False
    return True


def finish(d: Dist) -> None:
    """End of training: wait until every rank (rank 0: its last checkpoint) is done, then leave
    the process group (:func:`teardown`: drop the DDP wrapper before)."""
    if not d.enabled:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
    teardown(d)


# --------------------------------------------------------------------------- launching
def launch(job: dict, nproc: int) -> dict:
    """Run ``job`` (``cfg``, ``out``, ``resume``, ``progress``) in ``nproc`` processes started by
    torch.distributed's own launcher (torchrun's ``run``, standalone rendezvous on this machine).
    Returns rank 0's :class:`~neurodeploy.train.trainer.TrainResult` fields; a failure on any
    rank ends all of them (torchrun stops the others) and raises the failing rank's error as one
    :class:`~neurodeploy.errors.NeurodeployError`."""
    import json
    import logging
    import sys
    import tempfile

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run


    if from_env().enabled:
        raise ConfigError("--nproc inside a torchrun process: use one of them (torchrun … -m neurodeploy "
                          "train, or neurodeploy train --nproc N)")
    with tempfile.TemporaryDirectory(prefix="nd-dist-") as tmp:
        job_path = os.path.join(tmp, "job.json")
        with open(job_path, "w") as f:
            json.dump({**job, "result": os.path.join(tmp, "result.json")}, f)
        args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0",
                           "--module", "neurodeploy.train.distributed", job_path])
        old_env = {k: os.environ.get(k) for k in (ERROR_DIR_ENV, LAUNCHER_ENV, "OMP_NUM_THREADS")}
        os.environ[ERROR_DIR_ENV] = tmp
        os.environ[LAUNCHER_ENV] = str(os.getpid())
        # train.threads sets each rank's torch threads; this only keeps torchrun from warning
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        # torchrun's own reports (a failure as a traceback, "received death signal"): ours is one line
        quiet = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                 if name.startswith("torch.distributed")]
        old_levels = [log.level for log in quiet]
        for log in quiet:
            log.setLevel(logging.CRITICAL)
        try:
            sys.stdout.flush()
            run(args)
        except ChildFailedError as exc:
            raise _rank_error(tmp, exc) from None
        except SignalException as exc:  # Ctrl-C / SIGTERM: torchrun has stopped the ranks
            import signal

            if exc.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None  # the CLI prints "neurodeploy: aborted"
            raise SystemExit(128 + int(exc.sigval)) from None
        finally:
            for log, level in zip(quiet, old_levels):
                log.setLevel(level)
            for k, v in old_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        with open(os.path.join(tmp, "result.json")) as f:
            return json.load(f)


def _rank_error(folder: str, exc) -> Exception:
    """The NeurodeployError of the lowest rank that left one (same class and exit code)."""
    from neurodeploy import errors

    for rank in range(1024):
        path = os.path.join(folder, f"rank{rank}.txt")
        if os.path.isfile(path):
            with open(path) as f:
                kind, _, message = f.read().partition("\t")
            cls = getattr(errors, kind, errors.NeurodeployError)
            if not (isinstance(cls, type) and issubclass(cls, errors.NeurodeployError)):
                cls = errors.NeurodeployError
            return cls(f"rank {rank}: {message}")
    failures = getattr(exc, "failures", {}) or {}
    first = min(failures.items(), key=lambda kv: kv[1].local_rank) if failures else None
    code = f"exit code {first[1].exitcode}" if first else "unknown failure"
    rank = first[1].local_rank if first else "?"
    return errors.NeurodeployError(f"training process rank {rank} failed ({code}) without a neurodeploy "
                                   "error: see its output above")


def _end_with_launcher() -> None:
    """Linux: have the kernel SIGKILL this rank when the launcher process ends. torchrun starts
    the ranks in sessions of their own, so a launcher killed outright (``kill -9``, the OOM
    killer) would otherwise leave them training, and writing the run folder, on their own."""
    import signal
    import sys

    launcher = os.environ.get(LAUNCHER_ENV, "")
    if not launcher.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: torchrun's own handling only
        return
    if os.getppid() != int(launcher):  # the launcher ended before prctl took effect
        os._exit(128 + int(signal.SIGKILL))


def _worker(job_path: str) -> int:
    """One rank of a ``--nproc`` run (``python -m neurodeploy.train.distributed JOB.json``)."""
    import json
    import signal

    from neurodeploy.errors import NeurodeployError
    from neurodeploy.quiet import install, one_line

    install()
    _end_with_launcher()

    def _terminate(signum, frame):  # torchrun stops the other ranks with SIGTERM: run the finally blocks
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    with open(job_path) as f:
        job = json.load(f)
    try:
        from neurodeploy.train.trainer import Trainer

        result = Trainer(job["cfg"], job["out"], resume=job["resume"], progress=job["progress"]).fit()
    except NeurodeployError as exc:
        if not report_error(f"{type(exc).__name__}\t{one_line(exc)}"):
            print(f"neurodeploy: error: {one_line(exc)}", file=__import__("sys").stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C: the launcher says "aborted" once
        return 130
    if from_env().main:
        with open(job["result"], "w") as f:
            json.dump({"best_accuracy": result.best_accuracy, "last_accuracy": result.last_accuracy,
                       "epochs": result.epochs, "seconds": result.seconds,
                       "already_finished": result.already_finished}, f)
    return 0


if __name__ == "__main__":
    import sys

    code = _worker(sys.argv[1])
    if code:  # a failed rank may still hold its process group, which the interpreter's own exit
        sys.stdout.flush()  # can hang on (see teardown): end now; torchrun stops the other ranks
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
