"""`reverie corpus OUT_DIR`: the click command over models.corpus.build."""

from __future__ import annotations

import time
from pathlib import Path

import click

from reverie.models.corpus.build import ALL, REAL_CLIPS_PER_TRACK
from reverie.models.errors import ReverieError


class RealClips(click.ParamType):
    """A count of stretches per track, or "all"."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == ALL:
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a count of stretches nor '{ALL}'", param, ctx)


def sources_report() -> str:
    """One line per source: installed, or how to install it."""
    from reverie.models.corpus import drums, lmms, real, synth

    lines = ["sources:"]
    for name, ok in synth.installed_soundfonts().items():
        path, install = synth.SOUNDFONTS[name]
        lines.append(f"  soundfont {name}: " + (f"installed ({path})" if ok else f"not installed ({install})"))
    for package, ok in real.installed().items():
        state = "installed" if ok else f"not installed (apt-get install {package})"
        lines.append(f"  real music {package}: {state}")
    state = "not installed (apt-get install lmms)"
    if lmms.installed():
        state = f"installed ({len(lmms.projects())} projects)"
    lines.append(f"  real music LMMS demo projects, rendered by LMMS: {state}")
    state = f"not installed (apt-get install {drums.PACKAGE})"
    if drums.installed():
        state = f"installed ({len(drums.kits())} kits that play a groove)"
    lines.append(f"  drum kits {drums.PACKAGE}, for happy and tense: {state}")
    return "\n".join(lines)


@click.command("corpus")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--hours", type=float, default=2.0, show_default=True, help="Total audio to render (train + heldout).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files, bit for bit.")
@click.option("--jobs", type=int, default=2, show_default=True, help="Processes rendering clips at once (1 per core).")
@click.option("--clip-seconds", type=float, default=15.0, show_default=True, help="Length of every clip.")
@click.option("--heldout", type=float, default=0.1, show_default=True, help="Fraction of scores and clips kept out.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where parsed scores are cached (default ~/.cache/reverie/corpus-scores).",
)
@click.option(
    "--soundfont",
    default="auto",
    show_default=True,
    help="General MIDI soundfont: auto (the best installed), fluid (FluidR3: apt-get install "
    "fluid-soundfont-gm), pretty_midi (TimGM6mb, always there) or a .sf2 file.",
)
@click.option(
    "--real-clips",
    type=RealClips(),
    default=REAL_CLIPS_PER_TRACK,
    show_default=True,
    help="Stretches of every installed real training track (scripts/install-music, scripts/install-corpus) "
    "added to train without a style label, for the unconditional branch, each with the tempo, metre and key "
    "two listeners agree on; 'all' for every whole stretch (10.9 hours with install-corpus), 0 for none.",
)
@click.option(
    "--lmms/--no-lmms",
    default=True,
    show_default=True,
    help="With --real-clips, also LMMS's demo projects (apt-get install lmms): rendered once by LMMS into the "
    "cache (65 minutes of produced music, about 7 minutes), then cut like the other real recordings.",
)
@click.option(
    "--drum-kits/--no-drum-kits",
    default=True,
    show_default=True,
    help="Give most happy and tense clips a drummer playing the installed Hydrogen kits (apt-get install "
    "hydrogen-drumkits): multi-sampled acoustic and electronic kits, each drum placed in the stereo field.",
)
def corpus(
    out_dir: Path,
    hours: float,
    seed: int,
    jobs: int,
    clip_seconds: float,
    heldout: float,
    cache_dir: Path | None,
    soundfont: str,
    real_clips: int | str,
    lmms: bool,
    drum_kits: bool,
) -> None:
    """Build the training corpus from music21's bundled scores, rendered with a GM soundfont, plus real music.

    \b
    Writes OUT_DIR/{train,heldout}/<style>/<clip_id>.wav (stereo 44100 Hz PCM_16),
    the clip's melody as <clip_id>.mid in the same timeline, unlabelled stretches of
    real recordings as OUT_DIR/train/train_real_*.flac, and OUT_DIR/manifest.csv.
    Styles: sleep, calm, happy, sad, tense. A previous corpus in OUT_DIR is replaced.
    It first says which sources are installed, and how to install the others.

    \b
    Example:
      reverie corpus data/corpus --hours 2 --seed 0
    """
    from reverie.models.corpus.build import build, check, default_cache_dir, hours_of

    started = time.monotonic()
    try:
        check(out_dir, hours, jobs, clip_seconds, heldout, soundfont, real_clips)
        click.echo(sources_report(), err=True)
        rows = build(
            out_dir,
            hours=hours,
            seed=seed,
            jobs=jobs,
            clip_seconds=clip_seconds,
            heldout=heldout,
            cache_dir=cache_dir or default_cache_dir(),
            soundfont=soundfont,
            real_clips=real_clips,
            lmms=lmms,
            drum_kits=drum_kits,
        )
    except ReverieError as exc:
        raise click.ClickException(exc.message) from None
    held = sum(r["split"] == "heldout" for r in rows)
    click.echo(
        f"wrote {len(rows)} clips ({hours_of(rows):.2f} h; {len(rows) - held} train, {held} heldout) "
        f"to {out_dir} in {time.monotonic() - started:.0f} s"
    )
