#pragma once
// A small HTTP/1.1 server on Boost.Beast for monitor's page and endpoints: GET and HEAD only, one
// request per connection, bounded headers, a deadline on every read and write (a slow client is
// dropped, not waited for), a cap on connections at once (at the cap, a new client takes the slot of
// the oldest one still idle; when none is idle it is closed as it comes), and, unless remote clients
// are allowed, only requests whose Host names this server (421 otherwise: DNS rebinding). It runs on a
// thread of its own; the handler must be quick and must not block (monitor's copies the sampler's state).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace vramguard {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 0;             // 0: any free port (port() says which)
  bool allow_remote = false;          // else only loopback addresses may be bound
  int max_connections = 64;
  double io_timeout_seconds = 5;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& target)>;
  // Binds and listens; UsageError for an address that is not loopback (without allow_remote), or that
  // cannot be bound (naming the address and why).
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  std::string url() const;  // http://127.0.0.1:PORT/
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramguard
