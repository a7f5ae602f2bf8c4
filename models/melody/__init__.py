"""Melody front ends: MIDI files, hummed takes, and the chroma that conditions the model.

    from reverie.models.melody import Note, Melody, audio_chroma, pitch_class_accuracy, synthesize_hum

Importing this package needs numpy only; mido is imported when MIDI is read
or written, torch and torchcrepe when a hum is transcribed.
"""

from .chroma import audio_chroma, pitch_class_accuracy
from .notes import Melody, Note
from .synth import synthesize_hum

__all__ = ["Note", "Melody", "audio_chroma", "pitch_class_accuracy", "synthesize_hum"]
