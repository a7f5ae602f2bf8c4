// What the plugin and its window share: parameter indices, labels, and the view the window reads
// from the plugin in the same process (DPF direct access).
#pragma once

#include <cstdint>
#include <string>

namespace reverie {

enum Params : uint32_t {
    kMode = 0,
    kOperation,
    kStrength,
    kSeed,
    kVariation,
    kStyle,
    kStart,
    kEnd,
    kSeconds,
    kRatio,
    kSteps,
    kRender,
    kCancel,
    kWait,
    kState,     // output
    kProgress,  // output
    kParamCount
};

enum Mode { kBypass = 0, kCapture = 1, kPlay = 2 };
enum Op { kTransform = 0, kInpaint = 1, kContinue = 2, kInterpolate = 3 };
enum Wait { kWaitAuto = 0, kWaitAlways = 1, kWaitNever = 2 };
enum RunState { kIdle = 0, kCapturing = 1, kRendering = 2, kReady = 3, kError = 4 };

static const char* const kModeLabels[] = {"bypass", "capture", "play"};
static const char* const kOps[] = {"transform", "inpaint", "continue", "interpolate"};
// The default model's styles (docs/protocol.md: `info.styles`); "none" sends no style.
static const char* const kStyles[] = {"none", "sleep", "calm", "happy", "sad", "tense"};
constexpr int kStyleCount = 6;
static const char* const kStateLabels[] = {"idle", "capturing", "rendering", "ready", "error"};

// The plugin as its window sees it (thread-safe getters).
class View {
public:
    virtual ~View() = default;
    virtual std::string statusText() const = 0;
    virtual std::string modelCard() const = 0;   // from the server's `info`
    virtual std::string serverText() const = 0;
    virtual float progressValue() const = 0;
    virtual int runState() const = 0;
    virtual void refreshInfo() = 0;              // ask the worker for `info` again
};

} // namespace reverie
