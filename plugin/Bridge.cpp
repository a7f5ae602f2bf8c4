// See Bridge.hpp. Runs only on the plugin's worker thread, never on the audio thread.
#include "Bridge.hpp"

#include <chrono>
#include <cstring>
#include <random>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

static_assert(sizeof(float) == 4, "float32 audio frames");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the bridge's audio frames are little-endian float32; this build assumes a little-endian CPU"
#endif

namespace reverie {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

static constexpr int kSendTimeoutMs = 3000;   // a send to no server fails after this (ZMQ_IMMEDIATE)

struct Bridge::Impl {
    std::string endpoint;
    zmq::context_t ctx{1};
    zmq::socket_t sock{ctx, zmq::socket_type::dealer};
};

static std::string newId(const char* prefix)
{
    static std::atomic<uint64_t> counter{0};
    std::random_device rd;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%08x%08x%04llx", prefix, rd(), rd(),
                  static_cast<unsigned long long>(counter.fetch_add(1) & 0xffff));
    return buf;
}

Bridge::Bridge(std::string endpoint)
    : d(new Impl)
{
    d->endpoint = std::move(endpoint);
    d->sock.set(zmq::sockopt::linger, 0);
    d->sock.set(zmq::sockopt::immediate, 1);
    d->sock.set(zmq::sockopt::sndtimeo, kSendTimeoutMs);
    d->sock.set(zmq::sockopt::ipv6, 1);
    d->sock.connect(d->endpoint);
}

Bridge::~Bridge()
{
    try {
        d->sock.close();
        d->ctx.close();
    } catch (...) {}
    delete d;
}

static bool sendMessage(zmq::socket_t& sock, const json& header, const std::vector<const AudioIn*>& audio)
{
    const std::string text = header.dump();
    const bool more = !audio.empty();
    if (!sock.send(zmq::buffer(text), more ? zmq::send_flags::sndmore : zmq::send_flags::none))
        return false;
    for (size_t i = 0; i < audio.size(); ++i) {
        const auto& a = *audio[i];
        const bool last = i + 1 == audio.size();
        zmq::const_buffer buf(a.planar.data(), a.planar.size() * sizeof(float));
        if (!sock.send(buf, last ? zmq::send_flags::none : zmq::send_flags::sndmore))
            return false;  // libzmq drops a partly sent multipart message with the socket
    }
    return true;
}

// One reply: its header (parsed) and its payload frames. False on timeout.
static bool receive(zmq::socket_t& sock, int timeoutMs, json& header, std::vector<zmq::message_t>& frames)
{
    zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}};
    if (zmq::poll(items, 1, std::chrono::milliseconds(timeoutMs)) <= 0 || !(items[0].revents & ZMQ_POLLIN))
        return false;
    std::vector<zmq::message_t> msgs;
    if (!zmq::recv_multipart(sock, std::back_inserter(msgs)) || msgs.empty())
        return false;
    header = json::parse(msgs[0].to_string(), nullptr, false);
    if (header.is_discarded() || !header.is_object())
        header = json::object();
    frames.clear();
    for (size_t i = 1; i < msgs.size(); ++i)
        frames.push_back(std::move(msgs[i]));
    return true;
}

static std::string str(const json& j, const char* key)
{
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

static void fail(Outcome& out, const std::string& code, const std::string& message, const std::string& field = "")
{
    out.ok = false;
    out.code = code;
    out.message = message;
    out.field = field;
}

static void fromError(Outcome& out, const json& h)
{
    fail(out, str(h, "code").empty() ? "internal" : str(h, "code"), str(h, "message"), str(h, "field"));
    out.headerJson = h.dump();
}

Outcome Bridge::info(double timeoutSeconds)
{
    Outcome out;
    const std::string id = newId("info-");
    json header = {{"v", 1}, {"id", id}, {"op", "info"}, {"params", json::object()}};
    if (!sendMessage(d->sock, header, {})) {
        fail(out, "unreachable", "no bridge server answered at " + d->endpoint + " (is `reverie serve` running?)");
        return out;
    }
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int>(timeoutSeconds * 1000));
    while (Clock::now() < deadline) {
        json h;
        std::vector<zmq::message_t> frames;
        if (!receive(d->sock, 50, h, frames) || str(h, "id") != id)
            continue;
        if (str(h, "type") == "error") {
            fromError(out, h);
            return out;
        }
        out.ok = true;
        out.headerJson = h.dump();
        return out;
    }
    fail(out, "timeout", "no reply from " + d->endpoint + " to info");
    return out;
}

static bool decodeResult(Outcome& out, const json& h, std::vector<zmq::message_t>& frames)
{
    auto payload = h.find("payload");
    if (payload == h.end() || !payload->is_array())
        return false;
    for (size_t i = 0; i < payload->size() && i < frames.size(); ++i) {
        const json& e = (*payload)[i];
        if (str(e, "kind") != "audio" || str(e, "name") != "audio")
            continue;
        const int channels = e.value("channels", 0);
        const int64_t n = e.value("frames", static_cast<int64_t>(0));
        const size_t bytes = static_cast<size_t>(channels) * static_cast<size_t>(n) * sizeof(float);
        if (channels <= 0 || n <= 0 || frames[i].size() != bytes)
            return false;
        out.channels = channels;
        out.frames = n;
        out.sampleRate = e.value("sample_rate", 0);
        out.planar.resize(static_cast<size_t>(channels) * static_cast<size_t>(n));
        const float* src = frames[i].data<float>();
        if (str(e, "layout") == "interleaved") {
            for (int64_t f = 0; f < n; ++f)
                for (int c = 0; c < channels; ++c)
                    out.planar[static_cast<size_t>(c) * n + f] = src[f * channels + c];
        } else {
            std::memcpy(out.planar.data(), src, bytes);
        }
        return true;
    }
    return false;
}

Outcome Bridge::job(const std::string& op, const std::string& paramsJson, const std::vector<AudioIn>& inputs,
                    const ProgressFn& progress, const std::atomic<bool>& cancel, const std::atomic<bool>& abandon,
                    double probeSeconds)
{
    Outcome out;
    const std::string id = newId("plugin-");
    json params = json::parse(paramsJson, nullptr, false);
    if (params.is_discarded() || !params.is_object())
        params = json::object();
    json payload = json::array();
    std::vector<const AudioIn*> audio;
    for (const auto& a : inputs) {
        payload.push_back({{"name", a.name}, {"kind", "audio"}, {"sample_rate", a.sampleRate},
                           {"channels", a.channels}, {"frames", a.frames}, {"layout", "planar"}});
        audio.push_back(&a);
    }
    json header = {{"v", 1}, {"id", id}, {"op", op}, {"params", params}, {"payload", payload},
                   {"reply_layout", "planar"}};
    if (!sendMessage(d->sock, header, audio)) {
        fail(out, "unreachable",
             "no bridge server answered at " + d->endpoint + " within 3 s (is `reverie serve` running there?)");
        return out;
    }

    auto sendSmall = [&](const std::string& smallOp, const std::string& smallId) {
        json h = {{"v", 1}, {"id", smallId}, {"op", smallOp}, {"params", {{"job", id}}}};
        return sendMessage(d->sock, h, {});
    };

    const auto probeEvery = std::chrono::milliseconds(static_cast<int>(probeSeconds * 1000));
    auto lastHeard = Clock::now();
    std::string probeId;
    auto probeAt = Clock::now();
    bool cancelSent = false;
    auto cancelDeadline = Clock::now();

    for (;;) {
        if (abandon.load()) {
            // Closing the socket drops what it has not sent (LINGER 0): give the cancel 200 ms to leave.
            d->sock.set(zmq::sockopt::linger, 200);
            sendSmall("cancel", newId("cancel-"));
            fail(out, "cancelled", "the plugin was closed during the job");
            return out;
        }
        if (cancel.load() && !cancelSent) {
            cancelSent = true;
            cancelDeadline = Clock::now() + std::chrono::seconds(30);
            if (!sendSmall("cancel", newId("cancel-"))) {
                fail(out, "unreachable", "the server went away (the cancel could not be sent)");
                return out;
            }
        }
        json h;
        std::vector<zmq::message_t> frames;
        if (receive(d->sock, 50, h, frames)) {
            const std::string rid = str(h, "id"), type = str(h, "type");
            if (rid == id) {
                lastHeard = Clock::now();
                probeId.clear();
                if (type == "progress" && progress)
                    progress(h.value("step", 0), h.value("total", 0));
                else if (type == "error") {
                    fromError(out, h);
                    return out;
                } else if (type == "result") {
                    out.headerJson = h.dump();
                    if (!decodeResult(out, h, frames)) {
                        fail(out, "frame_mismatch", "the server's result audio did not match its header");
                        return out;
                    }
                    out.ok = true;
                    return out;
                }
            } else if (!probeId.empty() && rid == probeId) {
                probeId.clear();
                if (type == "result") {
                    lastHeard = Clock::now();  // still queued or running
                } else {
                    // not_found: the server forgot the job (it restarted, or our connection was replaced)
                    fail(out, "not_found", "the server no longer has the job: " + str(h, "message"));
                    return out;
                }
            }
            continue;
        }
        const auto now = Clock::now();
        if (cancelSent && now > cancelDeadline) {
            fail(out, "cancelled", "the server did not confirm the cancel within 30 s");
            return out;
        }
        if (probeId.empty() && now - lastHeard > probeEvery) {
            probeId = newId("status-");
            probeAt = now;
            if (!sendSmall("status", probeId)) {
                fail(out, "unreachable", "the server at " + d->endpoint + " went away during the job");
                return out;
            }
        } else if (!probeId.empty() && now - probeAt > std::chrono::seconds(30)) {
            fail(out, "timeout", "the server at " + d->endpoint + " stopped answering");
            return out;
        }
    }
}

} // namespace reverie
