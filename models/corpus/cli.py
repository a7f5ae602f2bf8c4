"""`reverie corpus OUT_DIR`: the click command over models.corpus.build."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import ReverieError


@click.command("corpus")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--hours", type=float, default=2.0, show_default=True, help="Total audio to render (train + heldout).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files, bit for bit.")
@click.option("--jobs", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--clip-seconds", type=float, default=15.0, show_default=True, help="Length of every clip.")
@click.option("--heldout", type=float, default=0.1, show_default=True, help="Fraction of scores and clips kept out.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where parsed scores are cached (default ~/.cache/reverie/corpus-scores).",
)
def corpus(
    out_dir: Path, hours: float, seed: int, jobs: int, clip_seconds: float, heldout: float, cache_dir: Path | None
) -> None:
    """Build the training corpus from music21's bundled scores, rendered with the GM soundfont.

    \b
    Writes OUT_DIR/{train,heldout}/<style>/<clip_id>.wav (mono 22050 Hz PCM_16),
    the clip's melody as <clip_id>.mid in the same timeline, and OUT_DIR/manifest.csv.
    Styles: sleep, calm, happy, sad, tense. A previous corpus in OUT_DIR is replaced.

    \b
    Example:
      reverie corpus data/corpus --hours 2 --seed 0
    """
    from .build import build, default_cache_dir, hours_of

    started = time.monotonic()
    try:
        rows = build(
            out_dir,
            hours=hours,
            seed=seed,
            jobs=jobs,
            clip_seconds=clip_seconds,
            heldout=heldout,
            cache_dir=cache_dir or default_cache_dir(),
        )
    except ReverieError as exc:
        raise click.ClickException(exc.message) from None
    held = sum(r["split"] == "heldout" for r in rows)
    click.echo(
        f"wrote {len(rows)} clips ({hours_of(rows):.2f} h; {len(rows) - held} train, {held} heldout) "
        f"to {out_dir} in {time.monotonic() - started:.0f} s"
    )
