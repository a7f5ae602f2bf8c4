// A small CLAP host for tests/plugin/test_plugin_clap.py: loads a .clap, runs passes over one stereo
// input with a playing transport (steady_time = the frame position), and writes the last pass's output
// and the plugin's saved state.
//
//   clap_host PLUGIN.clap RATE BLOCK IN.f32 OUT.f32 STATE.bin PASS [PASS ...]
//
// IN.f32/OUT.f32: planar float32, 2 channels (all of channel 0, then channel 1). A PASS is
// "name=value@frame,name=value@frame,..." (or "-"): parameter changes by parameter name, in plain
// values, each sent with the first block that reaches `frame` (blocks are whole, so use multiples of
// BLOCK). Every pass plays the input from position 0.
// DPF's bundled CLAP headers (dpf-source: /usr/share/dpf/distrho/src/clap), with no umbrella header.
#include <clap/entry.h>
#include <clap/events.h>
#include <clap/ext/gui.h>
#include <clap/ext/params.h>
#include <clap/ext/state.h>
#include <clap/ext/timer-support.h>
#include <clap/host.h>
#include <clap/plugin-factory.h>
#include <clap/plugin.h>
#include <clap/process.h>
#include <clap/stream.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <thread>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

// The window (REVERIE_CLAP_GUI_SECONDS): a floating X11 window, its idle driven by a host timer.
struct Timer {
    clap_id id;
    uint32_t period;
};
std::vector<Timer> gTimers;

void guiResizeHintsChanged(const clap_host_t*) {}
bool guiRequestResize(const clap_host_t*, uint32_t, uint32_t) { return true; }
bool guiRequestShow(const clap_host_t*) { return true; }
bool guiRequestHide(const clap_host_t*) { return true; }
void guiClosed(const clap_host_t*, bool) {}
const clap_host_gui_t kHostGui = {guiResizeHintsChanged, guiRequestResize, guiRequestShow, guiRequestHide, guiClosed};

bool timerRegister(const clap_host_t*, uint32_t period, clap_id* id)
{
    *id = static_cast<clap_id>(gTimers.size() + 1);
    gTimers.push_back({*id, period});
    return true;
}
bool timerUnregister(const clap_host_t*, clap_id id)
{
    gTimers.erase(std::remove_if(gTimers.begin(), gTimers.end(), [id](const Timer& t) { return t.id == id; }),
                  gTimers.end());
    return true;
}
const clap_host_timer_support_t kHostTimer = {timerRegister, timerUnregister};

const void* hostGetExtension(const clap_host_t*, const char* id)
{
    if (std::strcmp(id, CLAP_EXT_GUI) == 0)
        return &kHostGui;
    if (std::strcmp(id, CLAP_EXT_TIMER_SUPPORT) == 0)
        return &kHostTimer;
    return nullptr;
}
void hostRequestRestart(const clap_host_t*) {}
void hostRequestProcess(const clap_host_t*) {}
void hostRequestCallback(const clap_host_t*) {}

clap_host_t makeHost()
{
    clap_host_t h{};
    h.clap_version = CLAP_VERSION;
    h.host_data = nullptr;
    h.name = "reverie-test-host";
    h.vendor = "reverie";
    h.url = "";
    h.version = "0.1";
    h.get_extension = hostGetExtension;
    h.request_restart = hostRequestRestart;
    h.request_process = hostRequestProcess;
    h.request_callback = hostRequestCallback;
    return h;
}

struct Change {
    clap_id id;
    double value;
    int64_t frame;
};

std::vector<clap_event_param_value_t> gEvents;

uint32_t inSize(const clap_input_events_t*) { return static_cast<uint32_t>(gEvents.size()); }
const clap_event_header_t* inGet(const clap_input_events_t*, uint32_t i) { return &gEvents[i].header; }
bool outPush(const clap_output_events_t*, const clap_event_header_t*) { return true; }

int64_t streamWrite(const clap_ostream_t* s, const void* buf, uint64_t size)
{
    auto* out = static_cast<std::string*>(s->ctx);
    out->append(static_cast<const char*>(buf), size);
    return static_cast<int64_t>(size);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s PLUGIN RATE BLOCK IN OUT STATE PASS...\n", argv[0]);
        return 2;
    }
    const char* path = argv[1];
    const double rate = std::atof(argv[2]);
    const uint32_t block = static_cast<uint32_t>(std::atoi(argv[3]));

    std::ifstream in(argv[4], std::ios::binary);
    std::vector<float> input;
    in.seekg(0, std::ios::end);
    const size_t bytes = static_cast<size_t>(in.tellg());
    in.seekg(0);
    input.assign(bytes / sizeof(float), 0.0f);
    in.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(bytes));
    const int64_t frames = static_cast<int64_t>(input.size() / 2);

    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    auto* entry = static_cast<const clap_plugin_entry_t*>(dlsym(lib, "clap_entry"));
    if (!entry || !entry->init(path)) {
        std::fprintf(stderr, "no clap_entry\n");
        return 1;
    }
    auto* factory = static_cast<const clap_plugin_factory_t*>(entry->get_factory(CLAP_PLUGIN_FACTORY_ID));
    const clap_plugin_descriptor_t* desc = factory->get_plugin_descriptor(factory, 0);
    clap_host_t host = makeHost();
    const clap_plugin_t* plugin = factory->create_plugin(factory, &host, desc->id);
    if (!plugin || !plugin->init(plugin)) {
        std::fprintf(stderr, "create_plugin failed\n");
        return 1;
    }
    auto* params = static_cast<const clap_plugin_params_t*>(plugin->get_extension(plugin, CLAP_EXT_PARAMS));
    auto* state = static_cast<const clap_plugin_state_t*>(plugin->get_extension(plugin, CLAP_EXT_STATE));
    std::map<std::string, clap_id> ids;
    for (uint32_t i = 0; i < params->count(plugin); ++i) {
        clap_param_info_t info{};
        params->get_info(plugin, i, &info);
        ids[info.name] = info.id;
    }
    std::printf("plugin %s, %zu parameters\n", desc->id, ids.size());

    if (!plugin->activate(plugin, rate, 1, block) || !plugin->start_processing(plugin)) {
        std::fprintf(stderr, "activate failed\n");
        return 1;
    }

    std::vector<float> output(input.size(), 0.0f);
    std::vector<float> inL(block), inR(block), outL(block), outR(block);
    for (int pass = 7; pass < argc; ++pass) {
        std::vector<Change> changes;
        std::string spec = argv[pass];
        size_t at = 0;
        while (spec != "-" && at < spec.size()) {
            size_t comma = spec.find(',', at);
            std::string item = spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            at = comma == std::string::npos ? spec.size() : comma + 1;
            const size_t eq = item.find('='), amp = item.find('@');
            const std::string name = item.substr(0, eq);
            if (!ids.count(name)) {
                std::fprintf(stderr, "no parameter %s\n", name.c_str());
                return 1;
            }
            const double value = std::atof(item.substr(eq + 1, amp == std::string::npos ? std::string::npos : amp - eq - 1).c_str());
            const int64_t frame = amp == std::string::npos ? 0 : std::atoll(item.substr(amp + 1).c_str());
            changes.push_back({ids[name], value, frame});
        }
        for (int64_t pos = 0; pos < frames; pos += block) {
            const uint32_t n = static_cast<uint32_t>(std::min<int64_t>(block, frames - pos));
            std::memcpy(inL.data(), &input[pos], n * sizeof(float));
            std::memcpy(inR.data(), &input[frames + pos], n * sizeof(float));
            gEvents.clear();
            for (const auto& c : changes)
                if (c.frame >= pos && c.frame < pos + n) {
                    clap_event_param_value_t ev{};
                    ev.header.size = sizeof(ev);
                    ev.header.time = 0;
                    ev.header.space_id = CLAP_CORE_EVENT_SPACE_ID;
                    ev.header.type = CLAP_EVENT_PARAM_VALUE;
                    ev.param_id = c.id;
                    ev.note_id = -1;
                    ev.port_index = -1;
                    ev.channel = -1;
                    ev.key = -1;
                    ev.value = c.value;
                    gEvents.push_back(ev);
                }
            float* inPtrs[2] = {inL.data(), inR.data()};
            float* outPtrs[2] = {outL.data(), outR.data()};
            clap_audio_buffer_t ain{}, aout{};
            ain.data32 = inPtrs;
            ain.channel_count = 2;
            aout.data32 = outPtrs;
            aout.channel_count = 2;
            clap_input_events_t evIn{nullptr, inSize, inGet};
            clap_output_events_t evOut{nullptr, outPush};
            clap_event_transport_t transport{};
            transport.header.size = sizeof(transport);
            transport.header.space_id = CLAP_CORE_EVENT_SPACE_ID;
            transport.header.type = CLAP_EVENT_TRANSPORT;
            transport.flags = CLAP_TRANSPORT_IS_PLAYING | CLAP_TRANSPORT_HAS_SECONDS_TIMELINE;
            transport.song_pos_seconds = static_cast<clap_sectime>(pos / rate * CLAP_SECTIME_FACTOR);
            clap_process_t proc{};
            proc.steady_time = pos;
            proc.frames_count = n;
            proc.transport = &transport;
            proc.audio_inputs = &ain;
            proc.audio_outputs = &aout;
            proc.audio_inputs_count = 1;
            proc.audio_outputs_count = 1;
            proc.in_events = &evIn;
            proc.out_events = &evOut;
            if (plugin->process(plugin, &proc) == CLAP_PROCESS_ERROR) {
                std::fprintf(stderr, "process error at %lld\n", static_cast<long long>(pos));
                return 1;
            }
            std::memcpy(&output[pos], outL.data(), n * sizeof(float));
            std::memcpy(&output[frames + pos], outR.data(), n * sizeof(float));
        }
    }

    std::ofstream out(argv[5], std::ios::binary);
    out.write(reinterpret_cast<const char*>(output.data()), static_cast<std::streamsize>(output.size() * sizeof(float)));
    std::string saved;
    clap_ostream_t os{&saved, streamWrite};
    state->save(plugin, &os);
    std::ofstream(argv[6], std::ios::binary).write(saved.data(), static_cast<std::streamsize>(saved.size()));

    if (const char* seconds = std::getenv("REVERIE_CLAP_GUI_SECONDS")) {
        auto* gui = static_cast<const clap_plugin_gui_t*>(plugin->get_extension(plugin, CLAP_EXT_GUI));
        auto* timer = static_cast<const clap_plugin_timer_support_t*>(plugin->get_extension(plugin, CLAP_EXT_TIMER_SUPPORT));
        if (!gui || !timer || !gui->is_api_supported(plugin, CLAP_WINDOW_API_X11, true) ||
            !gui->create(plugin, CLAP_WINDOW_API_X11, true)) {
            std::fprintf(stderr, "the plugin has no floating X11 window\n");
            return 1;
        }
        uint32_t width = 0, height = 0;
        gui->get_size(plugin, &width, &height);
        if (!gui->show(plugin)) {
            std::fprintf(stderr, "gui show failed\n");
            return 1;
        }
        std::printf("window %ux%u\n", width, height);
        std::fflush(stdout);
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(std::atof(seconds) * 1000));
        while (std::chrono::steady_clock::now() < until) {
            for (const auto& t : std::vector<Timer>(gTimers))
                timer->on_timer(plugin, t.id);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        gui->hide(plugin);
        gui->destroy(plugin);
    }

    plugin->stop_processing(plugin);
    plugin->deactivate(plugin);
    plugin->destroy(plugin);  // stops the plugin's worker thread before the library goes
    entry->deinit();
    dlclose(lib);
    std::printf("done\n");
    return 0;
}
