"""``neurodeploy`` command line: train, export, verify, energy, profiles, inspect.

Every user-fixable problem raises a :class:`~neurodeploy.errors.NeurodeployError`; ``main``
prints it as one line on stderr and exits with its non-zero code, without a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from neurodeploy import __version__
from neurodeploy.constraints import Range, check_number
from neurodeploy.errors import ConfigError, NeurodeployError
from neurodeploy.quiet import one_line, show_progress


def _console():
    from rich.console import Console

    return Console()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="neurodeploy")
def cli():
    """Train spiking neural networks, export them via NIR to Loihi 2 / Xylo / ONNX, verify, report energy.

    \b
    Typical flow:
      neurodeploy train configs/digits.toml --out runs/digits
      neurodeploy export runs/digits --target loihi -o out/model.net
      neurodeploy verify out/model.net
      neurodeploy energy runs/digits --format json --format html -o out/energy
    """


class Number(click.ParamType):
    """A CLI number checked by :func:`neurodeploy.constraints.check_number` (finite, in range):
    ``--input-scale nan``, ``-n -1`` or ``--dt 0`` are usage errors naming the option."""

    def __init__(self, rng, integer: bool = False):
        self.rng, self.integer = rng, integer
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(value, 10) if self.integer else float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not {'an integer' if self.integer else 'a number'}", param, ctx)
        try:
            return check_number(f"option {param.opts[0] if param else ''}".strip(), number, self.rng)
        except ConfigError as exc:
            self.fail(str(exc).split(": ", 1)[-1], param, ctx)


POSITIVE = Number(Range(min=0.0, min_open=True))
FRACTION = Number(Range(min=0.0, max=1.0))
COUNT = Number(Range(min=0, integer=True), integer=True)


def nir_reading_options(f):
    """--dt, --reset, --dialect, --input-scale: the conventions a NIR file may not record."""
    options = [
        click.option("--dt", "dt_s", type=POSITIVE,
                     help="Time step in seconds (overrides the graph's metadata; required for foreign NIR files without one)."),
        click.option("--reset", type=click.Choice(["zero", "subtract"]),
                     help="Reset mode for NIR files that do not record it (default: metadata, else zero)."),
        click.option("--dialect", default="neurodeploy", show_default=True,
                     help="Writer of a NIR file: neurodeploy, norse, snntorch, snntorch-no-reset-delay, sinabs, rockpool, spyx or spyx-0.1 (see docs/interop.md)."),
        click.option("--input-scale", type=POSITIVE, default=1.0, show_default=True,
                     help="Multiply a NIR file's input (e.g. the writer's spike amplitude); folded into the first layer."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


# --------------------------------------------------------------------------- train
@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out", type=click.Path(file_okay=False),
              help="Run directory (default runs/<config name>). A directory that already holds a run "
                   "(last.pt) is refused: use --resume or another --out; leftovers of a run killed "
                   "before its first checkpoint are cleared (a clean start).")
@click.option("--set", "-s", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value (TOML syntax), e.g. -s model.hidden=[128] -s train.lr=1e-3. Repeatable.")
@click.option("--epochs", type=int, help="Shortcut for -s train.epochs=N (also extends a resumed run).")
@click.option("--seed", type=int, help="Shortcut for -s train.seed=N.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Shortcut for -s data.data_dir=DIR (real datasets).")
@click.option("--init", "init", type=click.Path(exists=True), help="Start from a run directory, .pt or .nir graph (fine-tuning); shortcut for -s train.init=PATH.")
@click.option("--target", help="Hardware-aware fine-tuning: train through the target's quantisation (-s train.target=…).")
@nir_reading_options
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt, exactly "
              "(a finished run says so; add --epochs N to train it longer).")
@click.option("--nproc", type=Number(Range(min=1, integer=True), integer=True),
              help="Data-parallel training in N processes on this machine (DDP; gloo on CPU, NCCL on "
                   "GPUs), started by torch.distributed's launcher; same global batch (train.batch_size) "
                   "and result as one process (docs/scale-out.md). Several machines: torchrun.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--help-config", is_flag=True, help="List every config key with its default and meaning, then exit.")
def train(config, out, overrides, epochs, seed, data_dir, init, target, dt_s, reset, dialect, input_scale,
          resume, nproc, quiet, help_config):
    """Train a spiking network from a TOML CONFIG (default: built-in defaults).

    Writes OUT/config.json, OUT/last.pt, OUT/best.pt (best test accuracy) and OUT/metrics.jsonl.
    Also runs under torchrun (`torchrun --nproc-per-node N -m neurodeploy train …`): rank 0 writes.
    """
    if help_config:
        from neurodeploy.train.config import describe

        click.echo(describe())
        return
    from neurodeploy.api import train as train_api

    run = train_api(config, out=out, sets=list(overrides), epochs=epochs, seed=seed, data_dir=data_dir,
                    init=init, target=target, dialect=dialect, dt_s=dt_s, reset=reset,
                    input_scale=input_scale, resume=resume, progress=show_progress(quiet), nproc=nproc)
    from neurodeploy.train.distributed import from_env

    if not from_env().main:  # under torchrun: rank 0 reports
        return
    if run.already_finished:
        click.echo(f"{run.path} already finished after {run.epochs} epochs (test accuracy "
                   f"{run.last_accuracy:.2%}, best {run.best_accuracy:.2%}); nothing to resume. "
                   f"To train longer: --resume --epochs N with N > {run.epochs}")
        return
    click.echo(f"trained {run.epochs} epochs in {run.seconds:.1f} s: test accuracy "
               f"{run.last_accuracy:.2%} (best {run.best_accuracy:.2%}) → {run.path}")


# --------------------------------------------------------------------------- export
@cli.command()
@click.argument("source", type=click.Path())
@click.option("--target", "-t", default="nir", show_default=True, help="Target name (see `neurodeploy inspect --targets`).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), help="Output file (default: SOURCE name + target suffix).")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last", show_default=True,
              help="Which checkpoint of a run directory to export (best = highest test accuracy, chosen "
                   "on the test split: an optimistic pick).")
@nir_reading_options
@click.option("--profile", help="Hardware profile name or .toml path (default: the target's own; `neurodeploy profiles list`).")
@click.option("--check-only", is_flag=True, help="Make the export's decision and print its report; write nothing (same exit code as the export).")
@click.option("--allow-lossy", is_flag=True, help="Write even when a conversion step is beyond its fidelity budget; every loss is printed and recorded in the manifest.")
@click.option("--input-spikes", type=click.Path(exists=True, dir_okay=False),
              help="Targets that check float vs their integers: .npy (T, N, *input) spikes for that check (default: the source's test data, else seeded random spikes).")
@click.option("--unroll", type=int, help="Targets with a step model: export a whole-sequence model of T steps instead of one step.")
def export(source, target, out, checkpoint, dt_s, reset, dialect, input_scale, profile, check_only,
           allow_lossy, input_spikes, unroll):
    """Export SOURCE (run directory, .pt checkpoint or .nir file) to a TARGET file.

    The exporter reads the NIR graph of SOURCE; beside the output it stores that graph as
    OUT.source.nir so that `neurodeploy verify OUT` needs nothing else.
    """
    from neurodeploy.api import export as export_api

    options = {name: value for name, value in (("check_only", check_only), ("allow_lossy", allow_lossy),
                                               ("profile", profile)) if value}
    if unroll is not None:
        options["unroll"] = unroll
    result = export_api(source, target, out, which=checkpoint, dialect=dialect, dt_s=dt_s, reset=reset,
                        input_scale=input_scale, input_spikes=input_spikes, **options)
    if check_only:
        click.echo(result.text)
    if allow_lossy:
        for step in result.summary.get("lossy_steps", []):
            click.echo(f"neurodeploy: warning: {step}", err=True)
    if check_only:
        if result.error is not None:
            raise result.error
        return
    click.echo(f"wrote {result.path}" + "".join(f", {p}" for p in result.extra_paths))


# --------------------------------------------------------------------------- verify
@cli.command()
@click.argument("exported", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", type=click.Path(exists=True), help="Source run directory or .nir (default: EXPORTED.source.nir).")
@click.option("--data", help="Dataset name (default: the source's own dataset, test split).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of a real dataset's files.")
@click.option("--samples", "-n", type=COUNT, default=64, show_default=True, help="Number of test samples (0 = all).")
@click.option("--input-spikes", type=click.Path(exists=True, dir_okay=False),
              help="Verify on these spikes instead of a dataset: .npy of shape (T, N, *input_shape); no labels.")
@click.option("--random-input", type=FRACTION, metavar="RATE",
              help="Verify on seeded random spikes of this rate (0-1) instead of a dataset; T from the graph (else 16).")
@click.option("--vendor/--no-vendor", "--lava/--no-lava", "vendor", default=None,
              help="Run the target's vendor simulator too (default: when installed).")
@click.option("--max-accuracy-drop", type=Number(Range(min=0.0)), help="Override the profile's max |accuracy delta| in points (recorded in the JSON).")
@click.option("--min-spike-agreement", type=FRACTION, help="Override the per-layer identical spike-bin fraction threshold (0-1).")
@click.option("--min-count-corr", type=Number(Range(min=-1.0, max=1.0)), help="Override the per-layer spike-count correlation threshold.")
@click.option("--json-out", type=click.Path(dir_okay=False), help="Also write the full result (with every criterion) as JSON.")
@click.option("--against", "against_writer", type=click.Choice(["norse", "spyx", "spyx-0.1", "rockpool", "sinabs"]),
              help="Also run the writer library's own simulation of --source FILE.nir and report its agreement.")
@nir_reading_options
def verify(exported, source, data, data_dir, samples, input_spikes, random_input, vendor,
           max_accuracy_drop, min_spike_agreement, min_count_corr, json_out, against_writer,
           dt_s, reset, dialect, input_scale):
    """Check that EXPORTED computes what its source network computes.

    The target that writes EXPORTED's suffix verifies it (`neurodeploy inspect --targets` lists
    those with verify): a hardware target runs the float model vs its bit-exact emulator vs the
    vendor simulator, judged by its profile's fidelity criteria (accuracy delta, per-layer spike
    agreement and count correlation, emulator = vendor); a step-model target runs its runtime vs
    the float model from zero and non-zero state. Prints every criterion with its threshold;
    exits with VerificationError's code (8) when any fails.
    """
    from neurodeploy.api import verify as verify_api
    from neurodeploy.errors import VerificationError

    report = verify_api(exported, source, data=data, data_dir=data_dir, samples=samples,
                        input_spikes=input_spikes, random_input=random_input, lava=vendor,
                        max_accuracy_drop=max_accuracy_drop, min_spike_agreement=min_spike_agreement,
                        min_count_corr=min_count_corr, against=against_writer, dialect=dialect,
                        dt_s=dt_s, reset=reset, input_scale=input_scale)
    res = report.result
    for line in res.get("text") or []:  # the target's own summary lines (registry entry's verify)
        click.echo(line)
    _print_criteria(res.get("criteria", []))
    if "against" in res:
        from neurodeploy.sim.against import against_line

        click.echo(against_line(res["against"]))
    if json_out:
        from neurodeploy.atomic import write_text

        write_text(Path(json_out), json.dumps(res, indent=2, default=str))
    if not report.passed:
        from neurodeploy.targets.base import failed_text

        raise VerificationError(f"{report.artefact}: fidelity criteria failed: {failed_text(res['criteria'])}")


def _print_criteria(rows: list[dict]) -> None:
    from rich.markup import escape
    from rich.table import Table

    notes = any(r.get("note") for r in rows)  # e.g. why an accuracy gap passed (McNemar p)
    table = Table("criterion", "layer", "value", "threshold", "result", *(["note"] if notes else []),
                  title="fidelity criteria")
    for r in rows:
        v = r["value"]
        val = "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        cells = (r["name"], "" if r["layer"] is None else str(r["layer"]), val, f"{r['op']} {r['threshold']:g}",
                 r["status"], *([r.get("note") or ""] if notes else []))
        table.add_row(*(escape(c) for c in cells))  # "[data] input_clip" is text, not rich markup
    _console().print(table)


# --------------------------------------------------------------------------- energy
@cli.command()
@click.argument("source", type=click.Path())
@click.option("--data", help="Dataset name (default: the source's own dataset, test split).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of a real dataset's files.")
@click.option("--samples", "-n", type=COUNT, default=256, show_default=True, help="Number of test samples (0 = all).")
@click.option("--profile", "profiles", multiple=True, help="Profile name or .toml path; repeat to compare (default cmos45-fp32).")
@click.option("--convention", default="fanout", show_default=True, help="Counting convention: fanout, neurobench, rate-flops, memory.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["json", "md", "html"]),
              help="Report files to write (repeatable; default json).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), help="Output path stem (default SOURCE/energy or SOURCE's name); a name ending in a requested "
                   "format's suffix is taken as is (-o report.html --format html → report.html).")
@nir_reading_options
def energy(source, data, data_dir, samples, profiles, convention, formats, out, dt_s, reset, dialect, input_scale):
    """Count synaptic operations, spikes and sparsity of SOURCE (run directory or .nir) on data,
    and estimate energy per inference against the equivalent ANN."""
    from neurodeploy.api import energy as energy_api
    from neurodeploy.energy import render_table

    result = energy_api(source, data, profiles=profiles, convention=convention, samples=samples,
                        data_dir=data_dir, out=out, formats=formats or ("json",), dialect=dialect,
                        dt_s=dt_s, reset=reset, input_scale=input_scale)
    _console().print(render_table(result.report))
    for path in result.paths:
        click.echo(f"wrote {path}")


# --------------------------------------------------------------------------- sweep
@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--space", required=True, type=click.Path(dir_okay=False),
              help="Search-space TOML: [params.\"SECTION.KEY\"] tables (float/int ranges, categorical "
                   "choices) and an optional [sweep] table (seed, energy_samples, fit_target, fit_profile); docs/scale-out.md.")
@click.option("--trials", required=True, type=Number(Range(min=1, integer=True), integer=True),
              help="Total trials of the sweep; a resumed sweep runs only the missing ones.")
@click.option("--workers", type=Number(Range(min=1, integer=True), integer=True), default=1, show_default=True,
              help="Worker processes on this machine sharing the study (sqlite).")
@click.option("--profile", default="cmos45-fp32", show_default=True,
              help="Hardware profile pricing the energy objective (and the fit_target check, unless the space sets fit_profile).")
@click.option("--convention", default="fanout", show_default=True,
              help="Energy counting convention: fanout, neurobench, rate-flops, memory.")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False),
              help="Sweep folder (default runs/sweep-<config name>); an existing one is resumed.")
@click.option("--set", "-s", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a value of the base config (as in train). Repeatable.")
def sweep(config, space, trials, workers, profile, convention, out, overrides):
    """Search training configs for the accuracy/energy trade-off (Optuna, multi-objective).

    Each trial trains CONFIG with values drawn from --space, then measures test accuracy and
    energy per inference (--profile, --convention); optional constraint: the network fits a
    target. Writes OUT/study.db (resumable after a kill), OUT/trials/<n>/, OUT/sweep.json and
    OUT/report.html (Pareto-front chart).
    """
    from neurodeploy.api import sweep as sweep_api

    res = sweep_api(config, space, trials, out=out, workers=workers, profile=profile, convention=convention,
                    sets=list(overrides))
    done = [t for t in res.trials if t["state"] == "complete"]
    click.echo(f"{len(done)} of {trials} trials complete; Pareto front ({len(res.pareto_front)}):")
    for t in res.front():
        click.echo(f"  trial {t['number']}: test accuracy {t['accuracy']:.2%}, {t['energy_pj']:.4g} pJ per "
                   f"inference  {json.dumps(t['params'])}")
    click.echo(f"wrote {res.path / 'sweep.json'}, {res.report}")


# --------------------------------------------------------------------------- profiles
@cli.group()
def profiles():
    """Hardware profiles: energy costs and limits per target, each number with its source."""


@profiles.command("list")
def profiles_list():
    """List the builtin profiles."""
    from neurodeploy.hw_profiles import list_profiles, load_profile

    for name in list_profiles():
        click.echo(f"{name:14s} {load_profile(name).description[:80]}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name):
    """Show a profile (builtin NAME or a .toml path): every cost and limit with its provenance."""
    from rich.table import Table

    from neurodeploy.hw_profiles import COST_KEYS, LIMIT_KEYS, load_profile

    prof = load_profile(name)
    con = _console()
    con.print(f"[bold]{prof.name}[/bold]: {prof.description}")
    for title, items, docs in (("costs", prof.costs, COST_KEYS), ("limits", prof.limits, LIMIT_KEYS)):
        table = Table("key", "value", "kind", "source", "meaning", title=title)
        for key, q in items.items():
            table.add_row(key, f"{q.value:g}", q.kind, q.source, docs[key])
        con.print(table)


# --------------------------------------------------------------------------- inspect
@cli.command()
@click.argument("path", required=False, type=click.Path())
@click.option("--targets", is_flag=True, help="List export targets.")
@click.option("--surrogates", is_flag=True, help="List surrogate gradients.")
@nir_reading_options
def inspect(path, targets, surrogates, dt_s, reset, dialect, input_scale):
    """Summarise a run directory (config, metrics, diagnostics) or a NIR file (nodes, metadata)."""
    if targets:
        from neurodeploy.targets.base import TARGETS

        for name in TARGETS:
            t = TARGETS.get(name)
            caps = [c for c in ("check", "verify", "read", "training_transform") if getattr(t, c) is not None]
            click.echo(f"{name:8s} {t.suffix:6s} {t.description}"
                       + (f" [{', '.join(caps)}]" if caps else ""))
        return
    if surrogates:
        from neurodeploy.surrogates import SURROGATES

        for name in SURROGATES:
            click.echo(name)
        return
    if not path:
        raise ConfigError("inspect needs a PATH (run directory or .nir file), or --targets / --surrogates")
    from neurodeploy.api import load

    p = Path(path)
    con = _console()
    if p.is_dir():
        run = load(p)
        con.print(f"run {p}: {len(run.metrics)} epochs")
        init = next((m["init_in_window"] for m in run.metrics if m.get("init_in_window")), None)
        if init:  # model.init / in-window diagnostic (neurodeploy.train.near_threshold)
            con.print("  at init, membranes within the surrogate window |v − v_th| ≤ w: " + ", ".join(
                f"layer {w['layer']} {w['in_window']:.1%} (w {w['width']:g}, scale ×{w['scale']:.3g})" for w in init))
        for m in run.metrics:
            rates = ", ".join(f"{r:.3f}" for r in m.get("firing_rates", []))
            extra = "".join(f"  {k}={v}" for k, v in m.items() if k.startswith("diag"))
            con.print(f"  epoch {m['epoch'] + 1:3d}  loss {m['train_loss']:.3f}  test {m['test_accuracy']:.2%}  rates [{rates}]{extra}")
        graph = run.to_nir()
    else:  # a checkpoint file shows its own graph (load() reads a run's .pt as the whole run)
        from neurodeploy.pipeline import load_source

        graph = load_source(p, "last", dialect, dt_s, reset, input_scale).graph
    con.print("nodes:")
    for name, node in graph.nodes.items():
        shape = getattr(node, "weight", None)
        con.print(f"  {name:12s} {type(node).__name__:10s} {tuple(shape.shape) if shape is not None else ''}")
    con.print(f"metadata: {json.dumps(graph.metadata, default=str)}")
    from neurodeploy.ir.conventions import Conventions

    conv = Conventions.from_graph(graph)
    fields = "; ".join(f"{k} = {getattr(conv, k)} ({conv.source(k)})"
                       for k in ("dt_s", "reset", "spike_amplitude", "dialect", "input_scale"))
    con.print(f"conventions: {fields}" + (f"; assumed: {', '.join(conv.assumed)}" if conv.assumed else ""))


def _usage_line(exc: click.ClickException) -> str:
    """A click usage error as one line: what is wrong, and where to read the usage."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"neurodeploy: error: {one_line(exc.format_message())}{where}"


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click ≥ 8.2


def _terminate(signum, frame):  # SIGTERM → normal exit, so every `finally` (temp files) runs
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    """Console entry point: user errors become one line on stderr and a non-zero exit code."""
    import signal

    from neurodeploy.quiet import install

    restore = install()
    try:
        old_term = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        old_term = None
    try:
        return _main(argv)
    finally:
        restore()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _main(argv) -> int:
    try:
        cli.main(args=argv, prog_name="neurodeploy", standalone_mode=False)
    except NeurodeployError as exc:
        click.echo(f"neurodeploy: error: {one_line(exc)}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("neurodeploy: aborted", err=True)
        return 130
    except _NO_ARGS_IS_HELP as exc:  # `neurodeploy` / `neurodeploy profiles` alone: the help
        click.echo(exc.ctx.get_help())
        return 0
    except click.ClickException as exc:
        click.echo(_usage_line(exc), err=True)
        return exc.exit_code
    except OSError as exc:
        click.echo(f"neurodeploy: error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

