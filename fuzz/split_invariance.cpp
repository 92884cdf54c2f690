// The same peer bytes fed to a connection whole and in random chunks must
// give the same events (adjacent streamed pieces merged), the same output,
// byte for byte, and the same final state.
//
// Input: byte 0 is flags: 1 prefix a valid handshake (server: the §1.3
// request, accepted on arrival; client: the 101 for its key), 2 streaming
// delivery, 4 client role, 8 end of transport after the last byte, 16 tiny
// max_message_size, 32 permessage-deflate (RFC 7692) configured by the four
// bytes that follow (read_compression in engine_script.hpp; with flag 1
// the prefix carries the offer or the answer its byte z2 chooses); the rest
// is the peer's bytes. Compressed messages are inflated in pieces of
// stream_chunk or as the input allows: only the merged pieces are compared.
#include "engine_script.hpp"

namespace {

using fuzz::check;

/// An event with its payload copied out (views die at the next call).
struct item {
    std::size_t kind = 0;  // index in sansws::event
    int code = 0;          // close code, violation, or HTTP status
    std::string text;      // payload, reason, or handshake fields
    bool complete = true;  // false: a streamed message without its last piece
    bool operator==(const item&) const = default;
};

struct outcome {
    std::vector<item> events;
    std::vector<std::byte> output;
    sansws::connection_state state{};
    sansws::violation failure{};
};

outcome run(std::uint8_t flags, const fuzz::compression_setup* z, sansws::bytes_view payload, fuzz::rng* split) {
    sansws::config cfg;
    cfg.role = (flags & 4) ? sansws::role::client : sansws::role::server;
    if (flags & 2) cfg.delivery = sansws::delivery_mode::streaming;
    if (flags & 16) cfg.max_message_size = 100;
    if (cfg.role == sansws::role::client) {
        cfg.entropy = fuzz::fixed_entropy();
        cfg.client.host = "server.example.com";
    }
    std::unique_ptr<sansws::deflater> shared;  // outlives the connection
    if (z) z->apply(cfg, shared);
    fuzz::harness h(std::move(cfg));
    const bool server = h.conn().role() == sansws::role::server;

    std::string prefix;
    if (flags & 1) {
        if (server) {
            prefix = z ? fuzz::request_with(fuzz::offer_lines(z->peer)) : std::string(fuzz::sample_request);
        } else {
            prefix = fuzz::answer_for(h.conn(), z ? fuzz::make_answer(z->peer, z->cfg.negotiate).lines
                                                  : std::vector<std::string>{});
        }
    }
    std::vector<std::byte> peer = fuzz::copy(prefix);  // a fresh copy: receive() unmasks in place
    peer.insert(peer.end(), payload.begin(), payload.end());

    outcome out;
    std::size_t open_message = 0;  // index of the streamed message being merged
    auto on_event = [&](const sansws::event& ev) {
        item it;
        it.kind = ev.index();
        if (auto* r = std::get_if<sansws::handshake_request>(&ev)) {
            it.text = r->target + ' ' + r->key;
            check(h.call([](sansws::connection& c) { return c.accept(); }) == sansws::misuse::none);
        } else if (auto* r = std::get_if<sansws::handshake_rejected>(&ev)) {
            it.code = r->status;
            it.text = r->body;
        } else if (auto* m = std::get_if<sansws::message>(&ev)) {
            it.code = static_cast<int>(m->type);
            it.text = sansws::as_text(m->data);
            it.complete = m->last;
            // Streamed pieces of one message become one item, placed where
            // the message began (pings may arrive between its frames).
            if (!m->first) {
                check(open_message < out.events.size() && !out.events[open_message].complete);
                out.events[open_message].text += it.text;
                out.events[open_message].complete = m->last;
                return;
            }
            open_message = out.events.size();
        } else if (auto* p = std::get_if<sansws::ping>(&ev)) {
            it.text = sansws::as_text(p->data);
        } else if (auto* p = std::get_if<sansws::pong>(&ev)) {
            it.text = sansws::as_text(p->data);
        } else if (auto* c = std::get_if<sansws::close_frame>(&ev)) {
            it.code = c->code;
            it.text = c->reason;
        } else if (auto* f = std::get_if<sansws::failure>(&ev)) {
            it.code = static_cast<int>(f->what);
        }
        out.events.push_back(std::move(it));
    };

    std::size_t pos = 0;
    auto keep = [&](const std::vector<std::byte>& sent) { out.output.insert(out.output.end(), sent.begin(), sent.end()); };
    do {
        const std::size_t n = split ? split->chunk(peer.size() - pos) : peer.size() - pos;
        check(h.receive(sansws::mutable_bytes(peer).subspan(pos, n)) == sansws::misuse::none);
        pos += n;
        h.drain(on_event);
        keep(h.flush());
    } while (pos < peer.size());
    if (flags & 8) {
        h.conn().receive_eof();
        h.drain(on_event);
    }
    keep(h.finish());
    out.state = h.conn().state();
    out.failure = h.conn().failure_reason();
    return out;
}

/// A streamed message cut short by a failure delivers as much as had been
/// validated, which depends on the split; complete items must match exactly.
std::vector<item> complete_items(const std::vector<item>& events, std::string& partial) {
    std::vector<item> out;
    for (const item& it : events) {
        if (it.complete) {
            out.push_back(it);
        } else {
            partial = it.text;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::reader in(fuzz::bytes(data, size));
    const std::uint8_t flags = in.u8();
    std::optional<fuzz::compression_setup> z;
    if (flags & 32) z = fuzz::read_compression(in);
    const sansws::bytes_view payload = in.rest();
    // Each run on its own kernel: kernels must not change the outcome either.
    const std::uint64_t seed = fuzz::hash(fuzz::bytes(data, size));
    fuzz::pick_kernel(seed);
    const outcome whole = run(flags, z ? &*z : nullptr, payload, nullptr);
    fuzz::pick_kernel(seed >> 32);
    fuzz::rng split(seed);
    const outcome chunked = run(flags, z ? &*z : nullptr, payload, &split);

    check(whole.state == chunked.state && whole.failure == chunked.failure);
    check(fuzz::same(whole.output, chunked.output));
    std::string partial_a, partial_b;
    check(complete_items(whole.events, partial_a) == complete_items(chunked.events, partial_b));
    const std::size_t common = std::min(partial_a.size(), partial_b.size());
    check(partial_a.compare(0, common, partial_b, 0, common) == 0);
    return 0;
}
