"""The limits the spec (operations.py), audio I/O (audio.py) and the tempo grid (grid.py) share, declared
once. Standard library only and importing nothing, so each takes them without importing the others (audio
importing the spec closed an import circle through grid, melody and hum back to audio)."""

MAX_CHANNELS = 64
SAMPLE_RATES = (1000, 384000)  # Hz: what an input may have and generate may write
BEATS_PER_BAR = (1, 16)  # quarter notes per bar: 4 for 4/4, 3 for 3/4 and 6/8
