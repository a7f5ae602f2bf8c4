"""The REAPER ReaScript's logic against a stand-in for REAPER's API, and a real bridge server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import running_server
from dummy_models import tiny_pipeline

from reverie.bridge.client import Client
from reverie.bridge.daw.reaper_inpaint import inpaint_selection


class FakeReaper:
    """The part of REAPER's Python API (reaper_python) the script uses, with REAPER's return conventions:
    functions with output arguments return a tuple of (return value if any, every argument)."""

    def __init__(
        self,
        project: Path,
        source: Path,
        position: float,
        length: float,
        offset: float,
        selection: tuple[float, float],
        playrate: float = 1.0,
    ):
        self.project = project
        self.item = {"D_POSITION": position, "D_LENGTH": length, "takes": [], "active": None}
        take = {"D_STARTOFFS": offset, "D_PLAYRATE": playrate, "source": {"file": str(source)}, "P_NAME": "take 1"}
        self.item["takes"].append(take)
        self.item["active"] = take
        self.selected = [self.item]
        self.selection = selection
        self.messages: list[str] = []
        self.console: list[str] = []
        self.undo: list[str] = []
        self.arranged = 0

    def RPR_CountSelectedMediaItems(self, proj):
        return len(self.selected)

    def RPR_GetSelectedMediaItem(self, proj, index):
        return self.selected[index]

    def RPR_GetActiveTake(self, item):
        return item["active"]

    def RPR_TakeIsMIDI(self, take):
        return False

    def RPR_GetMediaItemInfo_Value(self, item, name):
        return item[name]

    def RPR_GetMediaItemTakeInfo_Value(self, take, name):
        return take[name]

    def RPR_SetMediaItemTakeInfo_Value(self, take, name, value):
        take[name] = value
        return True

    def RPR_GetSet_LoopTimeRange2(self, proj, is_set, is_loop, start, end, allow_autoseek):
        assert not is_set
        return (proj, is_set, is_loop, self.selection[0], self.selection[1], allow_autoseek)

    def RPR_GetMediaItemTake_Source(self, take):
        return take["source"]

    def RPR_GetMediaSourceFileName(self, source, buf, size):
        return (source, source["file"], size)

    def RPR_GetProjectPath(self, buf, size):
        return (str(self.project), size)

    def RPR_AddTakeToMediaItem(self, item):
        take = {"D_STARTOFFS": 0.25, "D_PLAYRATE": 1.0, "source": None, "P_NAME": ""}
        item["takes"].append(take)
        return take

    def RPR_PCM_Source_CreateFromFile(self, path):
        assert Path(path).is_file()
        return {"file": path}

    def RPR_SetMediaItemTake_Source(self, take, source):
        take["source"] = source
        return True

    def RPR_GetSetMediaItemTakeInfo_String(self, take, name, value, set_new):
        assert set_new
        take[name] = value
        return (True, take, name, value, set_new)

    def RPR_SetActiveTake(self, take):
        self.item["active"] = take

    def RPR_Undo_BeginBlock2(self, proj):
        self.undo.append("begin")

    def RPR_Undo_EndBlock2(self, proj, name, flags):
        self.undo.append(name)

    def RPR_UpdateArrange(self):
        self.arranged += 1

    def RPR_ShowMessageBox(self, message, title, kind):
        self.messages.append(message)
        return 1

    def RPR_ShowConsoleMsg(self, message):
        self.console.append(message)


@pytest.fixture(scope="module")
def endpoint():

    with running_server(tiny_pipeline()) as srv:
        yield srv.endpoint


def source_file(tmp_path, seconds=3.0, rate=48000):
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * rate)) / rate
    data = np.stack([0.3 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 440 * t)], axis=1)
    data = (data + 0.01 * rng.standard_normal(data.shape)).astype(np.float32)
    path = tmp_path / "vocal.wav"
    sf.write(str(path), data, rate, subtype="FLOAT")
    return path, data


def test_inpaints_the_time_selection_into_a_new_aligned_take(tmp_path, endpoint):
    path, data = source_file(tmp_path)
    # The item sits at 10 s on the timeline and plays the source from 0.5 s for 2 s;
    # the time selection 10.7-11.2 s is 0.7-1.2 s into the item (1.2-1.7 s into the source).
    reaper = FakeReaper(tmp_path / "project", path, position=10.0, length=2.0, offset=0.5, selection=(10.7, 11.2))
    written = inpaint_selection(reaper, lambda: Client(endpoint, timeout=60), seed=4)
    assert reaper.messages == [], reaper.messages
    assert written is not None and written.parent == tmp_path / "project" / "reverie"
    new = reaper.item["active"]
    assert new is reaper.item["takes"][1] and new["source"]["file"] == str(written)
    assert new["D_STARTOFFS"] == 0.0 and new["P_NAME"].startswith("inpaint 0.70-1.20s seed 4")
    assert reaper.undo == ["begin", "Reverie inpaint"] and reaper.arranged == 1
    out, rate = sf.read(str(written), dtype="float32", always_2d=True)
    item_audio = data[24000 : 24000 + 96000]  # what the item plays
    assert rate == 48000 and out.shape == item_audio.shape
    first, last = round(0.7 * 48000), round(1.2 * 48000)
    assert np.array_equal(out[:first], item_audio[:first]) and np.array_equal(out[last:], item_audio[last:])
    assert not np.array_equal(out[first:last], item_audio[first:last])


def test_selection_overhanging_the_item_is_clipped_to_it(tmp_path, endpoint):
    path, data = source_file(tmp_path)
    reaper = FakeReaper(tmp_path, path, position=1.0, length=1.5, offset=0.0, selection=(0.2, 1.4))
    written = inpaint_selection(reaper, lambda: Client(endpoint, timeout=60))
    out, _ = sf.read(str(written), dtype="float32", always_2d=True)
    assert out.shape == (72000, 2) and np.array_equal(out[round(0.4 * 48000) :], data[round(0.4 * 48000) : 72000])
    assert reaper.item["active"]["P_NAME"].startswith("inpaint 0.00-0.40s")


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(selection=(0.0, 0.0)), "Make a time selection"),
        (dict(selection=(5.0, 6.0)), "does not overlap"),
        (dict(playrate=2.0), "plays at rate 2"),
        (dict(length=5.0), "outside its source"),
    ],
)
def test_tells_the_user_what_to_fix(tmp_path, change, message):
    path, _ = source_file(tmp_path)
    args = dict(position=1.0, length=1.0, offset=0.0, selection=(1.2, 1.5)) | change
    reaper = FakeReaper(tmp_path, path, **args)
    assert inpaint_selection(reaper, lambda: pytest.fail("no request may be sent")) is None
    assert len(reaper.messages) == 1 and message in reaper.messages[0]
    assert len(reaper.item["takes"]) == 1


def test_no_item_selected_and_server_errors(tmp_path, endpoint):
    path, _ = source_file(tmp_path)
    reaper = FakeReaper(tmp_path, path, position=0.0, length=1.0, offset=0.0, selection=(0.2, 0.5))
    reaper.selected = []
    assert inpaint_selection(reaper) is None and "Select exactly one" in reaper.messages[0]
    reaper = FakeReaper(tmp_path, path, position=0.0, length=1.0, offset=0.0, selection=(0.2, 0.5))
    assert inpaint_selection(reaper, lambda: Client(endpoint, timeout=60), style="polka") is None
    assert "invalid_value [style]" in reaper.messages[0] and len(reaper.item["takes"]) == 1
