// The public API: #include <sansws/sansws.hpp>. The connection, its
// config, events, errors and types, and the low-level frame, handshake,
// extension and DEFLATE codecs, plus kernel selection. Headers under
// sansws/detail/ are not part of it (some are included for the layout of
// objects the API holds by value).
#pragma once

#include "sansws/connection.hpp"
#include "sansws/deflate.hpp"
#include "sansws/errors.hpp"
#include "sansws/events.hpp"
#include "sansws/extensions.hpp"
#include "sansws/frame.hpp"
#include "sansws/handshake.hpp"
#include "sansws/kernels.hpp"
#include "sansws/types.hpp"
