-- Plays the user in a real Ardour for tests/daw/test_ardour.py. Loaded as the body of an
-- EditorHook (a LuaCallback in ui_scripts) on LuaTimerDS; test_ardour.py puts the table T
-- (paths, positions in samples, the action's parameters) in front of it.
-- It imports the take, selects the range, runs bridge/daw/ardour_inpaint.lua, saves the
-- snapshot "after", undoes, saves "undone", runs the transform action on the same range,
-- saves "transformed", and writes what it saw to T.report.

local ticks = 0
local step = "start" -- how far setup () or act () got, for the report (no debug library here)
local started = false
local failed -- the error from setup ()

local function regions_of (playlist)
	local out = {}
	for r in playlist:regions_touched (Temporal.timepos_t (0), Temporal.timepos_t (1 << 40)):iter () do
		local ar = r:to_audioregion ()
		out[#out + 1] = string.format (
			'{"name": "%s", "position": %d, "length": %d, "start": %d, "layer": %d, "fade_in": %s, "fade_out": %s}',
			r:name (), r:position ():samples (), r:length ():samples (), r:start ():samples (), r:layer (),
			tostring (ar:fade_in_active ()), tostring (ar:fade_out_active ()))
	end
	return "[" .. table.concat (out, ", ") .. "]"
end

local function save (snapshot)
	Session:save_state (snapshot, false, false, false, false, false)
end

local function setup ()
	step = "track"
	local track = Session:route_by_name ("Take"):to_track ()
	local playlist = track:playlist ()

	step = "import"
	-- ImportToTrack ignores its track argument, so import as a region and place it.
	local files = C.StringVector ()
	files:push_back (T.take)
	Editor:do_import (files, Editing.ImportDistinctFiles, Editing.ImportAsRegion, ARDOUR.SrcQuality.SrcBest,
		ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
		Temporal.timepos_t (0), ARDOUR.PluginInfo (), ARDOUR.Track (), false)
	local whole
	for _, r in ARDOUR.RegionFactory.regions ():iter () do
		if r:whole_file () and r:name ():find ("take", 1, true) == 1
			and r:to_audioregion ():to_readable ():n_channels () == 2 then
			whole = r
		end
	end
	assert (whole, "the take was not imported")
	step = "place take"
	local take = ARDOUR.RegionFactory.clone_region (whole, true, false)
	-- Ardour's default fades would change the take's first and last 64 samples.
	take:to_audioregion ():set_fade_in_active (false)
	take:to_audioregion ():set_fade_out_active (false)
	playlist:add_region (take, Temporal.timepos_t (T.position), 1, false)
end

local function act ()
	local playlist = Session:route_by_name ("Take"):to_track ():playlist ()
	-- The session range (what ardour7-export renders): the take and some silence after it.
	step = "session range"
	Editor:select_all_tracks ()
	Editor:set_loop_range (Temporal.timepos_t (0), Temporal.timepos_t (T.session_end), "set loop range")
	Editor:access_action ("Editor", "select-loop-range")
	Editor:access_action ("Editor", "set-session-from-edit-range")
	local range = Session:locations ():session_range_location ()
	local rendered = string.format ('{"start": %d, "end": %d}', range:start ():samples (), range:_end ():samples ())

	-- The range selection, the way a user makes one from the loop range.
	step = "select"
	Editor:select_all_tracks ()
	Editor:set_loop_range (Temporal.timepos_t (T.range_start), Temporal.timepos_t (T.range_end), "set loop range")
	Editor:access_action ("Editor", "select-loop-range")
	local sel = Editor:get_selection ()
	local selected = string.format ('{"start": %d, "end": %d}', sel.time:start_sample (), sel.time:end_sample ())
	local before = regions_of (playlist)
	step = "save before"
	save ("before")

	step = "action"
	-- The action, as the Script Manager would run it.
	local f = assert (io.open (T.action, "rb"))
	local source = f:read ("a")
	f:close ()
	ardour = function () end
	assert (load (source, "@" .. T.action)) ()
	factory (T.params) ()
	local after = regions_of (playlist)
	step = "save after"
	save ("after")

	step = "undo"
	Editor:undo (1)
	local undone = regions_of (playlist)
	save ("undone")

	step = "transform"
	T.params["operation"] = "transform"
	factory (T.params) ()
	local transformed = regions_of (playlist)
	save ("transformed")
	return string.format ('{"ok": true, "selection": %s, "rendered": %s, "before": %s, "after": %s, "undone": %s, '
		.. '"transformed": %s}', selected, rendered, before, after, undone, transformed)
end

return function (signal, ref, ...)
	ticks = ticks + 1
	-- Let the editor finish building its window before driving it, and let it digest
	-- the import (1 s later) before selecting and running the action.
	if ticks == 10 then
		local ok, err = pcall (setup)
		if ok then return true end
		failed = err
	end
	if started or ticks < 20 then return true end
	started = true
	local ok, result = false, failed
	if not failed then ok, result = pcall (act) end
	if not ok then
		local msg = step .. ": " .. tostring (result):gsub ('[\\"]', '\\%0'):gsub ("\n", "\\n")
		result = '{"ok": false, "error": "' .. msg .. '"}'
	end
	local out = assert (io.open (T.report .. ".tmp", "wb"))
	out:write (result)
	out:close ()
	os.rename (T.report .. ".tmp", T.report)
	return true
end
