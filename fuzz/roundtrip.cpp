// Round trip through both roles: messages described by the input are sent
// with random fragmentation (and pings between fragments) by one connection,
// carried in random chunks to a connection of the other role, and must come
// out as the same messages, in order; every ping comes back as its pong.
//
// With permessage-deflate (RFC 7692) the messages go through each side's
// compressor and must still arrive identical; both sides must agree on the
// parameters the two policies imply (§7.1), and each message must carry
// RSV1 exactly when the API says it is compressed (§6).
//
// Input: byte 0 chooses streaming delivery (1: on the server, 2: on the
// client) and 4: permessage-deflate, configured by eight more bytes: the
// client's four, then the server's (read_compression in
// engine_script.hpp; here z2 & 1 turns that side's compression off and
// no setting trips on ordinary data); then items, each a tag byte and its
// arguments:
//   tag & 0x80      direction: 0 client to server, 1 server to client
//   tag & 0x40      carry the bytes across now (otherwise they queue up)
//   tag & 0x20      an unfragmented binary message is sent as a moved vector
//   tag & 0x0C      compression of a text or binary message: automatic, on,
//                   off, or (unfragmented) a prepared_message
//   tag & 0x03      0 text (u8 code points, one byte each), 1 binary (u8
//                   bytes), 2 ping (u8 bytes, at most 125), 3 large binary
//                   (a size class u8 % 8 and u8 more bytes)
//   then, except for pings, a byte: % 4 extra fragments
#include "engine_script.hpp"

namespace {

using fuzz::check;
using sansws::connection;
using sansws::message_type;

struct record {
    enum class kind : std::uint8_t { message, ping, pong, close } what;
    message_type type = message_type::binary;
    std::vector<std::byte> data;
    bool operator==(const record& o) const { return what == o.what && type == o.type && fuzz::same(data, o.data); }
};

/// One code point per input byte, spread over all four UTF-8 lengths.
void append_code_point(std::string& s, std::uint8_t b) {
    std::uint32_t cp = b;
    switch (b >> 6) {
    case 0: break;
    case 1: cp = 0x80 + (b & 0x3Fu) * 29; break;
    case 2:
        cp = 0x800 + (b & 0x3Fu) * 1000;
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x1000;  // surrogates are not scalar values
        break;
    default: cp = 0x10000 + (b & 0x3Fu) * 16000; break;
    }
    // An encoder of its own, so a bug in the library's UTF-8 code cannot
    // cancel out on both sides.
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// One side: its harness, what it received (payloads copied out at once),
/// and how much of its output the other side has been given.
struct side {
    fuzz::harness h;
    std::vector<record> got;
    std::vector<record> pongs;
    std::vector<std::byte> assembling;
    bool open = false;

    explicit side(sansws::config cfg) : h(std::move(cfg)) {}

    void on_event(const sansws::event& ev) {
        if (std::holds_alternative<sansws::handshake_request>(ev)) {
            sansws::accept_options a;
            a.subprotocol = "chat";
            check(h.call([&](connection& c) { return c.accept(a); }) == sansws::misuse::none);
            open = true;
        } else if (auto* r = std::get_if<sansws::handshake_response>(&ev)) {
            check(r->subprotocol == "chat");
            open = true;
        } else if (auto* m = std::get_if<sansws::message>(&ev)) {
            assembling.insert(assembling.end(), m->data.begin(), m->data.end());
            if (m->last) {
                got.push_back({record::kind::message, m->type, std::move(assembling)});
                assembling.clear();
            }
        } else if (auto* p = std::get_if<sansws::ping>(&ev)) {
            got.push_back({record::kind::ping, message_type::binary, fuzz::copy(p->data)});
        } else if (auto* p = std::get_if<sansws::pong>(&ev)) {
            pongs.push_back({record::kind::pong, message_type::binary, fuzz::copy(p->data)});
        } else if (auto* c = std::get_if<sansws::close_frame>(&ev)) {
            std::vector<std::byte> body = fuzz::copy(sansws::as_bytes(c->reason));
            body.insert(body.begin(), {std::byte(c->code >> 8), std::byte(c->code & 0xFF)});
            got.push_back({record::kind::close, message_type::binary, std::move(body)});
        } else {
            // Neither side ever breaks the protocol here.
            check(!std::holds_alternative<sansws::failure>(ev) && !std::holds_alternative<sansws::handshake_rejected>(ev));
        }
    }
};

/// Give `to` everything `from` has written, in random chunks.
void carry(side& from, side& to, fuzz::rng& split) {
    // receive() unmasks in place, and each chunk must stay put until its
    // events are drained: the flushed buffer is used once, front to back.
    std::vector<std::byte> sent = from.h.flush();
    std::size_t pos = 0;
    // Kernels may change at any moment (force_kernel): mid-message too.
    fuzz::pick_kernel(split.next());
    while (pos < sent.size()) {
        const std::size_t n = split.chunk(sent.size() - pos);
        check(to.h.receive(sansws::mutable_bytes(sent).subspan(pos, n)) == sansws::misuse::none);
        pos += n;
        to.h.drain([&](const sansws::event& ev) { to.on_event(ev); });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::reader in(fuzz::bytes(data, size));
    fuzz::rng split(fuzz::hash(fuzz::bytes(data, size)));
    const std::uint8_t modes = in.u8();
    const bool deflate = (modes & 4) != 0;
    fuzz::compression_setup zc, zs;
    if (deflate) {
        zc = fuzz::read_compression(in, true);
        zs = fuzz::read_compression(in, true);
        if (zc.peer & 1) zc.cfg.negotiate.enabled = false;
        if (zs.peer & 1) zs.cfg.negotiate.enabled = false;
    }

    sansws::config server_cfg;
    server_cfg.role = sansws::role::server;
    if (modes & 1) server_cfg.delivery = sansws::delivery_mode::streaming;
    sansws::config client_cfg;
    client_cfg.role = sansws::role::client;
    if (modes & 2) client_cfg.delivery = sansws::delivery_mode::streaming;
    client_cfg.entropy = fuzz::fixed_entropy(fuzz::hash(fuzz::bytes(data, size)));
    client_cfg.client.host = "server.example.com";
    client_cfg.client.subprotocols = {"chat"};
    std::unique_ptr<sansws::deflater> client_shared, server_shared;  // outlive the connections
    if (deflate) {
        zc.apply(client_cfg, client_shared);
        zs.apply(server_cfg, server_shared);
    }
    side server(std::move(server_cfg));
    side client(std::move(client_cfg));

    carry(client, server, split);
    carry(server, client, split);
    check(server.open && client.open);

    // RFC 7692 §7.1: the server takes the client's offer within its own
    // policy, choosing the largest windows both allow (extensions.hpp) and
    // every no_context_takeover either side asks for; both then work with
    // the same parameters.
    std::optional<sansws::deflate_params> agreed;
    if (zc.cfg.negotiate.enabled && zs.cfg.negotiate.enabled) {
        const auto& a = zc.cfg.negotiate;
        const auto& b = zs.cfg.negotiate;
        agreed.emplace();
        agreed->server_no_context_takeover = a.server_no_context_takeover || b.server_no_context_takeover;
        agreed->client_no_context_takeover = a.client_no_context_takeover || b.client_no_context_takeover;
        agreed->server_max_window_bits = std::min(a.server_max_window_bits, b.server_max_window_bits);
        agreed->client_max_window_bits = std::min(a.client_max_window_bits, b.client_max_window_bits);
    }
    check(fuzz::same_params(server.h.conn().compression_params(), agreed));
    check(fuzz::same_params(client.h.conn().compression_params(), agreed));
    // RSV1 per data message, in the order each side sent them.
    std::vector<bool> rsv_to_server, rsv_to_client;

    std::vector<record> to_server, to_client, client_pongs, server_pongs;
    // Tiny inflated pieces make an event per few bytes: far less bulk then,
    // for every kind of message.
    const bool tiny_pieces = deflate && (((modes & 1) && zs.cfg.stream_chunk < 100) ||
                                         ((modes & 2) && zc.cfg.stream_chunk < 100));
    std::size_t large_budget = tiny_pieces ? 4'000 : 200'000;
    std::size_t bulk_budget = tiny_pieces ? 8'000 : std::numeric_limits<std::size_t>::max();
    while (!in.empty()) {
        const std::uint8_t tag = in.u8();
        const bool from_client = (tag & 0x80) == 0;
        side& from = from_client ? client : server;
        auto& expect = from_client ? to_server : to_client;
        auto& expect_pongs = from_client ? client_pongs : server_pongs;
        auto& expect_rsv = from_client ? rsv_to_server : rsv_to_client;
        const fuzz::compression_setup& z = from_client ? zc : zs;
        // The sender's window (§7.1.2); zlib cannot compress with 8 bits.
        const int window = !agreed ? 0
                           : from_client ? agreed->client_max_window_bits
                                         : agreed->server_max_window_bits;
        const bool can_compress = window >= 9;
        static constexpr sansws::compression modes_of[] = {
            sansws::compression::automatic, sansws::compression::on, sansws::compression::off,
            sansws::compression::automatic};
        const sansws::compression mode = modes_of[(tag >> 2) & 3];
        auto ping = [&](sansws::bytes_view payload) {
            check(from.h.send([&](connection& c) { return c.ping(payload); }) == sansws::misuse::none);
            expect.push_back({record::kind::ping, message_type::binary, fuzz::copy(payload)});
            expect_pongs.push_back({record::kind::pong, message_type::binary, fuzz::copy(payload)});
        };

        std::vector<std::byte> payload;
        message_type type = message_type::binary;
        switch (tag & 3) {
        case 0: {
            std::string text;
            for (auto b : in.take(in.u8())) append_code_point(text, std::to_integer<std::uint8_t>(b));
            payload = fuzz::copy(text);
            type = message_type::text;
            break;
        }
        case 1: payload = fuzz::copy(in.take(in.u8())); break;
        case 2: ping(in.take(in.u8() % 126)); break;
        default: {
            // Near every edge of the length encodings (125/126, 65535/65536)
            // and the server's zero-copy send path (4 KiB), without making
            // every run carry 100 KiB.
            static constexpr std::size_t bases[] = {0, 100, 3900, 4000, 65280, 65400, 65500, 65536};
            std::size_t n = bases[in.u8() % 8] + in.u8();
            // Bulk costs time, not coverage: past a budget, large turns small.
            if (large_budget < n) n %= 256;
            large_budget -= n;
            // Copied from a table made once: a fill loop per run would be
            // coverage-instrumented and dominate the run time.
            static const std::vector<std::byte> filler = [] {
                std::vector<std::byte> v(65536 + 255 + 256);
                for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::byte(i * 7 + 3);
                return v;
            }();
            const std::size_t offset = tag;
            payload.assign(filler.begin() + static_cast<std::ptrdiff_t>(offset),
                           filler.begin() + static_cast<std::ptrdiff_t>(offset + n));
            break;
        }
        }
        if ((tag & 3) != 2) {
            if (payload.size() > bulk_budget) {
                // Cut on a code point boundary: the text stays UTF-8.
                std::size_t keep = bulk_budget;
                while (keep > 0 && (std::to_integer<unsigned>(payload[keep]) & 0xC0) == 0x80) --keep;
                payload.resize(keep);
            }
            bulk_budget -= payload.size();
            const std::size_t extra = in.u8() % 4;
            if (extra == 0 && type == message_type::binary && !payload.empty() && (tag & 0x20)) {
                std::vector<std::byte> moved = payload;
                check(from.h.send([&](connection& c) { return c.send_binary(std::move(moved)); }) ==
                      sansws::misuse::none);
                expect_rsv.push_back(can_compress && payload.size() >= z.cfg.threshold);
            } else if (extra == 0 && ((tag >> 2) & 3) == 3) {
                // Compressed once from an empty window, for any peer whose
                // window is at least as large (connection.hpp).
                const sansws::deflate_settings settings{9 + static_cast<int>(split.below(7)), z.cfg.mem_level,
                                                        z.cfg.level};
                const sansws::prepared_message m(type, payload, settings, z.cfg.threshold);
                check(m.valid());
                check(from.h.send([&](connection& c) { return c.send(m); }) == sansws::misuse::none);
                expect_rsv.push_back(m.compressed() && window >= settings.window_bits);
            } else {
                // Cut points anywhere, even inside a code point: fragments of
                // text need not be valid UTF-8 on their own (§5.6).
                std::vector<std::size_t> cuts{0, payload.size()};
                for (std::size_t i = 0; i < extra; ++i) cuts.push_back(split.below(payload.size() + 1));
                std::sort(cuts.begin(), cuts.end());
                // automatic compresses fragmented messages and whole ones
                // from the threshold on; the first fragment's choice holds
                // for the whole message (connection.hpp), whatever the
                // later fragments ask.
                expect_rsv.push_back(can_compress && mode != sansws::compression::off &&
                                     (mode == sansws::compression::on || extra != 0 ||
                                      payload.size() >= z.cfg.threshold));
                for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
                    const sansws::bytes_view frag(payload.data() + cuts[i], cuts[i + 1] - cuts[i]);
                    const bool fin = i + 2 == cuts.size();
                    const sansws::compression c_now = i == 0 || !deflate ? mode : modes_of[split.below(3)];
                    const auto m = from.h.send([&](connection& c) {
                        return type == message_type::text ? c.send_text(sansws::as_text(frag), fin, c_now)
                                                          : c.send_binary(frag, fin, c_now);
                    });
                    check(m == sansws::misuse::none);
                    // §5.4: control frames may come between fragments.
                    if (!fin && split.below(4) == 0) ping(sansws::as_bytes("mid-message"));
                }
            }
            expect.push_back({record::kind::message, type, std::move(payload)});
        }
        if (tag & 0x40) {
            carry(client, server, split);
            carry(server, client, split);
        }
    }

    // Everything in flight arrives and pongs answer pings both ways, before
    // the close: once it has sent Close, a side answers no more pings.
    for (int round = 0; round < 2; ++round) {
        carry(client, server, split);
        carry(server, client, split);
    }
    // The client closes (§7.1.2); the server echoes the code (§5.5.1).
    check(client.h.send([](connection& c) { return c.close(1000, "bye"); }) == sansws::misuse::none);
    to_server.push_back({record::kind::close, message_type::binary, fuzz::copy(std::string_view("\x03\xE8" "bye"))});
    to_client.push_back({record::kind::close, message_type::binary, fuzz::copy(std::string_view("\x03\xE8"))});
    carry(client, server, split);
    carry(server, client, split);
    check(client.h.conn().buffered() == 0 && server.h.conn().buffered() == 0);
    check(server.got == to_server && client.got == to_client);
    check(client.pongs == client_pongs && server.pongs == server_pongs);
    check(client.h.output().compressed_log() == rsv_to_server && server.h.output().compressed_log() == rsv_to_client);

    check(server.h.conn().state() == sansws::connection_state::closed && server.h.conn().should_close_transport());
    check(client.h.conn().state() == sansws::connection_state::closed);
    // §7.1.1: the client waits for the server to close TCP.
    check(!client.h.conn().should_close_transport());
    client.h.conn().receive_eof();
    client.h.drain();
    check(client.h.conn().should_close_transport());
    client.h.finish();
    server.h.finish();
    return 0;
}
