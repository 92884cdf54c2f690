// Differential: the incremental DFA validator, fed in random chunks, against
// a reference written from a different angle. The reference tracks the range
// of code points an unfinished sequence could still become and fails when
// that range holds no scalar value of the sequence's length (RFC 3629 §3-4),
// so it never spells out the byte ranges of the DFA's table.
#include <optional>

#include "fuzz.hpp"
#include "sansws/detail/utf8.hpp"

namespace {

struct verdict {
    bool complete = true;                  // no sequence left unfinished
    std::optional<std::size_t> error_at;   // first byte no valid text can contain
};

/// Could a sequence of `len` bytes whose first bytes fixed the code point to
/// [lo, hi] still encode a Unicode scalar value in its own length's range?
bool reachable(std::uint32_t lo, std::uint32_t hi, std::size_t len) {
    static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    static constexpr std::uint32_t most[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    lo = std::max(lo, least[len]);
    hi = std::min(hi, most[len]);
    if (lo > hi) return false;
    // Surrogates D800-DFFF are not scalar values: some value must lie outside.
    return lo < 0xD800 || hi > 0xDFFF;
}

verdict reference(sansws::bytes_view s) {
    verdict v;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = std::to_integer<std::uint32_t>(s[i]);
        std::size_t len = 0;
        std::uint32_t value = 0;
        if (b < 0x80) {
            len = 1;
            value = b;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2;
            value = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            value = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            value = b & 0x07;
        } else {
            return verdict{false, i};  // a continuation byte or F8-FF cannot start
        }
        for (std::size_t k = 1;; ++k) {
            // k bytes known: the remaining len-k bytes add 6 free bits each.
            const unsigned free_bits = static_cast<unsigned>(6 * (len - k));
            const std::uint32_t lo = value << free_bits;
            const std::uint32_t hi = lo | ((1u << free_bits) - 1);
            if (!reachable(lo, hi, len)) return verdict{false, i + k - 1};
            if (k == len) break;
            if (i + k == s.size()) return verdict{false, std::nullopt};
            const auto c = std::to_integer<std::uint32_t>(s[i + k]);
            if ((c & 0xC0) != 0x80) return verdict{false, i + k};
            value = (value << 6) | (c & 0x3F);
        }
        i += len;
    }
    return v;
}

/// Feed `text` in random chunks (switching kernels before each chunk when
/// `switching`) and compare every answer with the reference.
void check_chunked(sansws::bytes_view text, const verdict& want, std::uint64_t seed, bool switching) {
    using fuzz::check;
    const bool valid = want.complete && !want.error_at;
    // Any split, including splits inside the kernels' word and vector steps
    // and inside multi-byte sequences.
    fuzz::rng split(seed);
    sansws::utf8_validator v;
    std::size_t pos = 0;
    bool ok = true;
    while (pos < text.size()) {
        if (switching) fuzz::pick_kernel(split.next());
        const std::size_t n = split.chunk(text.size() - pos);
        const bool fed = v.feed(text.subspan(pos, n));
        // feed() fails exactly on the piece holding the first bad byte.
        const bool bad_here = want.error_at && *want.error_at < pos + n;
        check(fed == (ok && !bad_here));
        ok = ok && fed;
        pos += n;
    }
    check(v.failed() == !ok);
    check(v.failed() == want.error_at.has_value());
    if (want.error_at) check(v.error_offset() == *want.error_at);
    check(v.complete() == valid);

    // Stays failed, and the offset does not move.
    if (v.failed()) {
        const std::uint64_t at = v.error_offset();
        check(!v.feed(sansws::as_bytes("a")) && v.failed() && v.error_offset() == at);
    }
    // reset() forgets everything.
    v.reset();
    check(v.complete() && !v.failed() && v.feed(sansws::as_bytes("ok")) && v.complete());
}

/// The whole text in one piece, at an odd address: vector and word steps
/// must not depend on alignment.
void check_whole(sansws::bytes_view text, const verdict& want) {
    using fuzz::check;
    const bool valid = want.complete && !want.error_at;
    std::vector<std::byte> shifted(text.size() + 1);
    std::copy(text.begin(), text.end(), shifted.begin() + 1);
    sansws::utf8_validator w;
    const bool whole = w.feed(sansws::bytes_view(shifted).subspan(1));
    check(whole == !want.error_at.has_value() && w.complete() == valid);
    if (want.error_at) check(w.error_offset() == *want.error_at);
    check(sansws::is_valid_utf8(text) == valid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const sansws::bytes_view text = fuzz::bytes(data, size);
    const verdict want = reference(text);
    const std::uint64_t seed = fuzz::hash(text);
    // Every UTF-8 kernel this CPU runs, each on its own (kernels.hpp)...
    for (const sansws::kernel k : sansws::available_kernels()) {
        if (!sansws::has_utf8_kernel(k)) continue;
        fuzz::check(sansws::force_kernel(k));
        check_chunked(text, want, seed, false);
        check_whole(text, want);
    }
    // ... and all of them taking turns within one text: the validator's
    // state carried between pieces means the same to every kernel.
    check_chunked(text, want, seed, true);
    return 0;
}
