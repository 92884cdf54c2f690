// chat_server: a chat page over plain HTTP at / and a WebSocket at /ws on the
// same port; every message a client sends goes to every connected client.
// `./dev demo` runs it on 127.0.0.1:8080.
#include <cstdio>
#include <map>
#include <string>

#include "cli.hpp"

namespace {

constexpr std::string_view usage =
    "chat_server --port P [--host H] [--no-deflate | --deflate-...] [--io epoll|io_uring]\n"
    "  --port P                     port to listen on; 0 picks a free one (printed)\n"
    "  --host H                     address or name to bind (default 127.0.0.1)\n"
    CLI_DEFLATE_USAGE "\n"
    CLI_IO_USAGE;

// Self-contained: no external script or style. The ids (#messages, #input,
// #send, #status) and body[data-state] are what browser tests read.
constexpr std::string_view page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sansws chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; }
  #messages { list-style: none; padding: 0; margin: 0; border: 1px solid #ccc; height: 20em; overflow-y: auto; }
  #messages li { padding: .3em .6em; border-bottom: 1px solid #eee; white-space: pre-wrap; word-break: break-word; }
  form { display: flex; gap: .5em; margin-top: .5em; }
  #input { flex: 1; padding: .4em; }
  #status { color: #666; }
</style>
</head>
<body data-state="connecting">
<h1>sansws chat</h1>
<p id="status">connecting&hellip;</p>
<ul id="messages"></ul>
<form id="form">
  <input id="input" autocomplete="off" placeholder="Say something" disabled>
  <button id="send" type="submit" disabled>Send</button>
</form>
<script>
  const list = document.getElementById('messages');
  const input = document.getElementById('input');
  const button = document.getElementById('send');
  const status = document.getElementById('status');
  const ws = new WebSocket('ws://' + location.host + '/ws');
  function setState(state, text) {
    document.body.dataset.state = state;
    status.textContent = text;
    input.disabled = button.disabled = state !== 'open';
  }
  ws.onopen = () => { setState('open', 'connected'); input.focus(); };
  ws.onmessage = (e) => {
    const li = document.createElement('li');
    li.textContent = e.data;
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  };
  ws.onclose = (e) => setState('closed', 'disconnected (' + e.code + (e.reason ? ': ' + e.reason : '') + ')');
  document.getElementById('form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value && ws.readyState === WebSocket.OPEN) {
      ws.send(input.value);
      input.value = '';
    }
  });
</script>
</body>
</html>
)html";

// A client whose queued output passes this is not keeping up with the room:
// it is dropped (close_on_backpressure_limit: the backlog is discarded and
// the socket reset) rather than allowed to grow without bound. A Close would
// only queue behind the backlog it does not read.
constexpr std::size_t slow_client_limit = 4 * 1024 * 1024;

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

int main(int argc, char** argv) {
    cli::args a(argc, argv, usage);
    sansws::server_options opts;
    cli::io_kind io = cli::io_kind::epoll;
    opts.accept.engine.compression.negotiate.enabled = true;
    bool have_port = false;
    while (a.next()) {
        if (a.is("--port")) {
            opts.port = static_cast<std::uint16_t>(a.number(0, 65535));
            have_port = true;
        } else if (a.is("--host")) {
            opts.host = a.value();
            if (opts.host.empty()) a.fail("--host needs an address");
        } else if (cli::deflate_flag(a, opts.accept.engine.compression.negotiate)) {
        } else if (cli::io_flag(a, io)) {
        } else {
            a.unknown();
        }
    }
    if (!have_port) a.fail("--port is required (0 picks a free port)");
    opts.accept.engine.max_message_size = 64 * 1024;
    // One loop: the room below is then touched by one thread only.
    opts.threads = 1;
    opts.accept.max_backpressure = slow_client_limit;
    opts.accept.close_on_backpressure_limit = true;

    std::map<std::uint64_t, sansws::connection_handle> room;
    sansws::handlers h;
    h.on_http = [](const sansws::http_head& req) -> sansws::http_response {
        if (req.method != "GET" && req.method != "HEAD") return {405, {{"Allow", "GET"}}, "method not allowed\n"};
        const std::string_view path = path_of(req.target);
        if (path == "/" || path == "/index.html")
            return {200, {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-store"}}, std::string(page)};
        return {404, {}, "not found\n"};
    };
    h.on_request = [](const sansws::connection_handle&, const sansws::handshake_request& req) {
        if (path_of(req.target) != "/ws") return sansws::request_decision::reject(404, "the chat socket is at /ws\n");
        return sansws::request_decision{};
    };
    h.on_open = [&room](const sansws::connection_handle& c) { room.emplace(c.id(), c); };
    h.on_message = [&room](const sansws::connection_handle&, const sansws::message& m) {
        // Copied first: a message view may not survive sends on the connection.
        const std::string text(m.text());
        // A client over slow_client_limit is aborted by the send itself and
        // goes after this handler (on_disconnect then leaves the room), so
        // the loop over the room is not disturbed.
        for (const auto& [id, c] : room) {
            if (m.type == sansws::message_type::text) c.send_text(text);
            else c.send_binary(sansws::as_bytes(text));
        }
    };
    h.on_disconnect = [&room](const sansws::connection_handle& c) { room.erase(c.id()); };

    return cli::serve(io, "chat_server", opts, std::move(h), [&](std::uint16_t port) {
        cli::print_listening(opts.host, port);
        const bool v6 = opts.host.find(':') != std::string::npos;
        std::printf("open http://%s%s%s:%u/ in a browser\n", v6 ? "[" : "", opts.host.c_str(), v6 ? "]" : "",
                    unsigned{port});
        std::fflush(stdout);
    });
}
