// Reverie's window (DPF, NanoVG): the operation and its options, Capture / Render / Cancel, the render's
// progress from the bridge's `progress` messages, the server and its model card. Everything it does is a
// host parameter change, so hosts that show no window lose nothing.

#include "DistrhoPlugin.hpp"
#include "DistrhoUI.hpp"

#include "ReverieShared.hpp"

#include <cmath>
#include <cstdio>
#include <string>

START_NAMESPACE_DISTRHO

using namespace reverie;

namespace {

struct Box {
    float x, y, w, h;
    bool contains(double px, double py) const { return px >= x && px < x + w && py >= y && py < y + h; }
};

constexpr uint kWidth = 640, kHeight = 330;

const Box kOpTabs{20, 64, 600, 30};
const Box kSliders[] = {{20, 118, 290, 26}, {330, 118, 290, 26}};  // strength, variation
const uint32_t kSliderParams[] = {kStrength, kVariation};
const Box kSeedBox{20, 160, 140, 26};
const Box kStyleBox{180, 160, 200, 26};
const Box kCaptureButton{20, 204, 140, 34};
const Box kRenderButton{175, 204, 140, 34};
const Box kCancelButton{330, 204, 140, 34};
const Box kBypassButton{485, 204, 135, 34};
const Box kProgressBar{20, 252, 600, 14};

} // namespace

class ReverieUI : public UI
{
public:
    ReverieUI()
        : UI(kWidth, kHeight)
    {
        loadSharedResources();
        for (float& v : fValues)
            v = 0.0f;
        fValues[kStrength] = 0.5f;
        fValues[kVariation] = 0.5f;
        if (View* view = this->view())
            view->refreshInfo();
    }

protected:
    void parameterChanged(uint32_t index, float value) override
    {
        if (index < kParamCount) {
            fValues[index] = value;
            repaint();
        }
    }

    void stateChanged(const char*, const char*) override {}

    void uiIdle() override
    {
        if (fReleaseTrigger >= 0) {
            setParameterValue(static_cast<uint32_t>(fReleaseTrigger), 0.0f);
            fValues[fReleaseTrigger] = 0.0f;
            fReleaseTrigger = -1;
        }
        if (View* v = view()) {
            const std::string status = v->statusText(), card = v->modelCard();
            const float progress = v->progressValue();
            const int state = v->runState();
            if (status != fStatus || card != fCard || progress != fProgress || state != fRunState) {
                fStatus = status;
                fCard = card;
                fProgress = progress;
                fRunState = state;
                repaint();
            }
        }
    }

    void onNanoDisplay() override
    {
        const float w = getWidth(), h = getHeight();
        const float scale = w / kWidth;
        this->scale(scale, scale);

        beginPath();
        rect(0, 0, kWidth, kHeight);
        fillColor(Color(24, 26, 33));
        fill();

        fontSize(22);
        fillColor(Color(235, 235, 240));
        textAlign(ALIGN_LEFT | ALIGN_BASELINE);
        text(20, 36, "Reverie", nullptr);
        fontSize(13);
        fillColor(Color(150, 155, 170));
        const int mode = static_cast<int>(std::lround(fValues[kMode]));
        const std::string head = std::string("mode: ") + kModeLabels[clampIndex(mode, 3)] + "    server: " + server();
        text(120, 36, head.c_str(), nullptr);

        // operation tabs
        const int op = clampIndex(static_cast<int>(std::lround(fValues[kOperation])), 4);
        for (int i = 0; i < 4; ++i) {
            const Box b{kOpTabs.x + i * kOpTabs.w / 4, kOpTabs.y, kOpTabs.w / 4 - 6, kOpTabs.h};
            button(b, kOps[i], i == op ? Color(92, 120, 220) : Color(48, 52, 64));
        }

        // sliders
        static const char* const sliderNames[] = {"strength", "variation"};
        for (int i = 0; i < 2; ++i) {
            const Box& b = kSliders[i];
            const float v = fValues[kSliderParams[i]];
            beginPath();
            roundedRect(b.x, b.y, b.w, b.h, 4);
            fillColor(Color(48, 52, 64));
            fill();
            beginPath();
            roundedRect(b.x, b.y, b.w * v, b.h, 4);
            fillColor(Color(70, 150, 130));
            fill();
            char label[64];
            std::snprintf(label, sizeof(label), "%s %.2f", sliderNames[i], v);
            fillColor(Color(235, 235, 240));
            textAlign(ALIGN_LEFT | ALIGN_MIDDLE);
            text(b.x + 8, b.y + b.h / 2, label, nullptr);
        }

        char seed[48];
        std::snprintf(seed, sizeof(seed), "seed %ld  (click: +1)", std::lround(fValues[kSeed]));
        button(kSeedBox, seed, Color(48, 52, 64));
        const int style = clampIndex(static_cast<int>(std::lround(fValues[kStyle])), kStyleCount);
        button(kStyleBox, (std::string("style: ") + kStyles[style] + "  (click: next)").c_str(), Color(48, 52, 64));

        button(kCaptureButton, "Capture", mode == kCapture ? Color(200, 70, 70) : Color(64, 68, 82));
        button(kRenderButton, "Render", mode == kPlay ? Color(70, 150, 130) : Color(64, 68, 82));
        button(kCancelButton, "Cancel", Color(64, 68, 82));
        button(kBypassButton, "Bypass", mode == kBypass ? Color(110, 110, 120) : Color(64, 68, 82));

        // progress, from the bridge's progress messages
        beginPath();
        roundedRect(kProgressBar.x, kProgressBar.y, kProgressBar.w, kProgressBar.h, 3);
        fillColor(Color(48, 52, 64));
        fill();
        beginPath();
        roundedRect(kProgressBar.x, kProgressBar.y, kProgressBar.w * std::fmin(1.0f, std::fmax(0.0f, fProgress)),
                    kProgressBar.h, 3);
        fillColor(fRunState == kError ? Color(200, 70, 70) : Color(92, 120, 220));
        fill();

        fontSize(13);
        textAlign(ALIGN_LEFT | ALIGN_BASELINE);
        fillColor(Color(235, 235, 240));
        // the plugin's status (it starts with the state: ready, rendering, error ...) and the model card
        if (!fStatus.empty())
            textBox(20, 286, 600, fStatus.c_str(), nullptr);
        fillColor(Color(150, 155, 170));
        if (!fCard.empty())
            textBox(20, 318, 600, fCard.c_str(), nullptr);
        (void)h;
    }

    bool onMouse(const MouseEvent& ev) override
    {
        if (ev.button != 1)
            return false;
        if (!ev.press) {
            fDragging = -1;
            return false;
        }
        const float scale = getWidth() / static_cast<float>(kWidth);
        const double x = ev.pos.getX() / scale, y = ev.pos.getY() / scale;
        if (kOpTabs.contains(x, y)) {
            set(kOperation, static_cast<float>(static_cast<int>((x - kOpTabs.x) / (kOpTabs.w / 4))));
        } else if (kSliders[0].contains(x, y) || kSliders[1].contains(x, y)) {
            fDragging = kSliders[0].contains(x, y) ? 0 : 1;
            drag(x);
        } else if (kSeedBox.contains(x, y)) {
            set(kSeed, fValues[kSeed] + 1.0f);
        } else if (kStyleBox.contains(x, y)) {
            set(kStyle, static_cast<float>((static_cast<int>(std::lround(fValues[kStyle])) + 1) % kStyleCount));
        } else if (kCaptureButton.contains(x, y)) {
            set(kMode, kCapture);
        } else if (kRenderButton.contains(x, y)) {
            // capture -> play renders; already playing: the render trigger renders again
            if (static_cast<int>(std::lround(fValues[kMode])) == kPlay)
                trigger(kRender);
            else
                set(kMode, kPlay);
        } else if (kCancelButton.contains(x, y)) {
            trigger(kCancel);
        } else if (kBypassButton.contains(x, y)) {
            set(kMode, kBypass);
        } else {
            return false;
        }
        return true;
    }

    bool onMotion(const MotionEvent& ev) override
    {
        if (fDragging < 0)
            return false;
        drag(ev.pos.getX() / (getWidth() / static_cast<float>(kWidth)));
        return true;
    }

private:
    View* view() const
    {
        // DPF direct access: the plugin lives in this process (VST3, CLAP, LV2 with instance-access).
        void* p = getPluginInstancePointer();
        return p != nullptr ? dynamic_cast<View*>(static_cast<Plugin*>(p)) : nullptr;
    }

    std::string server() const
    {
        if (View* v = view())
            return v->serverText();
        return "?";
    }

    static int clampIndex(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

    void set(uint32_t index, float value)
    {
        editParameter(index, true);
        setParameterValue(index, value);
        editParameter(index, false);
        fValues[index] = value;
        repaint();
    }

    void trigger(uint32_t index)
    {
        set(index, 1.0f);
        fReleaseTrigger = static_cast<int>(index);  // back to 0 on the next idle: a 0 -> 1 edge each click
    }

    void drag(double x)
    {
        const Box& b = kSliders[fDragging];
        const float v = static_cast<float>(std::fmin(1.0, std::fmax(0.0, (x - b.x) / b.w)));
        set(kSliderParams[fDragging], std::round(v * 100.0f) / 100.0f);
    }

    void button(const Box& b, const char* label, const Color& color)
    {
        beginPath();
        roundedRect(b.x, b.y, b.w, b.h, 5);
        fillColor(color);
        fill();
        fontSize(14);
        fillColor(Color(235, 235, 240));
        textAlign(ALIGN_CENTER | ALIGN_MIDDLE);
        text(b.x + b.w / 2, b.y + b.h / 2, label, nullptr);
    }

    float fValues[kParamCount];
    std::string fStatus, fCard;
    float fProgress = 0.0f;
    int fRunState = kIdle;
    int fDragging = -1;
    int fReleaseTrigger = -1;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ReverieUI)
};

UI* createUI()
{
    return new ReverieUI();
}

END_NAMESPACE_DISTRHO
