"""REAPER ReaScript (Python): inpaint the time selection inside the selected item, via the bridge.

Install: Actions > Show action list > New action > Load ReaScript..., pick
this file. REAPER's Python (Options > Preferences > Plug-ins > ReaScript)
needs numpy, soundfile and pyzmq, and this repository on its path (the
script adds it when it runs from its place in the repository). Start the
server first: `reverie serve`.

Use: select one audio item, make a time selection over the part to
regenerate, run the action. The item's audio (what the item plays from its
source) and the region go to the bridge; the result is written next to the
project (folder `reverie/`) and added to the item as a new active take,
aligned sample for sample with the item. The old take stays, so switching
takes compares before and after, and Undo removes the new take.

Settings: REVERIE_SERVER (default tcp://127.0.0.1:5555), REVERIE_SERVER_KEY,
and REVERIE_STYLE / REVERIE_SEED / REVERIE_STEPS in the environment.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

if __name__ == "__main__":  # inside REAPER: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import soundfile as sf

TITLE = "Reverie inpaint"


class ScriptError(Exception):
    """Something the user must fix; shown in a message box."""


@dataclass
class Selection:
    item: Any
    take: Any
    position: float  # item start on the timeline, seconds
    length: float  # item length, seconds
    offset: float  # where in the source the item starts, seconds
    source_file: str
    start: float  # region to regenerate, seconds from the item's start
    end: float


def read_selection(api: Any) -> Selection:
    """The selected item, its active take and source, and the time selection relative to the item."""
    if api.RPR_CountSelectedMediaItems(0) != 1:
        raise ScriptError("Select exactly one audio item.")
    item = api.RPR_GetSelectedMediaItem(0, 0)
    take = api.RPR_GetActiveTake(item)
    if not take or api.RPR_TakeIsMIDI(take):
        raise ScriptError("The selected item has no audio take.")
    position = api.RPR_GetMediaItemInfo_Value(item, "D_POSITION")
    length = api.RPR_GetMediaItemInfo_Value(item, "D_LENGTH")
    offset = api.RPR_GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
    rate = api.RPR_GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
    if abs(rate - 1.0) > 1e-9:
        raise ScriptError(f"The take plays at rate {rate:g}; set it to 1.0 (or glue the item) first.")
    # GetSet_LoopTimeRange2(proj, isSet, isLoop, start, end, allowautoseek) returns its arguments.
    selection = api.RPR_GetSet_LoopTimeRange2(0, False, False, 0.0, 0.0, False)
    sel_start, sel_end = float(selection[3]), float(selection[4])
    if sel_end <= sel_start:
        raise ScriptError("Make a time selection over the part of the item to regenerate.")
    start, end = max(sel_start, position) - position, min(sel_end, position + length) - position
    if end <= start:
        raise ScriptError("The time selection does not overlap the selected item.")
    source = api.RPR_GetMediaItemTake_Source(take)
    source_file = api.RPR_GetMediaSourceFileName(source, "", 4096)[1]
    if not source_file or not Path(source_file).is_file():
        raise ScriptError("The take's source is not an audio file on disk (glue the item first).")
    return Selection(item, take, position, length, offset, source_file, start, end)


def item_audio(sel: Selection) -> tuple[np.ndarray, int]:
    """What the item plays: its span of the source file, (channels, frames) float32."""
    info = sf.info(sel.source_file)
    first = int(round(sel.offset * info.samplerate))
    frames = int(round(sel.length * info.samplerate))
    if first < 0 or first + frames > info.frames:
        raise ScriptError("The item reaches outside its source file (looped or extended); glue it first.")
    data, rate = sf.read(sel.source_file, start=first, frames=frames, dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(rate)


def output_path(api: Any, sel: Selection) -> Path:
    project = api.RPR_GetProjectPath("", 4096)[0] or str(Path(sel.source_file).parent)
    folder = Path(project) / "reverie"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"{Path(sel.source_file).stem}_inpaint_{sel.start:.2f}-{sel.end:.2f}_{stamp}.wav"


def add_take(api: Any, sel: Selection, path: Path, name: str) -> Any:
    """A new active take on the item, playing `path` from its start (aligned with the item)."""
    api.RPR_Undo_BeginBlock2(0)
    try:
        take = api.RPR_AddTakeToMediaItem(sel.item)
        api.RPR_SetMediaItemTake_Source(take, api.RPR_PCM_Source_CreateFromFile(str(path)))
        api.RPR_SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", 0.0)
        api.RPR_GetSetMediaItemTakeInfo_String(take, "P_NAME", name, True)
        api.RPR_SetActiveTake(take)
    finally:
        api.RPR_Undo_EndBlock2(0, TITLE, -1)
    api.RPR_UpdateArrange()
    return take


def inpaint_selection(api: Any, client_factory: Callable[[], Any] | None = None, **params: Any) -> Path | None:
    """The whole action; returns the written file, or None after telling the user what to fix."""
    try:
        sel = read_selection(api)
        audio, rate = item_audio(sel)
        if client_factory is None:
            from reverie.bridge.client import Client

            server = os.environ.get("REVERIE_SERVER", "tcp://127.0.0.1:5555")
            key = os.environ.get("REVERIE_SERVER_KEY") or None
            client_factory = lambda: Client(server, server_key=key, timeout=60.0)  # noqa: E731
        for name, cast in (("style", str), ("seed", int), ("steps", int)):
            value = os.environ.get(f"REVERIE_{name.upper()}")
            if value and name not in params:
                params[name] = cast(value)
        with client_factory() as client:
            result = client.inpaint(audio, rate, start=sel.start, end=sel.end, **params)
        if result.audio.shape != audio.shape or result.sample_rate != rate:
            raise ScriptError(
                f"The server answered {result.audio.shape} at {result.sample_rate} Hz, not {audio.shape} at {rate} Hz."
            )
        path = output_path(api, sel)
        sf.write(str(path), result.audio.T, rate, subtype="FLOAT")
        add_take(api, sel, path, f"inpaint {sel.start:.2f}-{sel.end:.2f}s seed {result.seed}")
        api.RPR_ShowConsoleMsg(f"{TITLE}: {path.name} ({result.timings.get('compute_s')} s on the server)\n")
        return path
    except ScriptError as exc:
        api.RPR_ShowMessageBox(str(exc), TITLE, 0)
    except Exception as exc:  # the bridge's errors (code and message) and anything else, never a traceback
        api.RPR_ShowMessageBox(f"{type(exc).__name__}: {exc}", TITLE, 0)
    return None


if __name__ == "__main__":
    import reaper_python  # provided by REAPER

    inpaint_selection(reaper_python)
