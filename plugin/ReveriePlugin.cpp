// Reverie: a capture -> render -> play effect, a thin client of `reverie serve` (docs/protocol.md).
//
// capture: the input is recorded at its host positions (the transport's frame while it rolls; with no
//          transport, a sample counter from the last activate/reset).
// render:  on capture -> play (or the `render` trigger) a worker thread sends the capture to the bridge
//          at the host's sample rate, 2 channels, and keeps the answer as the take. Never the audio thread.
// play:    the take at the positions it was captured at, dry input elsewhere; no added latency. When the
//          host renders offline (or `wait` = always) play waits for a pending take; in real time it
//          plays dry until the take is ready.
// bypass:  the input, bit for bit (the default).
//
// No model code here: every sample of a take comes from the server.

#include "DistrhoPlugin.hpp"

#include "Bridge.hpp"
#include "ReverieShared.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

START_NAMESPACE_DISTRHO

using json = nlohmann::json;
using namespace reverie;

namespace {

enum StateKeys : uint32_t { kStateServer = 0, kStateStatus, kStateTake, kStateCount };

constexpr double kMaxCaptureSeconds = 120.0;  // the capture buffer, allocated in activate()
constexpr double kSeedMax = 16777215.0;       // 2^24 - 1: every integer exact in a float parameter
constexpr const char* kDefaultServer = "tcp://127.0.0.1:5555";
constexpr int kTrashSlots = 16;

// Parameters arrive as floats (through each format's normalised value); the bridge gets the value a
// person typed: 6 significant digits, so 0.3 is sent as 0.3 and not 0.30000001192092896.
double typed(float v)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", static_cast<double>(v));
    return std::strtod(buf, nullptr);
}

struct Take {
    int64_t base = 0;      // host position of its first frame
    int64_t frames = 0;
    int channels = 2;
    double rate = 0.0;
    std::vector<float> planar;  // channels x frames
};

struct Capture {
    uint64_t serial = 0;
    int64_t base = 0;
    reverie::AudioIn audio;
};

} // namespace

class ReveriePlugin : public Plugin, public View
{
public:
    ReveriePlugin()
        : Plugin(kParamCount, 0, kStateCount)
    {
        for (uint32_t i = 0; i < kParamCount; ++i) {
            Parameter p;
            initParameter(i, p);
            fParams[i].store(p.ranges.def);
        }
        for (auto& t : fTrash)
            t.store(nullptr);
        // The address `reverie send` uses: REVERIE_SERVER, else the default; the state overrides it.
        const char* env = std::getenv("REVERIE_SERVER");
        fServer = (env != nullptr && env[0] != '\0') ? env : kDefaultServer;
        fStatus = "idle";
        if (!isDummyInstance())
            fWorker = std::thread([this] { workerLoop(); });
    }

    ~ReveriePlugin() override
    {
        fStop.store(true);
        if (fWorker.joinable())
            fWorker.join();  // a job in flight is cancelled on the server and abandoned at once
        delete fTake;
        delete fFresh.exchange(nullptr);
        freeTrash();
    }

    // ---------------------------------------------------------------------------------------------------
    // The window's view (ReverieShared.hpp): any thread

    std::string statusText() const override
    {
        std::lock_guard<std::mutex> lock(fTextLock);
        return fStatus;
    }
    std::string modelCard() const override
    {
        std::lock_guard<std::mutex> lock(fTextLock);
        return fModelCard;
    }
    std::string serverText() const override { return server(); }
    float progressValue() const override { return fProgressValue.load(); }
    int runState() const override { return fState.load(); }
    void refreshInfo() override { fWantInfo.store(true); }

protected:
    // ---------------------------------------------------------------------------------------------------
    // Information

    const char* getLabel() const override { return "Reverie"; }
    const char* getDescription() const override
    {
        return "Captures a selection, renders it with a Reverie bridge server (reverie serve) and plays the "
               "new take back at the same positions.";
    }
    const char* getMaker() const override { return "Reverie"; }
    const char* getHomePage() const override { return "https://github.com/reverie"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return d_cconst('R', 'v', 'r', '1'); }

    // ---------------------------------------------------------------------------------------------------
    // Parameters: the names are the contract (docs/daw.md); defaults are the CLI's (models/operations.py).

    static void enumerate(Parameter& p, const char* const* labels, int count)
    {
        p.hints |= kParameterIsInteger;
        p.ranges.min = 0.0f;
        p.ranges.max = static_cast<float>(count - 1);
        p.enumValues.count = static_cast<uint8_t>(count);
        p.enumValues.restrictedMode = true;
        p.enumValues.values = new ParameterEnumerationValue[count];
        for (int i = 0; i < count; ++i) {
            p.enumValues.values[i].value = static_cast<float>(i);
            p.enumValues.values[i].label = labels[i];
        }
    }

    void initParameter(uint32_t index, Parameter& p) override
    {
        p.hints = kParameterIsAutomatable;
        switch (index) {
        case kMode: {
            const char* const* labels = kModeLabels;
            p.name = "mode";
            p.symbol = "mode";
            p.description = "bypass: the input bit for bit; capture: record the input at its positions; "
                            "play: the rendered take at those positions, dry elsewhere";
            enumerate(p, labels, 3);
            p.ranges.def = kBypass;
            break;
        }
        case kOperation:
            p.name = "operation";
            p.symbol = "operation";
            p.description = "the bridge operation a render runs";
            enumerate(p, kOps, 4);
            p.ranges.def = kTransform;
            break;
        case kStrength:
            p.name = "strength";
            p.symbol = "strength";
            p.description = "transform, interpolate: noise level, 0 keeps the input, 1 ignores it";
            p.ranges = ParameterRanges(0.5f, 0.0f, 1.0f);
            break;
        case kSeed:
            p.name = "seed";
            p.symbol = "seed";
            p.description = "same seed and options give the same take, bit for bit";
            p.hints |= kParameterIsInteger;
            p.ranges = ParameterRanges(0.0f, 0.0f, static_cast<float>(kSeedMax));
            break;
        case kVariation:
            p.name = "variation";
            p.symbol = "variation";
            p.description = "inpaint, continue: how far new audio moves from the session's own bars";
            p.ranges = ParameterRanges(0.5f, 0.0f, 1.0f);
            break;
        case kStyle:
            p.name = "style";
            p.symbol = "style";
            p.description = "steer toward a style of the model (none: unconditioned)";
            enumerate(p, kStyles, kStyleCount);
            p.ranges.def = 0.0f;
            break;
        case kStart:
            p.name = "start";
            p.symbol = "start";
            p.description = "inpaint: start of the region, in seconds of host time (the transport's, else "
                            "from the last reset)";
            p.ranges = ParameterRanges(0.0f, 0.0f, 3600.0f);
            break;
        case kEnd:
            p.name = "end";
            p.symbol = "end";
            p.description = "inpaint: end of the region, in seconds of host time; 0: the capture's end";
            p.ranges = ParameterRanges(0.0f, 0.0f, 3600.0f);
            break;
        case kSeconds:
            p.name = "seconds";
            p.symbol = "seconds";
            p.description = "continue: seconds added after the capture's end";
            p.ranges = ParameterRanges(5.0f, 0.1f, 600.0f);
            break;
        case kRatio:
            p.name = "ratio";
            p.symbol = "ratio";
            p.description = "interpolate: the previous capture's share of the blend (0: all this capture)";
            p.ranges = ParameterRanges(0.5f, 0.0f, 1.0f);
            break;
        case kSteps:
            p.name = "steps";
            p.symbol = "steps";
            p.description = "denoising steps; 0: the model's own";
            p.hints |= kParameterIsInteger;
            p.ranges = ParameterRanges(0.0f, 0.0f, 1000.0f);
            break;
        case kRender:
            p.name = "render";
            p.symbol = "render";
            p.description = "render the capture again now (as capture -> play does)";
            p.hints = kParameterIsAutomatable | kParameterIsBoolean | kParameterIsInteger;
            p.ranges = ParameterRanges(0.0f, 0.0f, 1.0f);
            break;
        case kCancel:
            p.name = "cancel";
            p.symbol = "cancel";
            p.description = "cancel the render in progress (it plays dry)";
            p.hints = kParameterIsAutomatable | kParameterIsBoolean | kParameterIsInteger;
            p.ranges = ParameterRanges(0.0f, 0.0f, 1.0f);
            break;
        case kWait: {
            static const char* const labels[] = {"auto", "always", "never"};
            p.name = "wait";
            p.symbol = "wait";
            p.description = "play waits for a pending take: auto when the host runs faster than real time "
                            "(offline bounce), always, or never";
            enumerate(p, labels, 3);
            p.ranges.def = kWaitAuto;
            break;
        }
        case kState: {
            const char* const* labels = kStateLabels;
            p.name = "state";
            p.symbol = "state";
            p.hints = kParameterIsOutput | kParameterIsInteger;
            enumerate(p, labels, 5);
            p.hints = kParameterIsOutput | kParameterIsInteger;
            p.ranges.def = kIdle;
            break;
        }
        case kProgress:
            p.name = "progress";
            p.symbol = "progress";
            p.hints = kParameterIsOutput;
            p.ranges = ParameterRanges(0.0f, 0.0f, 1.0f);
            break;
        }
    }

    float getParameterValue(uint32_t index) const override
    {
        return index < kParamCount ? fParams[index].load() : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index < kParamCount && index != kState && index != kProgress)
            fParams[index].store(value);
    }

    // ---------------------------------------------------------------------------------------------------
    // State: the server's address, the last status message, and the file the take is saved in.

    void initState(uint32_t index, State& s) override
    {
        switch (index) {
        case kStateServer:
            s.key = "server";
            s.label = "Server";
            s.defaultValue = kDefaultServer;
            s.hints = kStateIsHostWritable;
            s.description = "the bridge endpoint of `reverie serve`";
            break;
        case kStateStatus:
            s.key = "status";
            s.label = "Status";
            s.defaultValue = "idle";
            s.hints = kStateIsHostReadable;
            s.description = "what the plugin last did, or why it plays dry";
            break;
        case kStateTake:
            s.key = "take";
            s.label = "Take file";
            s.defaultValue = "";
            s.hints = kStateIsHostWritable;
            s.description = "a file the rendered take is saved in and loaded from (empty: not saved)";
            break;
        }
    }

    String getState(const char* key) const override
    {
        std::lock_guard<std::mutex> lock(fTextLock);
        if (std::strcmp(key, "server") == 0)
            return String(fServer.c_str());
        if (std::strcmp(key, "status") == 0)
            return String(fStatus.c_str());
        if (std::strcmp(key, "take") == 0)
            return String(fTakeFile.c_str());
        return String();
    }

    void setState(const char* key, const char* value) override
    {
        if (std::strcmp(key, "server") == 0) {
            std::lock_guard<std::mutex> lock(fTextLock);
            fServer = (value != nullptr && value[0] != '\0') ? value : kDefaultServer;
        } else if (std::strcmp(key, "take") == 0) {
            {
                std::lock_guard<std::mutex> lock(fTextLock);
                fTakeFile = value != nullptr ? value : "";
            }
            // The worker reads it (never the audio thread); an offline render's play waits for it.
            fBusy.store(true);
            fLoadTake.store(true);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Process

    void activate() override
    {
        fCounter = 0;
        const int64_t capacity = static_cast<int64_t>(std::ceil(kMaxCaptureSeconds * getSampleRate()));
        if (capacity != fCapCapacity) {
            waitForCopy();
            fCap.assign(static_cast<size_t>(2 * capacity), 0.0f);
            fCapCapacity = capacity;
            fCapBase = -1;
            fCapLen = 0;
        }
    }

    void sampleRateChanged(double newRate) override
    {
        waitForCopy();
        const bool had = fCapLen > 0 || fHaveTake.load();
        fCapBase = -1;
        fCapLen = 0;
        if (had)
            setStatus("the sample rate changed to " + std::to_string(static_cast<long>(newRate)) +
                  " Hz: a take rendered at another rate plays dry; capture and render again");
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        const double rate = getSampleRate();
        const bool offline = measureOffline(frames, rate);
        pickUpTake();

        const int mode = static_cast<int>(std::lround(fParams[kMode].load()));
        const TimePosition& tp = getTimePosition();
        int64_t pos;
        if (tp.playing) {
            fTransportSeen = true;
            pos = static_cast<int64_t>(tp.frame);
        } else if (fTransportSeen) {
            pos = -1;  // a transport that is stopped: nothing to capture or play at
        } else {
            pos = fCounter;  // no transport: samples since the last reset
        }
        fCounter += frames;

        if (mode != fLastMode) {
            if (mode == kCapture) {
                fCapBase = -1;
                fCapLen = 0;
                fCaptureSerial.fetch_add(1);
                fState.store(kCapturing);
            }
            if (fLastMode == kCapture && mode == kPlay)
                requestRender(rate);
            fLastMode = mode;
        }
        const bool renderNow = fParams[kRender].load() > 0.5f;
        if (renderNow && !fLastRender)
            requestRender(rate);
        fLastRender = renderNow;
        const bool cancelNow = fParams[kCancel].load() > 0.5f;
        if (cancelNow && !fLastCancel && fBusy.load())
            fCancel.store(true);
        fLastCancel = cancelNow;

        if (mode == kPlay && fBusy.load()) {
            const int wait = static_cast<int>(std::lround(fParams[kWait].load()));
            if (wait == kWaitAlways || (wait == kWaitAuto && offline)) {
                // Offline: the file must hold the take. The worker gives up on a dead server in seconds.
                while (fBusy.load() && !fStop.load())
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                pickUpTake();
                fLastRunStart = std::chrono::steady_clock::now();
            }
        }

        for (uint32_t c = 0; c < 2; ++c)
            if (outputs[c] != inputs[c])
                std::memcpy(outputs[c], inputs[c], sizeof(float) * frames);

        if (mode == kCapture && pos >= 0 && !fCopyPending.load())
            record(inputs, frames, pos);
        else if (mode == kPlay && pos >= 0 && fTake != nullptr && fTake->rate == rate)
            play(outputs, frames, pos);

        publishOutputs();
    }

private:
    // --- audio thread ------------------------------------------------------------------------------------

    void record(const float** in, uint32_t frames, int64_t pos)
    {
        if (fCapCapacity <= 0)
            return;
        if (fCapBase < 0)
            fCapBase = pos;
        const int64_t off = pos - fCapBase;
        const int64_t from = std::max<int64_t>(0, -off);
        const int64_t to = std::min<int64_t>(frames, fCapCapacity - off);
        if (from >= to)
            return;
        if (off + from > fCapLen)  // the transport jumped ahead: silence in between
            for (int c = 0; c < 2; ++c)
                std::fill(fCap.begin() + c * fCapCapacity + fCapLen, fCap.begin() + c * fCapCapacity + off + from,
                          0.0f);
        for (int c = 0; c < 2; ++c)
            std::memcpy(&fCap[static_cast<size_t>(c * fCapCapacity + off + from)], in[c] + from,
                        sizeof(float) * static_cast<size_t>(to - from));
        fCapLen = std::max(fCapLen, off + to);
    }

    void play(float** out, uint32_t frames, int64_t pos)
    {
        const Take& t = *fTake;
        const int64_t off = pos - t.base;
        const int64_t from = std::max<int64_t>(0, -off);
        const int64_t to = std::min<int64_t>(frames, t.frames - off);
        for (int c = 0; c < 2; ++c) {
            const float* src = t.planar.data() + static_cast<size_t>((t.channels == 1 ? 0 : c) * t.frames + off);
            for (int64_t i = from; i < to; ++i)
                out[c][i] = src[i];
        }
    }

    void requestRender(double rate)
    {
        if (fBusy.load())
            fCancel.store(true);  // the job in flight is superseded
        fReqBase.store(fCapBase < 0 ? 0 : fCapBase);
        fReqLen.store(fCapBase < 0 ? 0 : fCapLen);
        fReqRate.store(rate);
        fReqTransport.store(fTransportSeen);
        fCopyPending.store(true);
        fBusy.store(true);
        fState.store(kRendering);
        fProgressValue.store(0.0f);
        fRequest.store(true);
    }

    void pickUpTake()
    {
        if (fClear.exchange(false)) {
            retire(fTake);
            fTake = nullptr;
        }
        if (Take* t = fFresh.exchange(nullptr)) {
            retire(fTake);
            fTake = t;
        }
    }

    void retire(Take* t)
    {
        if (t == nullptr)
            return;
        for (auto& slot : fTrash) {
            Take* expected = nullptr;
            if (slot.compare_exchange_strong(expected, t))
                return;
        }
        delete t;  // every slot full: the worker is stuck; freeing here is the lesser harm
    }

    // A host that calls run() much faster than real time is rendering offline (DPF 1.6 exposes no
    // offline flag): more than half of the last 8 block intervals under half a block's duration.
    bool measureOffline(uint32_t frames, double rate)
    {
        const auto now = std::chrono::steady_clock::now();
        if (fLastFrames > 0) {
            const double interval = std::chrono::duration<double>(now - fLastRunStart).count();
            const bool fast = interval < 0.5 * fLastFrames / rate;
            fFastHistory = static_cast<uint8_t>((fFastHistory << 1) | (fast ? 1 : 0));
            fHistoryCount = std::min(fHistoryCount + 1, 8);
        }
        fLastRunStart = now;
        fLastFrames = frames;
        int fastCount = 0;
        for (int i = 0; i < fHistoryCount; ++i)
            fastCount += (fFastHistory >> i) & 1;
        return fHistoryCount >= 2 && 2 * fastCount > fHistoryCount;
    }

    void publishOutputs()
    {
        int state = fState.load();
        const int mode = static_cast<int>(std::lround(fParams[kMode].load()));
        if (state == kCapturing && mode != kCapture)
            state = kIdle;
        fParams[kState].store(static_cast<float>(state));
        fParams[kProgress].store(fProgressValue.load());
    }

    // --- any thread but the audio thread -----------------------------------------------------------------

    void waitForCopy()
    {
        for (int i = 0; i < 2000 && fCopyPending.load(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    void setStatus(const std::string& text)
    {
        {
            std::lock_guard<std::mutex> lock(fTextLock);
            fStatus = text;
        }
        std::fprintf(stderr, "reverie plugin: %s\n", text.c_str());
    }

    std::string server() const
    {
        std::lock_guard<std::mutex> lock(fTextLock);
        return fServer;
    }

    void freeTrash()
    {
        for (auto& slot : fTrash)
            delete slot.exchange(nullptr);
    }

    // --- worker thread -----------------------------------------------------------------------------------

    // The model card: what the server's `info` says of its model: its name, hash and rate, what it was
    // trained on, its styles, and the server.
    void fetchInfo()
    {
        const std::string endpoint = server();
        reverie::Bridge bridge(endpoint);
        reverie::Outcome out = bridge.info(2.0);
        std::string card;
        json h = out.ok ? json::parse(out.headerJson, nullptr, false) : json();
        if (out.ok && h.is_object()) {
            const json model = h.value("model", json::object());
            card = "model " + model.value("name", std::string("?")) + " (" + model.value("hash", std::string("?")) +
                   "), " + std::to_string(model.value("sample_rate", 0)) + " Hz";
            std::string sources;
            for (const auto& source : model.value("trained_on", json::array()))
                if (source.is_string())
                    sources += (sources.empty() ? "" : "; ") + source.get<std::string>();
            if (!sources.empty())
                card += "; trained on " + sources;
            std::string styles;
            for (const auto& st : h.value("styles", json::array()))
                if (st.is_string())
                    styles += (styles.empty() ? "" : ", ") + st.get<std::string>();
            if (!styles.empty())
                card += "; styles: " + styles;
            card += "; " + h.value("server", std::string("server")) + ", " + std::to_string(h.value("workers", 0)) +
                    " worker(s)";
        } else {
            card = "no server at " + endpoint + " (" + out.code + ": " + out.message + ")";
        }
        std::lock_guard<std::mutex> lock(fTextLock);
        fModelCard = card;
    }

    void workerLoop()
    {
        while (!fStop.load()) {
            freeTrash();
            if (fWantInfo.exchange(false))
                fetchInfo();
            if (fLoadTake.exchange(false)) {
                loadTakeFile();
                if (!fRequest.load())
                    fBusy.store(false);
            }
            if (fRequest.exchange(false)) {
                render();
                continue;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        freeTrash();
    }

    void fail(const std::string& text)
    {
        setStatus(text + "; playing dry");
        fClear.store(true);
        fHaveTake.store(false);
        fState.store(kError);
    }

    void render()
    {
        const int64_t base = fReqBase.load();
        const int64_t len = fReqLen.load();
        const double rate = fReqRate.load();
        const uint64_t serial = fCaptureSerial.load();
        if (len > 0) {
            if (serial != fLast.serial)
                fPrev = std::move(fLast);  // a new capture: the last one becomes interpolate's second input
            fLast = Capture();
            fLast.serial = serial;
            fLast.base = base;
            fLast.audio.name = "audio";
            fLast.audio.sampleRate = static_cast<int>(std::lround(rate));
            fLast.audio.channels = 2;
            fLast.audio.frames = len;
            fLast.audio.planar.resize(static_cast<size_t>(2 * len));
            for (int c = 0; c < 2; ++c)
                std::memcpy(&fLast.audio.planar[static_cast<size_t>(c * len)],
                            &fCap[static_cast<size_t>(c * fCapCapacity)], sizeof(float) * static_cast<size_t>(len));
            // Two identical channels are a mono source on a stereo track: sent as one channel (the answer
            // is then the mono file's), played on both.
            if (std::memcmp(fLast.audio.planar.data(), fLast.audio.planar.data() + len,
                            sizeof(float) * static_cast<size_t>(len)) == 0) {
                fLast.audio.channels = 1;
                fLast.audio.planar.resize(static_cast<size_t>(len));
            }
        }
        fCopyPending.store(false);
        fCancel.store(false);

        auto done = [&] {
            if (!fRequest.load())
                fBusy.store(false);
        };
        if (len <= 0) {
            fail("nothing captured: set mode to capture and play the selection first");
            return done();
        }

        const int op = std::clamp(static_cast<int>(std::lround(fParams[kOperation].load())), 0, 3);
        const int style = std::clamp(static_cast<int>(std::lround(fParams[kStyle].load())), 0, kStyleCount - 1);
        json params = json::object();
        params["seed"] = static_cast<int64_t>(std::llround(std::clamp<double>(fParams[kSeed].load(), 0, kSeedMax)));
        if (style > 0)
            params["style"] = kStyles[style];
        const long steps = std::lround(fParams[kSteps].load());
        if (steps > 0)
            params["steps"] = steps;
        std::vector<reverie::AudioIn> inputs{fLast.audio};
        const double baseSeconds = static_cast<double>(fLast.base) / rate;
        switch (op) {
        case kTransform:
            params["strength"] = typed(fParams[kStrength].load());
            break;
        case kInpaint: {
            const double start = std::max(0.0, typed(fParams[kStart].load()) - baseSeconds);
            const double endParam = typed(fParams[kEnd].load());
            const double end = endParam > 0 ? endParam - baseSeconds : static_cast<double>(len) / rate;
            params["start"] = start;
            params["end"] = end;
            params["variation"] = typed(fParams[kVariation].load());
            break;
        }
        case kContinue:
            params["seconds"] = typed(fParams[kSeconds].load());
            params["variation"] = typed(fParams[kVariation].load());
            break;
        case kInterpolate:
            if (fPrev.audio.frames <= 0) {
                fail("interpolate needs two captures: it blends this capture with the one before it");
                return done();
            }
            params["strength"] = typed(fParams[kStrength].load());
            params["ratio"] = typed(fParams[kRatio].load());
            inputs[0].name = "a";
            inputs.push_back(fPrev.audio);
            inputs[1].name = "b";
            break;
        }

        const std::string endpoint = server();
        setStatus(std::string("rendering: ") + kOps[op] + " of " + std::to_string(len) + " frames at " +
                  std::to_string(static_cast<long>(rate)) + " Hz on " + endpoint);
        reverie::Outcome out;
        {
            reverie::Bridge bridge(endpoint);
            out = bridge.job(kOps[op], params.dump(), inputs,
                             [this](int step, int total) {
                                 if (total > 0)
                                     fProgressValue.store(static_cast<float>(step) / static_cast<float>(total));
                             },
                             fCancel, fStop);
        }
        if (fStop.load())
            return;
        if (fRequest.load())
            return;  // superseded by a newer render: its outcome decides
        if (!out.ok) {
            fail("error " + out.code + (out.field.empty() ? "" : " [" + out.field + "]") + ": " + out.message);
            return done();
        }
        if (out.channels != inputs[0].channels || out.frames < len || out.sampleRate != static_cast<int>(std::lround(rate))) {
            fail("the server's take does not match the capture (" + std::to_string(out.channels) + " channels, " +
                 std::to_string(out.frames) + " frames at " + std::to_string(out.sampleRate) + " Hz)");
            return done();
        }
        auto* take = new Take;
        take->base = fLast.base;
        take->frames = out.frames;
        take->channels = out.channels;
        take->rate = rate;
        take->planar = std::move(out.planar);
        saveTakeFile(*take);
        delete fFresh.exchange(take);  // one the audio thread never saw
        fHaveTake.store(true);
        fWantInfo.store(true);
        fProgressValue.store(1.0f);
        fState.store(kReady);
        json h = json::parse(out.headerJson, nullptr, false);
        std::string model = h.is_object() ? h.value("model_hash", std::string()) : std::string();
        setStatus(std::string("ready: ") + kOps[op] + ", " + std::to_string(out.frames) + " frames at host positions " +
                  std::to_string(fLast.base) + " to " + std::to_string(fLast.base + out.frames) +
                  (fReqTransport.load() ? " (the transport's)" : " (samples since the last reset)") + ", seed " +
                  std::to_string(params["seed"].get<int64_t>()) + ", model " + model);
        done();
    }

    // The take file: a small JSON header line, then the planar float32 samples.
    void saveTakeFile(const Take& t)
    {
        std::string path;
        {
            std::lock_guard<std::mutex> lock(fTextLock);
            path = fTakeFile;
        }
        if (path.empty())
            return;
        const std::string tmp = path + ".part";
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        json h = {{"reverie_take", 1}, {"base", t.base}, {"frames", t.frames}, {"channels", t.channels},
                  {"sample_rate", t.rate}};
        const std::string line = h.dump() + "\n";
        f.write(line.data(), static_cast<std::streamsize>(line.size()));
        f.write(reinterpret_cast<const char*>(t.planar.data()),
                static_cast<std::streamsize>(t.planar.size() * sizeof(float)));
        f.close();
        if (!f || std::rename(tmp.c_str(), path.c_str()) != 0)
            setStatus("could not save the take to " + path);
    }

    void loadTakeFile()
    {
        std::string path;
        {
            std::lock_guard<std::mutex> lock(fTextLock);
            path = fTakeFile;
        }
        if (path.empty())
            return;
        std::ifstream f(path, std::ios::binary);
        if (!f) {
            setStatus("no take file at " + path + " yet");
            return;
        }
        std::string line;
        std::getline(f, line);
        json h = json::parse(line, nullptr, false);
        if (!h.is_object() || h.value("reverie_take", 0) != 1) {
            setStatus("not a Reverie take file: " + path);
            return;
        }
        auto* take = new Take;
        take->base = h.value("base", static_cast<int64_t>(0));
        take->frames = h.value("frames", static_cast<int64_t>(0));
        take->channels = h.value("channels", 0);
        take->rate = h.value("sample_rate", 0.0);
        take->planar.resize(static_cast<size_t>(std::max<int64_t>(0, take->channels * take->frames)));
        f.read(reinterpret_cast<char*>(take->planar.data()),
               static_cast<std::streamsize>(take->planar.size() * sizeof(float)));
        if (!f || take->channels < 1 || take->channels > 2 || take->frames <= 0) {
            delete take;
            setStatus("the take file " + path + " is damaged");
            return;
        }
        delete fFresh.exchange(take);
        fHaveTake.store(true);
        fState.store(kReady);
        setStatus("loaded the take from " + path);
    }

    // --- members -----------------------------------------------------------------------------------------

    std::atomic<float> fParams[kParamCount];

    // audio thread only
    int fLastMode = kBypass;
    bool fLastRender = false, fLastCancel = false;
    bool fTransportSeen = false;
    int64_t fCounter = 0;
    Take* fTake = nullptr;
    std::chrono::steady_clock::time_point fLastRunStart{};
    uint32_t fLastFrames = 0;
    uint8_t fFastHistory = 0;
    int fHistoryCount = 0;

    // the capture: written by the audio thread, read by the worker while fCopyPending is set
    std::vector<float> fCap;  // 2 x fCapCapacity
    int64_t fCapCapacity = 0, fCapBase = -1, fCapLen = 0;

    // audio thread -> worker
    std::atomic<bool> fRequest{false}, fCopyPending{false}, fBusy{false}, fCancel{false}, fStop{false};
    std::atomic<int64_t> fReqBase{0}, fReqLen{0};
    std::atomic<double> fReqRate{0.0};
    std::atomic<bool> fReqTransport{false};
    std::atomic<uint64_t> fCaptureSerial{0};
    std::atomic<bool> fLoadTake{false};

    // worker -> audio thread
    std::atomic<Take*> fFresh{nullptr};
    std::atomic<bool> fClear{false}, fHaveTake{false};
    std::atomic<Take*> fTrash[kTrashSlots];
    std::atomic<int> fState{kIdle};
    std::atomic<float> fProgressValue{0.0f};

    // worker only
    Capture fLast, fPrev;

    mutable std::mutex fTextLock;
    std::string fServer, fStatus, fTakeFile, fModelCard = "asking the server...";
    std::atomic<bool> fWantInfo{false};

    std::thread fWorker;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ReveriePlugin)
};

Plugin* createPlugin()
{
    return new ReveriePlugin();
}

END_NAMESPACE_DISTRHO
