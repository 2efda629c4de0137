#include "monitor/http_server.hpp"

#include <fcntl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <list>
#include <string_view>

#include "core/errors.hpp"
#include "logging/log.hpp"

namespace vramguard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
class Connection;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  AsyncHandler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::atomic<int> connections{0};
  std::atomic<bool> serving{true};  // false once the io thread has left its loop (stopped, or on an error)
  // Open connections, oldest first: touched only on the io thread, which runs every handler.
  std::list<std::weak_ptr<Connection>> open;
  std::thread thread;
  std::uint16_t port = 0;

  void accept();
  // At the cap: closes the oldest connection still waiting for its request, so that one idle client
  // per slot cannot lock out everyone else until their deadlines pass. False when none is idle.
  bool shed_oldest_idle();
  // The start of stop(): no new connection, and those still waiting for their request closed; those
  // with an answer in flight or awaited are left to finish.
  void stop_taking_requests();
  // Unless remote clients are allowed, a request must name this server (localhost, the loopback
  // addresses, the bound address, with its port): a page of another site that rebinds its DNS name to
  // 127.0.0.1 sends its own name, and is refused.
  bool host_allowed(std::string_view host) const;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {
    ++server_.connections;
  }
  ~Connection() { --server_.connections; }

  void start() {
    server_.open.push_back(weak_from_this());
    waiting_ = true;
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(server_.options.max_body_bytes);
    stream_.expires_after(deadline());
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  std::chrono::steady_clock::duration deadline() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(server_.options.io_timeout_seconds));
  }

  bool idle() const { return waiting_; }
  void shed() { close(); }

 private:
  void on_read(beast::error_code ec) {
    waiting_ = false;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted)
      return close();
    if (ec == http::error::body_limit)
      return respond(error(413, "the request's body is larger than this server takes (" +
                                    std::to_string(server_.options.max_body_bytes) + " bytes)"),
                     false);
    if (ec) return respond(error(400, "bad request: " + ec.message()), false);
    auto& request = parser_->get();
    if (!server_.options.allow_remote &&
        !server_.host_allowed(std::string_view(request[http::field::host].data(), request[http::field::host].size())))
      return respond(error(421, "misdirected request: this server answers to localhost and its own address only"),
                     false);
    const bool post = request.method() == http::verb::post && server_.options.max_body_bytes > 0;
    if (request.method() != http::verb::get && request.method() != http::verb::head && !post)
      return respond(error(405, server_.options.max_body_bytes ? "only GET, HEAD and POST" : "only GET and HEAD"),
                     false);
    head_ = request.method() == http::verb::head;
    HttpRequest r{std::string(request.method_string()), std::string(request.target()),
                  std::string(request[http::field::content_type]), std::string(request[http::field::authorization]),
                  std::move(request.body())};
    // The answer may take long (an edit): no deadline while it is made, and a hang-up is noticed.
    stream_.expires_never();
    watch_for_hang_up();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    HttpServer::Respond answer = [self = shared_from_this(), answered](HttpResponse response) {
      if (answered->exchange(true)) return;  // once
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->respond(std::move(response), self->head_); });
    };
    try {
      server_.handler(std::move(r), answer, closed_);
    } catch (const std::exception& e) {
      answer(error(500, std::string("internal error: ") + e.what()));
    }
  }

  HttpResponse error(int status, const std::string& message) const {
    return server_.options.error_response ? server_.options.error_response(status, message)
                                          : HttpResponse{status, "text/plain; charset=utf-8", message + "\n"};
  }

  // The client sends nothing more after its request; a read that ends means it hung up.
  void watch_for_hang_up() {
    stream_.async_read_some(asio::buffer(hang_up_probe_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) self->closed_->store(true);
                            });
  }

  void respond(HttpResponse r, bool head) {
    const int status = r.status;
    const std::string type = r.content_type;
    std::string body = std::move(r.body);
    for (const auto& [name, value] : r.headers) response_.set(name, value);
    response_.result(static_cast<unsigned>(status));
    response_.version(11);
    response_.set(http::field::server, "vramguard");
    response_.set(http::field::content_type, type);
    response_.set(http::field::cache_control, "no-store");
    response_.set(http::field::connection, "close");
    response_.set("X-Content-Type-Options", "nosniff");
    response_.body() = head ? std::string() : std::move(body);
    response_.prepare_payload();
    response_.keep_alive(false);
    stream_.expires_after(deadline());
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_{8 * 1024};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool waiting_ = false;  // for its request: an idle connection
  bool head_ = false;
  std::shared_ptr<std::atomic<bool>> closed_ = std::make_shared<std::atomic<bool>>(false);
  char hang_up_probe_[1];
};

asio::ip::address parse_address(const std::string& text, const std::string& flag) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(text == "localhost" ? "127.0.0.1" : text, ec);
  if (ec)
    throw UsageError(flag + " address '" + text + "' is not an IP address",
                     "e.g. " + flag + " 127.0.0.1:8088 or " + flag + " [::1]:8088");
  return address;
}

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (connections.load() >= options.max_connections && !shed_oldest_idle()) {
        beast::error_code ignored;
        socket.close(ignored);  // too many at once, all busy: refused as it comes, nothing waits for it
      } else {
        ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
        std::make_shared<Connection>(std::move(socket), *this)->start();
      }
    }
    accept();
  });
}

bool HttpServer::Impl::shed_oldest_idle() {
  for (auto it = open.begin(); it != open.end();) {
    const auto connection = it->lock();
    if (!connection) {
      it = open.erase(it);
      continue;
    }
    if (connection->idle()) {
      open.erase(it);
      connection->shed();
      return true;
    }
    ++it;
  }
  return false;
}

void HttpServer::Impl::stop_taking_requests() {
  beast::error_code ignored;
  acceptor.close(ignored);
  for (const auto& weak : open)
    if (const auto connection = weak.lock(); connection && connection->idle()) connection->shed();
  open.clear();
}

bool HttpServer::Impl::host_allowed(std::string_view host) const {
  std::string name(host), port_text;
  if (!name.empty() && name.front() == '[') {  // [IPv6]:port
    const auto end = name.find(']');
    if (end == std::string::npos) return false;
    port_text = name.substr(end + 1);
    name = name.substr(1, end - 1);
    if (!port_text.empty() && port_text.front() != ':') return false;
    if (!port_text.empty()) port_text.erase(0, 1);
  } else if (std::count(name.begin(), name.end(), ':') == 1) {
    port_text = name.substr(name.find(':') + 1);
    name.erase(name.find(':'));
  }
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!port_text.empty() && port_text != std::to_string(port)) return false;
  return name == "localhost" || name == "127.0.0.1" || name == "::1" || name == options.address;
}

HttpServerOptions listen_options(const std::string& text, bool allow_remote, const std::string& flag) {
  const std::string example = "e.g. " + flag + " 127.0.0.1:8088, " + flag + " [::1]:8088, or port 0 for any free one";
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError(flag + " '" + text + "' is not ADDRESS:PORT", example);
  std::string address = text.substr(0, colon);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    throw UsageError(flag + " '" + text + "': the port must be a number from 0 to 65535", example);
  HttpServerOptions options;
  options.address = address;
  options.port = static_cast<std::uint16_t>(std::stoul(port));
  options.allow_remote = allow_remote;
  options.flag = flag;
  return options;
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : HttpServer(std::move(options), [handler = std::move(handler)](HttpRequest request, Respond respond,
                                                                    std::shared_ptr<const std::atomic<bool>>) {
        respond(handler(request.target));
      }) {}

HttpServer::HttpServer(HttpServerOptions options, AsyncHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  const auto address = parse_address(impl_->options.address, impl_->options.flag);
  if (!address.is_loopback() && !impl_->options.allow_remote)
    throw UsageError(impl_->options.flag + " " + impl_->options.address +
                         " is not a loopback address: it would be open to the network",
                     impl_->options.remote_hint);
  const tcp::endpoint endpoint(address, impl_->options.port);
  beast::error_code ec;
  impl_->acceptor.open(endpoint.protocol(), ec);
  // Closed on exec: a program started meanwhile (an --on-alert command) must not hold the port.
  if (!ec) ::fcntl(impl_->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw UsageError(
        "cannot serve on " + impl_->options.address + ":" + std::to_string(impl_->options.port) + ": " + ec.message(),
        "choose another port (0 picks a free one)");
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    try {
      impl->io.run();
    } catch (const std::exception& e) {
      log::error(impl->options.name, " stopped: ", e.what());
    }
    impl->serving = false;
  });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  // Answers already given are written before the thread stops (serve answers its last edit just before
  // stopping: a rolling update must not lose it), for up to drain_seconds; what is left then is dropped.
  asio::post(impl_->io, [impl = impl_.get()] { impl->stop_taking_requests(); });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(impl_->options.drain_seconds));
  while (impl_->serving.load() && impl_->connections.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::url() const {
  const std::string host = impl_->options.address == "localhost" ? "127.0.0.1" : impl_->options.address;
  return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(impl_->port) + "/";
}

}  // namespace vramguard
