"""``neurodeploy sweep``: an Optuna multi-objective study over training configs.

Objectives per trial: maximise the test accuracy of the trained run (last epoch, test split) and
minimise the energy per inference of its network in pJ (``neurodeploy energy`` on
``energy_samples`` test samples, one ``--profile`` and ``--convention``). Optional constraint: the
network fits ``fit_target`` (``export --check-only``), recorded as the trial's Optuna constraint
(``Trial.set_constraint``, ≤ 0 feasible), which the TPE sampler and the Pareto front respect.

Sweep folder ``OUT``: ``study.db`` (Optuna's sqlite storage), ``trials/<number>/`` (each trial's
run), ``sweep.json`` and ``report.html`` (written at the end). A killed sweep resumes from
``study.db``: finished trials (complete or failed) are kept, a trial that was running when the
sweep died is marked failed (``interrupted``) and queued again with the same parameters, and only
the missing trials up to ``--trials N`` run. ``--workers W`` starts W processes on this machine
that share the storage; a lock file keeps the total at exactly N.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

from neurodeploy.errors import ConfigError, NeurodeployError

STUDY = "neurodeploy-sweep"
FORMAT_VERSION = 1


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("neurodeploy sweep needs Optuna: pip install 'neurodeploy[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


def _storage(out: Path):
    optuna = _optuna()
    return optuna.storages.RDBStorage(storage_url(out), engine_kwargs={"connect_args": {"timeout": 120}})


@contextmanager
def _locked(out: Path):
    with open(out / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def open_study(out: Path, seed: int, worker: int = 0):
    """The study in ``out`` with a TPE sampler seeded by (seed, worker, trials so far): a fresh
    single-worker sweep is reproducible, and a resumed sweep or a second worker does not replay
    the random draws (the first trials' parameters) of the sampler before it."""
    optuna = _optuna()
    study = optuna.create_study(storage=_storage(out), study_name=STUDY, directions=["maximize", "minimize"],
                                load_if_exists=True)
    n = len(study.get_trials(deepcopy=False))
    # the fit constraint is stored per trial (Trial.set_constraint, Optuna ≥ 5): TPE and
    # best_trials read it from there
    study.sampler = optuna.samplers.TPESampler(seed=(seed + 1_000_003 * worker + n) % 2**32, n_startup_trials=4)
    return study


def _counted(study) -> int:
    """Trials that count towards N: complete, failed (not interrupted) and running ones."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.RUNNING)
               or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")))


def recover(out: Path, study) -> list[int]:
    """Trials left RUNNING by a killed sweep: mark them failed (interrupted), remove their
    half-trained run folders and queue their parameters again. Returns their numbers."""
    from optuna.trial import TrialState

    storage = study._storage
    redo = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        shutil.rmtree(out / "trials" / str(t.number), ignore_errors=True)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        redo.append(t.number)
    return redo


def run_trial(job: dict, space, values: dict, trial_dir: Path) -> dict:
    """Train one config and measure it: {accuracy, energy_pj, fits, fit_error}."""
    from neurodeploy import api
    from neurodeploy.sweeps.space import apply

    cfg = apply(job["cfg"], values, f"trial {trial_dir.name}")
    run = api.train(cfg, out=trial_dir, progress=False)
    rep = api.energy(trial_dir, profiles=(job["profile"],), convention=job["convention"],
                     samples=space.energy_samples)
    pj = rep.snn_pj(rep.profiles[0])
    if pj is None:  # the same for every trial: end the sweep
        err = ConfigError(f"profile {job['profile']!r} has no cost for every operation the "
                          f"{job['convention']!r} convention counts: choose another --profile/--convention")
        err.sweep_fatal = True
        raise err
    res = {"accuracy": float(run.last_accuracy), "energy_pj": float(pj), "fits": None, "fit_error": None}
    if space.fit_target:
        check = api.export(trial_dir, space.fit_target, trial_dir / "fit-check", check_only=True,
                           profile=space.fit_profile or job["profile"])
        res["fits"] = check.error is None
        res["fit_error"] = None if check.error is None else str(check.error)
    return res


def work(job: dict) -> int:
    """One worker: ask for trials until N are counted, run them, tell the results."""
    from optuna.trial import TrialState

    from neurodeploy.quiet import one_line
    from neurodeploy.sweeps.space import Space, _param_from_json

    space = Space(**{**job["space"], "params": tuple(_param_from_json(p) for p in job["space"]["params"])})
    out = Path(job["out"])
    study = open_study(out, space.seed, job.get("worker", 0))
    ran = 0
    while True:
        with _locked(out):
            if _counted(study) >= job["trials"]:
                break
            trial = study.ask()
        values = space.suggest(trial)
        trial_dir = out / "trials" / str(trial.number)
        shutil.rmtree(trial_dir, ignore_errors=True)
        try:
            res = run_trial(job, space, values, trial_dir)
        except NeurodeployError as exc:
            if getattr(exc, "sweep_fatal", False):  # not the trial's fault: it does not count
                trial.set_user_attr("interrupted", True)
                study.tell(trial, state=TrialState.FAIL)
                raise
            trial.set_user_attr("error", one_line(exc))
            study.tell(trial, state=TrialState.FAIL)
            warnings.warn(f"sweep trial {trial.number} failed: {one_line(exc)}", stacklevel=2)
            ran += 1
            continue
        for k, v in res.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("run_dir", str(trial_dir))
        if space.fit_target:  # ≤ 0 feasible
            trial.set_constraint("fits", 0.0 if res["fits"] else 1.0)
        study.tell(trial, [res["accuracy"], res["energy_pj"]])
        ran += 1
    return ran


def _worker_main(job_path: str) -> int:
    from neurodeploy.quiet import install

    install()
    with open(job_path) as f:
        job = json.load(f)
    try:
        work(job)
    except NeurodeployError as exc:
        from neurodeploy.quiet import one_line

        print(f"neurodeploy: error: sweep worker {job.get('worker')}: {one_line(exc)}", file=__import__("sys").stderr)
        return exc.exit_code
    return 0


def run_sweep(cfg: dict, space, out: Path, trials: int, workers: int, profile: str, convention: str) -> dict:
    """Run (or resume) the sweep in ``out``; returns the summary written to ``out/sweep.json``."""
    import subprocess
    import sys

    from neurodeploy.sweeps.space import _param_to_json

    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "sweep-setup.json"
    setup = {"format_version": FORMAT_VERSION, "cfg": cfg, "space_path": space.path,
             "params": [_param_to_json(p) for p in space.params], "profile": profile,
             "convention": convention, "energy_samples": space.energy_samples, "fit_target": space.fit_target,
             "fit_profile": space.fit_profile}
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        changed = [k for k in setup if k != "space_path" and old.get(k) != setup[k]]
        if changed:
            raise ConfigError(f"{out} holds a sweep with another {', '.join(changed)}; resume it with the same "
                              "config, space, --profile and --convention, or choose another --out")
    else:
        from neurodeploy.atomic import write_text

        write_text(meta_path, json.dumps(setup, indent=2))
    with _locked(out):
        study = open_study(out, space.seed)
        redo = recover(out, study)
    if redo:
        warnings.warn(f"sweep {out}: trial(s) {', '.join(map(str, redo))} were interrupted by a kill; "
                      "they run again with the same parameters", stacklevel=2)
    job = {"cfg": cfg, "out": str(out), "trials": trials, "profile": profile, "convention": convention,
           "space": {"path": space.path, "seed": space.seed, "energy_samples": space.energy_samples,
                     "fit_target": space.fit_target, "fit_profile": space.fit_profile,
                     "params": setup["params"]}}
    if workers <= 1:
        work(job)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="nd-sweep-") as tmp:
            procs = []
            for w in range(workers):
                path = Path(tmp) / f"worker{w}.json"
                path.write_text(json.dumps({**job, "worker": w}))
                procs.append(subprocess.Popen([sys.executable, "-m", "neurodeploy.sweeps.study", str(path)]))
            codes = [p.wait() for p in procs]
        bad = [(w, c) for w, c in enumerate(codes) if c != 0]
        if bad:
            raise NeurodeployError(f"sweep worker {bad[0][0]} failed (exit code {bad[0][1]}, see above); "
                                   f"the sweep in {out} resumes with the same command")
    return summarise(out, trials, profile, convention, space)


def summarise(out: Path, trials: int, profile: str, convention: str, space) -> dict:
    """sweep.json: every trial, the Pareto front (feasible trials only), the setup."""
    from optuna.trial import TrialState

    from neurodeploy.atomic import write_text
    from neurodeploy.sweeps.report import to_html

    study = open_study(out, space.seed)
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted"):
            continue
        rows.append({"number": t.number, "state": t.state.name.lower(), "params": {
            k: (json.loads(v) if isinstance(v, str) and _is_json(v) else v) for k, v in t.params.items()},
            "accuracy": t.user_attrs.get("accuracy"), "energy_pj": t.user_attrs.get("energy_pj"),
            "fits": t.user_attrs.get("fits"), "fit_error": t.user_attrs.get("fit_error"),
            "error": t.user_attrs.get("error"), "run_dir": t.user_attrs.get("run_dir"),
            "retry_of": t.user_attrs.get("retry_of")})
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    pareto = sorted(t.number for t in study.best_trials) if complete else []
    summary = {"format_version": FORMAT_VERSION, "profile": profile, "convention": convention,
               "objectives": ["maximize test accuracy (last epoch)", f"minimize SNN energy per inference (pJ, {profile}, {convention})"],
               "fit_target": space.fit_target or None, "trials_requested": trials,
               "space": [_param_doc(p) for p in space.params], "trials": rows, "pareto_front": pareto}
    write_text(out / "sweep.json", json.dumps(summary, indent=2))
    write_text(out / "report.html", to_html(summary))
    return summary


def _is_json(v: str) -> bool:
    try:
        json.loads(v)
    except ValueError:
        return False
    return True


def _param_doc(p) -> str:
    if p.kind == "categorical":
        return f"{p.key} ∈ {{{', '.join(json.dumps(c) for c in p.choices)}}}"
    return f"{p.key} ∈ [{p.low:g}, {p.high:g}] ({p.kind}{', log' if p.log else ''}{f', step {p.step:g}' if p.step else ''})"


if __name__ == "__main__":
    import sys

    sys.exit(_worker_main(sys.argv[1]))
