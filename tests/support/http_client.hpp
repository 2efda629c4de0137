#pragma once
// A bare HTTP/1.1 client over a loopback socket, for tests of vramguard's servers: a request sent as
// written, the response read until the server closes the connection (or the timeout passes).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace vramguard::testing {

inline int connect_to(std::uint16_t port, long timeout_seconds = 3) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  timeval timeout{timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// Sends `request` and reads until the server closes the connection (or the timeout passes).
inline std::string send_request(std::uint16_t port, const std::string& request, long timeout_seconds = 3) {
  const int fd = connect_to(port, timeout_seconds);
  if (fd < 0) return "(no connection)";
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return response;
}

inline std::string get(std::uint16_t port, const std::string& path) {
  return send_request(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

// A loopback port nothing listens on now (bound, read, released).
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace vramguard::testing
