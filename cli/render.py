"""`render PRESET... [-o DIR] [--only STEM] [--dry-run] [--force] [--jobs N] [--ray [ADDRESS]] [--model DIR]
[--prefix] [-q]`.

Presets are validated completely before the model loads and before anything
is written; every problem is one line (file: key path = value: problem;
allowed: ...), with no traceback, and the exit status is 1. So is a failure
while rendering (an output path that is a file, a full disk). Ctrl-C or a kill
(SIGTERM) keeps every finished stem; the next run picks up from there.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
KEPT = "finished stems are kept under {output}/ and a new run continues from them"


def _fail(lines, code: int = EXIT_ERROR):
    for line in str(lines).splitlines() if isinstance(lines, str) else lines:
        click.echo(f"error: {line}" if not line.startswith("error") else line, err=True)
    sys.exit(code)


def _terminate(signum, frame):
    raise KeyboardInterrupt


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("presets", nargs=-1, required=True, metavar="PRESET...")
@click.option(
    "-o",
    "--output",
    "output",
    default="out",
    show_default=True,
    metavar="DIR",
    help="Output folder; each set is written to DIR/<set name>/.",
)
@click.option("--only", multiple=True, metavar="STEM", help="Render only this stem (repeat for more).")
@click.option("--dry-run", is_flag=True, help="Validate and show what would be rendered or reused; write nothing.")
@click.option("--force", is_flag=True, help="Render every stem again, even if its file is up to date.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Stems rendered in parallel (worker processes; CPU threads are shared out among them).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help='Render every stem of every preset on Ray actors (pip install -e ".[ray]"). Alone: a Ray runtime on '
    "this machine; `auto`, HOST:6379 or ray://HOST:10001: join that cluster. Each stem gets the threads --jobs "
    "gives it here, so the files equal `render --jobs N`'s byte for byte on the same kind of machine.",
)
@click.option(
    "--model",
    metavar="DIR",
    help="A model folder (`reverie train`). Default: the embedded model.",
)
@click.option(
    "--prefix",
    is_flag=True,
    help="Start every file name with the set's name (<set>-<stem>.<format>), as [set] prefix = true does.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def main(presets, output, only, dry_run, force, jobs, ray_address, model, prefix, quiet):
    """Render TOML presets into mastered stems, a mixdown, spectrograms and a manifest.

    \b
    Examples:
      render presets/sleep_set.toml
      render presets/*.toml -o renders --jobs 2
      render presets/calm.toml --only pad --force
      render presets/sleep_set.toml --dry-run
      render presets/calm.toml presets/sad.toml --ray          # a local Ray runtime
      render presets/*.toml --ray auto                         # the cluster of `ray start`
    See docs/presets.md for the preset format and docs/scale.md for Ray clusters.
    """
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        _main(presets, output, only, dry_run, force, jobs, model, quiet, prefix, ray_address)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(presets, output, only, dry_run, force, jobs, model, quiet, prefix=False, ray_address=None):
    from reverie.models.errors import ReverieError
    from reverie.render.errors import PresetErrors
    from reverie.render.preset import load_presets

    try:
        loaded = load_presets(presets)
    except PresetErrors as exc:
        _fail([e.message for e in exc.errors])
    for preset in loaded:
        preset.set.prefix = preset.set.prefix or prefix
    blocking = next((p for p in (Path(output), *Path(output).parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        _fail(
            f"-o {output}: {'is' if blocking == Path(output) else f'{blocking} is'} a file, not a folder; "
            "allowed: a folder (made when missing)"
        )
    selected = set(only) if only else None
    if selected:
        known = {s.name for p in loaded for s in p.stems}
        unknown = sorted(selected - known)
        if unknown:
            _fail(f"--only {unknown[0]}: no stem of that name; allowed: {', '.join(sorted(known))}")
    started = False  # whether anything may have been written: only then are finished stems worth a word
    runtime = None
    try:
        if ray_address is not None and not dry_run:
            # Before the model loads: a missing ray or a wrong address fails in seconds. Imported only here:
            # ray's import and start-up take seconds that no other run should pay.
            from reverie.cluster.runtime import connect

            runtime = connect(ray_address)
        from reverie.models.pipeline import load_pipeline
        from reverie.render.progress import Progress
        from reverie.render.renderer import describe_plan, plan_set, render_set
        from reverie.render.space import check_free_space

        pipe = load_pipeline(model)
        plans, errors = [], []
        for preset in loaded:
            chosen = selected & {s.name for s in preset.stems} if selected else None
            if selected and not chosen:
                continue
            try:
                plans.append(plan_set(preset, pipe, Path(output), chosen, force, dry_run, jobs))
            except PresetErrors as exc:
                errors.extend(e.message for e in exc.errors)
        if errors:
            _fail(errors)
        check_free_space(plans, jobs)
        if dry_run:
            for plan in plans:
                for line in describe_plan(plan):
                    click.echo(line)
            return
        total = sum(p.steps for plan in plans for p in plan.to_render)
        progress = Progress(total, enabled=not quiet)
        started = True
        try:
            for plan in plans:
                reused = [p.stem.name for p in plan.stems if p.action == "reuse"]
                if reused and not quiet:
                    progress.overall.write(
                        f"{plan.preset.set.name}: up to date, reused: {', '.join(reused)}", file=sys.stderr
                    )
            if runtime is not None:
                from reverie.cluster.render import render_sets_on_ray

                render_sets_on_ray(
                    plans, pipe, model_spec=model, jobs=jobs, progress=progress, log=_log(quiet), warn=_log(False)
                )
            for plan in plans if runtime is None else ():
                render_set(
                    plan, pipe, model_spec=model, jobs=jobs, progress=progress, log=_log(quiet), warn=_log(False)
                )
        finally:
            progress.close()
        for plan in plans:
            click.echo(f"{plan.folder}/manifest.json")
    except KeyboardInterrupt:
        _fail(f"interrupted; {KEPT.format(output=output)}", EXIT_INTERRUPTED)
    except ReverieError as exc:
        kept = exc.field in ("output", "ray") and started
        _fail(exc.message + (f"; {KEPT.format(output=output)}" if kept else ""))
    except OSError as exc:  # a folder that cannot be made or written
        where = exc.filename or output
        _fail(f"cannot write {where}: {exc.strerror or exc}" + (f"; {KEPT.format(output=output)}" if started else ""))
    finally:
        if runtime is not None:
            runtime.close()


def _log(quiet: bool):
    def log(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    return log


if __name__ == "__main__":
    main()
