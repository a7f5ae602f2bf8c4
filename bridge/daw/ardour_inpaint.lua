ardour {
	["type"]    = "EditorAction",
	name        = "Reverie",
	license     = "MIT",
	author      = "Reverie",
	description = [[
Regenerate (inpaint) or restyle (transform) the selected time range of an audio
track with a Reverie bridge server (`reverie serve`), through `reverie send`.

Select a range on one audio track (Range tool), run the action. The range must
lie inside one region. The answer comes back as a new region on top of the
original, sample-aligned; the original region is untouched, and one Undo
removes the new region.

Add the script twice (Edit > Lua Scripts > Script Manager) to get both
operations: the "operation" parameter is inpaint or transform.
]]
}

-- Parameters the Script Manager asks for when the action is added.
function action_params ()
	return {
		["operation"] = { title = "Operation: inpaint or transform", default = "inpaint" },
		["server"]    = { title = "Bridge server endpoint", default = "tcp://127.0.0.1:5555" },
		["reverie"]   = { title = "Path to the reverie executable", default = "reverie" },
		["seed"]      = { title = "Seed (empty: a new one each run)", default = "" },
		["context"]   = { title = "Seconds of context sent on each side of the range", default = "10" },
		["handles"]   = { title = "Handles in ms (inpaint: the answer is bit-exact there)", default = "20" },
		["batch"]     = { title = "Non-interactive (errors to stderr, no dialogs): 1 or 0", default = "0" },
		["style"]     = { title = "Transform: default style (empty: the model's)", default = "" },
		["strength"]  = { title = "Transform: default strength 0-1", default = "0.5" },
	}
end

function factory (params) return function ()
	local p = params or {}
	local op = p["operation"] or "inpaint"
	local batch = (p["batch"] or "0") == "1"
	local title = "Reverie " .. op

	local function report (msg)
		if batch then
			io.stderr:write ("reverie-ardour: " .. msg .. "\n")
			io.stderr:flush ()
		else
			LuaDialog.Message (title, msg, LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
		end
	end

	-- /bin/sh single-quoting: paths and styles may hold spaces or quotes.
	local function q (s)
		return "'" .. tostring (s):gsub ("'", "'\\''") .. "'"
	end

	local function exists (path)
		local f = io.open (path, "rb")
		if f then f:close () return true end
		return false
	end

	local function slurp (path)
		local f = io.open (path, "rb")
		if not f then return "" end
		local s = f:read ("a") or ""
		f:close ()
		return s
	end

	-- The region's raw audio [first, first + n) (samples from the region's start) as a
	-- 32-bit float WAV: float in, float out keeps the untouched samples bit-exact.
	local function write_wav (path, readable, first, n, channels, rate)
		local f = assert (io.open (path, "wb"))
		local bytes = n * channels * 4
		f:write ("RIFF", string.pack ("<I4", 36 + bytes), "WAVE")
		f:write ("fmt ", string.pack ("<I4I2I2I4I4I2I2", 16, 3, channels, rate, rate * channels * 4, channels * 4, 32))
		f:write ("data", string.pack ("<I4", bytes))
		local block = 4096
		-- One buffer per channel: array () is a view of the buffer, not a copy.
		local mem = {}
		for c = 1, channels do mem[c] = ARDOUR.DSP.DspShm (block) end
		local pos = 0
		while pos < n do
			local len = math.min (block, n - pos)
			local chans = {}
			for c = 0, channels - 1 do
				local buf = mem[c + 1]:to_float (0)
				if readable:read (buf, first + pos, len, c) ~= len then
					f:close ()
					error ("could not read the region's audio (source missing?)")
				end
				chans[c + 1] = buf:array ()
			end
			local frame = {}
			local k = 1
			for i = 1, len do
				for c = 1, channels do
					frame[k] = chans[c][i]
					k = k + 1
				end
			end
			f:write (string.pack ("<" .. string.rep ("f", len * channels), table.unpack (frame, 1, len * channels)))
			pos = pos + len
		end
		f:close ()
	end

	-- tqdm's last "n/total" on stderr is the server's step count.
	local function progress_of (err)
		local done, total
		for d, t in err:gmatch ("(%d+)/(%d+) %[") do done, total = tonumber (d), tonumber (t) end
		if done and total and total > 0 then return done / total, string.format ("step %d of %d", done, total) end
		return -1, "waiting for the server"
	end

	-- Runs `reverie send ...` in the background, shows progress, lets the user cancel.
	-- Returns true, or false and the message to show.
	local function run_job (args, job)
		local pidf, rcf, errf = job .. ".pid", job .. ".rc", job .. ".err"
		os.remove (rcf)
		-- The cancel is a SIGINT, which `reverie send` turns into a cancel on the server. Ardour's
		-- children start with every signal blocked and a shell's background job with SIGINT
		-- ignored: `reverie send` unblocks and un-ignores SIGINT itself.
		local client = args
		local cmd = string.format (
			"( %s >/dev/null 2>%s </dev/null & echo $! >%s; wait $!; echo $? >%s.tmp; mv %s.tmp %s ) >/dev/null 2>&1 </dev/null &",
			client, q (errf), q (pidf), q (rcf), q (rcf), q (rcf))
		os.execute (cmd)
		local pd = LuaDialog.ProgressWindow (title, true)
		local cancelled_at
		local ticks = 0
		while not exists (rcf) do
			local frac, text = progress_of (slurp (errf))
			pd:progress (frac, text)
			if pd:canceled () and not cancelled_at then
				cancelled_at = ticks
				local pid = slurp (pidf):match ("%d+")
				if pid then os.execute ("kill -INT " .. pid) end
				pd:progress (-1, "cancelling on the server")
			end
			-- A client that ignores the cancel for 30 s is killed, so the editor comes back.
			if cancelled_at and ticks - cancelled_at > 600 then
				local pid = slurp (pidf):match ("%d+")
				if pid then os.execute ("kill -KILL " .. pid) end
				break
			end
			ARDOUR.LuaAPI.usleep (50000)
			ticks = ticks + 1
		end
		pd:done ()
		local rc = tonumber (slurp (rcf):match ("%d+") or "-1")
		if cancelled_at then return false, nil end
		if rc ~= 0 then
			-- The client's last line is the server's message (or the CLI's own error).
			local msg = ""
			for line in slurp (errf):gsub ("\r", "\n"):gmatch ("[^\n]+") do
				if not line:match ("%d+/%d+ %[") and line:match ("%S") then msg = line end
			end
			return false, string.format ("reverie send failed (exit %d): %s", rc, msg)
		end
		return true
	end

	---- the selection ----
	local sel = Editor:get_selection ()
	local S, E = sel.time:start_sample (), sel.time:end_sample ()
	if not (S < E) then
		report ("Select a time range (Range tool) over the part to " .. op .. ".")
		return
	end
	local track
	for r in sel.tracks:routelist ():iter () do
		local t = r:to_track ()
		if not t:isnil () and t:data_type ():to_string () == "audio" then
			if track then report ("Select only one audio track.") return end
			track = t
		end
	end
	if not track then report ("Select the audio track to " .. op .. ".") return end
	local playlist = track:playlist ()
	local region = playlist:top_region_at (Temporal.timepos_t (S))
	if region:isnil () or region:to_audioregion ():isnil () then
		report ("No audio region under the start of the range.")
		return
	end
	local P = region:position ():samples ()
	local L = region:length ():samples ()
	if S < P or E > P + L then
		report ("The range must lie inside one region (it reaches past the region under its start).")
		return
	end

	local sr = Session:nominal_sample_rate ()
	local readable = region:to_audioregion ():to_readable ()
	local channels = readable:n_channels ()
	local context = math.floor ((tonumber (p["context"]) or 10) * sr)
	local handle = math.floor ((tonumber (p["handles"]) or 20) / 1000 * sr)

	-- What goes to the server: for inpaint the range with context around it (the model
	-- hears both sides); for transform the range itself.
	local W0, W1 = S, E
	if op == "inpaint" then
		W0, W1 = math.max (P, S - context), math.min (P + L, E + context)
	end

	local seed = tonumber (p["seed"] or "")
	if not seed then
		-- Lua's generator starts from the same state in every Ardour run.
		math.randomseed (os.time () + math.floor (os.clock () * 1e6))
		seed = math.random (0, 2147483647)
	end
	local extra = ""
	if op == "transform" then
		local style, strength = p["style"] or "", p["strength"] or "0.5"
		if not batch then
			local rv = LuaDialog.Dialog (title, {
				{ type = "entry", key = "style", title = "Style (empty: the model's)", default = style },
				{ type = "slider", key = "strength", title = "Strength (0 keeps the input, 1 ignores it)",
				  min = 0, max = 1, digits = 2, default = tonumber (strength) or 0.5 },
			}):run ()
			if not rv then return end
			style, strength = rv["style"], rv["strength"]
		end
		extra = " --strength " .. string.format ("%.3f", tonumber (strength) or 0.5)
		if style ~= "" then extra = extra .. " --style " .. q (style) end
	elseif op ~= "inpaint" then
		report ("Unknown operation '" .. op .. "' (inpaint or transform).")
		return
	end

	local folder = ARDOUR.LuaAPI.build_filename (Session:path (), "reverie")
	os.execute ("mkdir -p " .. q (folder))
	local stem = string.format ("%s-%s-%d-s%d", region:name ():gsub ("[^%w%-_]", "_"), op, S, seed)
	local job = ARDOUR.LuaAPI.build_filename (folder, stem)
	local input, answer = job .. "-in.wav", job .. ".wav"

	local ok, err = pcall (write_wav, input, readable, W0 - P, W1 - W0, channels, sr)
	if not ok then report ("Could not write " .. input .. ": " .. tostring (err)) return end

	-- Seconds with 17 digits: the server maps them back to the very same samples.
	local args = string.format ("%s send %s %s -o %s --seed %d --server %s%s",
		q (p["reverie"] or "reverie"), op, q (input), q (answer), seed, q (p["server"] or "tcp://127.0.0.1:5555"), extra)
	if op == "inpaint" then
		args = args .. string.format (" --start %.17g --end %.17g", (S - W0) / sr, (E - W0) / sr)
	end
	local done, msg = run_job (args, job)
	for _, scratch in ipairs ({ input, job .. ".pid", job .. ".rc" }) do os.remove (scratch) end
	if done then os.remove (job .. ".err") end
	if not done then
		if msg then report (msg) end
		return
	end

	---- the answer, as a region over the original ----
	local known = {}
	for id, _ in ARDOUR.RegionFactory.regions ():iter () do known[id:to_s ()] = true end
	local files = C.StringVector ()
	files:push_back (answer)
	Editor:do_import (files, Editing.ImportDistinctFiles, Editing.ImportAsRegion, ARDOUR.SrcQuality.SrcBest,
		ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
		Temporal.timepos_t (W0), ARDOUR.PluginInfo (), ARDOUR.Track (), false)
	local whole
	for id, r in ARDOUR.RegionFactory.regions ():iter () do
		-- A multichannel import also makes one whole-file region per channel: take the one
		-- with all channels.
		if not known[id:to_s ()] and r:whole_file () and r:name ():find (stem, 1, true) == 1
			and r:to_audioregion ():to_readable ():n_channels () == channels then
			whole = r
		end
	end
	if not whole then report ("Ardour did not import " .. answer .. ".") return end
	if whole:length ():samples () ~= W1 - W0 then
		report (string.format ("The answer has %d samples, expected %d (sample rate %d?).",
			whole:length ():samples (), W1 - W0, sr))
		return
	end

	-- Inpaint: the range plus handles, where the answer equals the original bit for bit,
	-- so no fades are needed and the seams are inaudible. Transform: the range, with
	-- Ardour's short default fades against clicks.
	local A, B = S, E
	if op == "inpaint" then A, B = math.max (W0, S - handle), math.min (W1, E + handle) end
	local nr = ARDOUR.RegionFactory.clone_region (whole, true, false)
	nr:set_position (Temporal.timepos_t (W0))
	nr:trim_to (Temporal.timepos_t (A), Temporal.timecnt_t (B - A))
	local nar = nr:to_audioregion ()
	nar:set_scale_amplitude (region:to_audioregion ():scale_amplitude ())
	if op == "inpaint" then
		nar:set_fade_in_active (false)
		nar:set_fade_out_active (false)
	end

	Session:begin_reversible_command (title)
	playlist:to_stateful ():clear_changes ()
	playlist:add_region (nr, Temporal.timepos_t (A), 1, false)
	Session:add_stateful_diff_command (playlist:to_statefuldestructible ())
	if not Session:abort_empty_reversible_command () then
		Session:commit_reversible_command (nil)
	end
end end

function icon (params) return function (ctx, width, height, fg)
	local txt = Cairo.PangoLayout (ctx, "ArdourMono " .. math.ceil (math.min (width, height) * .5) .. "px")
	txt:set_text ("Rv")
	local tw, th = txt:get_pixel_size ()
	ctx:set_source_rgba (ARDOUR.LuaAPI.color_to_rgba (fg))
	ctx:move_to (.5 * (width - tw), .5 * (height - th))
	txt:show_in_cairo_context (ctx)
end end
