// Everything: #include <sansws/sansws.hpp>.
#pragma once

#include "sansws/connection.hpp"
#include "sansws/crypto.hpp"
#include "sansws/deflate.hpp"
#include "sansws/errors.hpp"
#include "sansws/events.hpp"
#include "sansws/extensions.hpp"
#include "sansws/frame.hpp"
#include "sansws/handshake.hpp"
#include "sansws/output_queue.hpp"
#include "sansws/types.hpp"
#include "sansws/utf8.hpp"
