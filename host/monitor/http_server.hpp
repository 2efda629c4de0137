#pragma once
// A small HTTP/1.1 server on Boost.Beast for monitor's page and endpoints and serve's API: GET and HEAD
// (and POST with a body up to max_body_bytes, where that is set), one request per connection, bounded
// headers, a deadline on every read and write (a slow client is dropped, not waited for), a cap on
// connections at once (at the cap, a new client takes the slot of the oldest one still idle; when none
// is idle it is closed as it comes), and, unless remote clients are allowed, only requests whose Host
// names this server (421 otherwise: DNS rebinding). It runs on a thread of its own; a handler must not
// block it: a quick one answers at once (monitor's copies the sampler's state), a slow one answers later,
// from any thread, through the Respond it is given (serve's edits).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vramguard {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};  // more: Retry-After
};

struct HttpRequest {
  std::string method;  // GET, HEAD, POST
  std::string target;
  std::string content_type;
  std::string authorization;  // the Authorization header, as sent
  std::string body;
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 0;             // 0: any free port (port() says which)
  bool allow_remote = false;          // else only loopback addresses may be bound
  int max_connections = 64;
  double io_timeout_seconds = 5;
  // How long stop() waits for the answers already given to be written (and for those still awaited).
  double drain_seconds = 5;
  std::uint64_t max_body_bytes = 0;  // 0: GET and HEAD only; else POST too, with a body up to this (413 above)
  std::string name = "the monitor's web server";  // in messages
  std::string flag = "--serve";                   // the option that gave the address, in messages
  // What to do about an address that is not loopback, in the refusal.
  std::string remote_hint = "serve on 127.0.0.1 or ::1, or pass --allow-remote to mean it";
  // How the server's own refusals (400, 405, 413, 421) are shaped; plain text when unset.
  std::function<HttpResponse(int status, const std::string& message)> error_response = {};
};

// "127.0.0.1:8088", "[::1]:8088", "localhost:0" as given to `flag` (--serve, --listen): UsageError naming it.
HttpServerOptions listen_options(const std::string& text, bool allow_remote, const std::string& flag);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& target)>;
  // Answers the request once, now or later and from any thread. `closed` is set when the client hangs up
  // while its answer is awaited.
  using Respond = std::function<void(HttpResponse)>;
  using AsyncHandler =
      std::function<void(HttpRequest request, Respond respond, std::shared_ptr<const std::atomic<bool>> closed)>;
  // Binds and listens; UsageError for an address that is not loopback (without allow_remote), or that
  // cannot be bound (naming the address and why).
  HttpServer(HttpServerOptions options, Handler handler);
  HttpServer(HttpServerOptions options, AsyncHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  std::string url() const;  // http://127.0.0.1:PORT/
  // Takes no more requests, writes the answers given (up to drain_seconds), then stops the thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramguard
