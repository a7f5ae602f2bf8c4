"""Training-corpus builder: music21's bundled scores, rendered with tinysoundfont and pedalboard.

    scores.py   music21 corpus listing, parsing to note lists (cached), key estimate
    styles.py   the five style recipes (sleep, calm, happy, sad, tense)
    arrange.py  excerpt, top voice, mode re-spelling, transposition, accompaniment, timing
    synth.py    offline General MIDI rendering (TimGM6mb.sf2 from pretty_midi)
    effects.py  pedalboard chains, noise bed, peak level
    drums.py    Hydrogen drum kits played in the clip's tempo and metre (happy, tense)
    lmms.py     LMMS's demo projects rendered by LMMS, and real.py: real music for the unconditional branch
    midi.py     the melody as MIDI in the clip's timeline
    build.py    split, plan, parallel rendering, manifest
    cli.py      `reverie corpus`

Nothing here is imported by the rest of `models`, and nothing downloads at run time.
"""
