// permessage-deflate in the connection (RFC 7692): negotiation in the
// opening handshake, then each direction handed to its layer (inflating in
// message_reader.cpp, compressing in message_writer.cpp). The transform
// itself is deflate.cpp; the header grammar is extensions.cpp.
#include <algorithm>
#include <cstdint>

#include "sansws/connection.hpp"

namespace sansws {
namespace {

bool valid_window(std::uint8_t bits) noexcept { return bits >= 8 && bits <= 15; }

}  // namespace

bool connection::check_compression_config() const noexcept {
    const compression_config& c = cfg_.compression;
    if (!c.negotiate.enabled) return true;
    return valid_window(c.negotiate.server_max_window_bits) && valid_window(c.negotiate.client_max_window_bits) &&
           c.mem_level >= 1 && c.mem_level <= 9 && c.level >= -1 && c.level <= 9 && c.stream_chunk > 0;
}

void connection::negotiate_compression(accept_options& opts) {
    auto agreed = negotiate_deflate(extension_offers_, cfg_.compression.negotiate);
    if (!agreed) return;
    opts.extensions.push_back(std::move(agreed->response));
    enable_compression(agreed->params);
}

bool connection::check_compression_answer(const http_head& head, std::string& reason) {
    const auto value = header_value(head.headers, "Sec-WebSocket-Extensions");
    if (!value) return true;  // declined: no compression (RFC 7692 §5)
    std::string error;
    auto elements = parse_extensions(*value, &error);
    if (!elements) {
        reason = "malformed Sec-WebSocket-Extensions: " + error;
        return false;
    }
    // check_server_response() has already refused names we did not offer;
    // we offered one permessage-deflate element, so one may come back.
    std::optional<deflate_params> agreed;
    for (const extension_offer& e : *elements) {
        if (!iequals(e.name, "permessage-deflate")) continue;
        if (agreed) {
            reason = "permessage-deflate answered twice (RFC 7692 §5)";
            return false;
        }
        agreed = check_deflate_answer(e, cfg_.compression.negotiate, reason);
        if (!agreed) return false;
    }
    if (agreed) enable_compression(*agreed);
    return true;
}

void connection::enable_compression(const deflate_params& p) {
    deflate_ = p;
    const deflate_params::direction receive = p.receiving(cfg_.role), send = p.sending(cfg_.role);
    // A window agreed at 8 bits is inflated with 9: zlib-based peers asked
    // for 8 compress with 9 (zlib's own deflate never uses 256 bytes), and
    // the extra 256 bytes cost nothing a conforming peer could notice.
    reader_.enable_compression(std::max(receive.window_bits, min_compress_window_bits), receive.no_context_takeover);
    writer_.enable_compression(send.window_bits, send.no_context_takeover);
}

}  // namespace sansws
