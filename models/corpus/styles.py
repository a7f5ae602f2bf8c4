"""Style recipes: what makes sleep, calm, happy, sad and tense clips sound different.

calm / happy / sad / tense are the four valence-arousal quadrants used by
emotion datasets such as DEAM (calm: positive valence, low arousal; happy:
positive, high; sad: negative, low; tense: negative, high); sleep is a
quieter, slower, darker corner beyond calm. Each recipe moves every cue a
listener (or a small classifier) can use at once: tempo, mode, register,
velocity, articulation, instruments, accompaniment figure and effects, so
the styles stay apart even when two clips come from the same score.

Program numbers are General MIDI, 0-based (0 = Acoustic Grand Piano).
"""

from __future__ import annotations

from dataclasses import dataclass

STYLES = ("sleep", "calm", "happy", "sad", "tense")
# A share of every style's clips is played at any tempo a producer may ask for (log-uniform over
# ANY_TEMPO), so the model's tempo input learns tempo apart from style: otherwise every calm clip it
# hears is 60-80 bpm and "calm at 120" is a request it has never met. Each style's own range still
# holds most of its clips, so tempo stays one of the cues that sets the styles apart.
ANY_TEMPO = (60.0, 160.0)
ANY_TEMPO_SHARE = 0.3


@dataclass(frozen=True)
class Style:
    name: str
    tempo: tuple[float, float]  # quarter-note bpm range
    mode: str  # "major" | "minor" (the re-spelling target)
    chromatic: bool  # tense: flat 2nd everywhere, diminished fifths in the accompaniment
    register: tuple[int, int]  # range for the melody's median MIDI pitch
    velocity: tuple[int, int]  # melody velocity range; accompaniment plays softer
    articulation: float  # sounding fraction of the written length: < 0.5 staccato, > 1 legato
    figure: str  # accompaniment figure for derived chords: "pad", "arpeggio", "oompah", "tremolo"
    tremolo: bool  # also re-strike the score's own accompaniment as repeated 16ths
    melody_programs: tuple[int, ...]
    chord_programs: tuple[int, ...]
    bass_programs: tuple[int, ...]
    peak_db: tuple[float, float]  # final peak level range, dBFS (sleep stays quieter)
    highpass_hz: tuple[float, float] | None
    lowpass_hz: tuple[float, float] | None
    reverb_room: tuple[float, float]
    reverb_wet: tuple[float, float]
    drive_db: tuple[float, float] | None = None  # distortion
    compress: bool = False
    bright_db: float = 0.0  # high-shelf gain at 3 kHz
    noise_bed: float = 0.0  # probability of a soft rain/ocean noise bed
    # Level (dB against the mix, a range) of the exciter's air: the soundfont's samples stop near 11 kHz
    # (calm and sad clips measured -67 to -86 dB above 11.5 kHz even unfiltered; real produced music
    # -37 dB), so the top octave is made the way a producer brightens dull samples.
    air_db: tuple[float, float] = (-44.0, -38.0)
    # The accompaniment sits at least this far below the melody (RMS). Held-out
    # clips scored 0.63 on the melody-chroma metric with velocities alone, 0.83 at
    # 9 dB, 0.87 at 14 dB and 0.90 at 20 dB (after the program choices above).
    melody_margin_db: float = 18.0
    # A drummer (drums.py, hydrogen-drumkits) on this share of clips: the groove, the kits it may play
    # (Debian's folder names; those installed), and the kit's level against the melody (RMS, dB).
    groove: str | None = None
    drum_chance: float = 0.0
    drum_kits: tuple[str, ...] = ()
    drums_db: tuple[float, float] = (-12.0, -8.0)


ACOUSTIC_KITS = ("Audiophob", "BJA_Pacific", "ColomboAcousticDrumkit", "ForzeeStereo", "Millo-Drums_v.1",
                 "Millo_MultiLayered2", "Millo_MultiLayered3", "The Black Pearl 1.0")  # fmt: skip
ELECTRONIC_KITS = ("ElectricEmpireKit", "HardElectro1", "VariBreaks", "rumpf_kit_z01_h2")

# A table: one recipe per block, related keys on one line.
# fmt: off
RECIPES: dict[str, Style] = {
    "sleep": Style(
        name="sleep", tempo=(40, 60), mode="major", chromatic=False, register=(57, 67),
        velocity=(32, 50), articulation=1.15, figure="pad", tremolo=False,
        # soft piano, new-age pad, harp. The warm pad and slow strings swell in
        # too slowly to carry a tune: their clips scored 0.61 and 0.67 on the
        # melody-chroma metric against 0.80-0.93 for these; FluidR3's halo pad
        # scored 0.39 on one clip.
        melody_programs=(0, 88, 46),
        chord_programs=(89, 91, 49, 94, 52),  # pads, slow strings, choir
        bass_programs=(89, 49, 48),
        peak_db=(-12.0, -9.0), highpass_hz=None, lowpass_hz=(1600, 2400),
        reverb_room=(0.88, 0.95), reverb_wet=(0.3, 0.45), noise_bed=0.5, air_db=(-48.0, -42.0),
    ),
    "calm": Style(
        name="calm", tempo=(60, 80), mode="major", chromatic=False, register=(64, 72),
        velocity=(55, 72), articulation=0.95, figure="arpeggio", tremolo=False,
        # piano, nylon guitar, flute, harp, electric piano
        melody_programs=(0, 24, 73, 46, 4),
        chord_programs=(0, 24, 46, 4),
        bass_programs=(32, 0, 24),
        peak_db=(-5.0, -3.5), highpass_hz=None, lowpass_hz=(6000, 8000),
        reverb_room=(0.55, 0.7), reverb_wet=(0.2, 0.3), air_db=(-42.0, -36.0),
    ),
    "happy": Style(
        name="happy", tempo=(110, 140), mode="major", chromatic=False, register=(74, 84),
        velocity=(88, 110), articulation=0.4, figure="oompah", tremolo=False,
        # marimba, bright piano, pizzicato, celesta (TimGM6mb's glockenspiel reads as the
        # wrong pitch class: 0.28 on the melody metric; FluidR3's xylophone 0.30)
        melody_programs=(12, 1, 45, 8),
        chord_programs=(45, 1, 12, 25),  # pizzicato, bright piano, marimba, steel guitar
        bass_programs=(32, 45, 35),
        peak_db=(-1.5, -1.0), highpass_hz=(80, 120), lowpass_hz=None,
        reverb_room=(0.2, 0.35), reverb_wet=(0.06, 0.12), compress=True, bright_db=4.0,
        groove="backbeat", drum_chance=0.75, drum_kits=ACOUSTIC_KITS,
    ),
    "sad": Style(
        name="sad", tempo=(55, 75), mode="minor", chromatic=False, register=(55, 64),
        velocity=(55, 75), articulation=1.05, figure="pad", tremolo=False,
        # cello, oboe, violin (not TimGM6mb's english horn: 0.24 on the melody metric;
        # not FluidR3's clarinet: 0.45)
        melody_programs=(42, 68, 40),
        chord_programs=(48, 49, 41, 0),  # strings, viola, soft piano
        bass_programs=(43, 42),
        peak_db=(-5.0, -3.5), highpass_hz=None, lowpass_hz=(3500, 5000),
        reverb_room=(0.75, 0.85), reverb_wet=(0.25, 0.35), air_db=(-44.0, -38.0),
    ),
    "tense": Style(
        name="tense", tempo=(90, 130), mode="minor", chromatic=True, register=(46, 55),
        velocity=(92, 118), articulation=0.8, figure="tremolo", tremolo=True,
        # synth brass, saw lead (not TimGM6mb's trombone, bassoon or french horn: 0.04, 0.01
        # and 0.67 on the melody metric; not FluidR3's brass section: 0.43)
        melody_programs=(62, 81),
        chord_programs=(44, 62, 50, 90),  # tremolo strings, synth brass, synth strings, polysynth
        bass_programs=(38, 58, 43),
        peak_db=(-1.5, -1.0), highpass_hz=(110, 180), lowpass_hz=None,
        reverb_room=(0.35, 0.5), reverb_wet=(0.08, 0.15), drive_db=(10, 18), compress=True,
        groove="drive", drum_chance=0.75, drum_kits=ELECTRONIC_KITS + ("ForzeeStereo", "The Black Pearl 1.0"),
    ),
}
# fmt: on
