// A thin client of the Reverie bridge (docs/protocol.md): one DEALER socket per call, a JSON header
// frame and raw little-endian float32 planar audio frames, replies accepted -> progress -> result|error.
// Mirrors bridge/client.py's framing: no empty delimiter frame, ZMQ_IMMEDIATE, ZMQ_IPV6, LINGER 0.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace reverie {

struct AudioIn {
    std::string name;          // "audio", "a" or "b"
    int sampleRate = 0;
    int channels = 0;
    int64_t frames = 0;
    std::vector<float> planar; // channels x frames, C order
};

struct Outcome {
    bool ok = false;
    std::string code;          // an error code of the protocol, or "timeout"/"unreachable" (client side)
    std::string message;
    std::string field;
    int channels = 0;
    int64_t frames = 0;
    int sampleRate = 0;
    std::vector<float> planar; // the result audio, channels x frames
    std::string headerJson;    // the final reply header, as received
};

// Progress: (step, total). Called on the calling (worker) thread.
using ProgressFn = std::function<void(int, int)>;

class Bridge {
public:
    explicit Bridge(std::string endpoint);
    ~Bridge();
    Bridge(const Bridge&) = delete;
    Bridge& operator=(const Bridge&) = delete;

    // `info`: the result header as JSON text in Outcome::headerJson.
    Outcome info(double timeoutSeconds = 3.0);

    // One job op with its audio inputs and params (a JSON object as text). Waits for the final reply.
    // `cancel` set: sends `cancel` for the job and keeps waiting for its final reply (a `cancelled`
    // error); `abandon` set: sends `cancel` and returns at once (plugin being destroyed).
    // A silent server (no reply for `probeSeconds`: a queued job hears nothing) is asked `status`: a send
    // that fails (no connection) is "unreachable"; no answer within 30 s is "timeout" (bridge/client.py
    // waits 30 s of silence before it asks).
    Outcome job(const std::string& op, const std::string& paramsJson, const std::vector<AudioIn>& inputs,
                const ProgressFn& progress, const std::atomic<bool>& cancel, const std::atomic<bool>& abandon,
                double probeSeconds = 5.0);

private:
    struct Impl;
    Impl* d;
};

} // namespace reverie
