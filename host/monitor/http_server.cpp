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
  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::atomic<int> connections{0};
  // Open connections, oldest first: touched only on the io thread, which runs every handler.
  std::list<std::weak_ptr<Connection>> open;
  std::thread thread;
  std::uint16_t port = 0;

  void accept();
  // At the cap: closes the oldest connection still waiting for its request, so that one idle client
  // per slot cannot lock out everyone else until their deadlines pass. False when none is idle.
  bool shed_oldest_idle();
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
    parser_->body_limit(0);
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
    if (ec) return respond(400, "text/plain; charset=utf-8", "bad request: " + ec.message() + "\n", false);
    const auto& request = parser_->get();
    if (!server_.options.allow_remote &&
        !server_.host_allowed(std::string_view(request[http::field::host].data(), request[http::field::host].size())))
      return respond(421, "text/plain; charset=utf-8",
                     "misdirected request: this server answers to localhost and its own address only\n", false);
    if (request.method() != http::verb::get && request.method() != http::verb::head)
      return respond(405, "text/plain; charset=utf-8", "only GET and HEAD\n", false);
    HttpResponse r;
    try {
      r = server_.handler(std::string(request.target()));
    } catch (const std::exception& e) {
      r = {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n"};
    }
    respond(r.status, r.content_type, std::move(r.body), request.method() == http::verb::head);
  }

  void respond(int status, const std::string& type, std::string body, bool head) {
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
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  bool waiting_ = false;  // for its request: an idle connection
};

asio::ip::address parse_address(const std::string& text) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(text == "localhost" ? "127.0.0.1" : text, ec);
  if (ec)
    throw UsageError("--serve address '" + text + "' is not an IP address",
                     "e.g. --serve 127.0.0.1:8088 or --serve [::1]:8088");
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

HttpServer::HttpServer(HttpServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  const auto address = parse_address(impl_->options.address);
  if (!address.is_loopback() && !impl_->options.allow_remote)
    throw UsageError(
        "--serve " + impl_->options.address + " is not a loopback address: the page would be open to the network",
        "serve on 127.0.0.1 or ::1, or pass --allow-remote to mean it");
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
      log::error("the monitor's web server stopped: ", e.what());
    }
  });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
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
