#include "h2c_message.h"

#include <array>
#include <cctype>

#include "head_parser.h"

namespace ringlb::proxy {

namespace {

std::string lowerCase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool connectionSpecific(std::string_view name, std::string_view value) noexcept {
  constexpr std::array<std::string_view, 5> kDropped = {"connection", "keep-alive", "proxy-connection",
                                                        "transfer-encoding", "upgrade"};
  for (const auto dropped : kDropped) {
    if (name == dropped) return true;
  }
  return name == "te" && !equalsIgnoreCase(value, "trailers");
}

}  // namespace

HttpError toH2cRequest(std::string_view head, std::string_view scheme, H2cRequestFields& out) {
  out.fields.clear();
  const auto lineEnd = head.find("\r\n");
  if (lineEnd == std::string_view::npos) return {502, "request head without a request line"};
  const std::string_view requestLine = head.substr(0, lineEnd);
  const auto methodEnd = requestLine.find(' ');
  const auto targetEnd = requestLine.rfind(' ');
  if (methodEnd == std::string_view::npos || targetEnd <= methodEnd) return {502, "malformed request line"};
  std::string_view target = requestLine.substr(methodEnd + 1, targetEnd - methodEnd - 1);
  std::string authority;
  // An absolute-form target carries the authority itself.
  if (const auto schemeEnd = target.find("://"); schemeEnd != std::string_view::npos && target.front() != '/') {
    const std::string_view rest = target.substr(schemeEnd + 3);
    const auto pathStart = rest.find('/');
    authority = std::string(rest.substr(0, pathStart));
    target = pathStart == std::string_view::npos ? std::string_view("/") : rest.substr(pathStart);
  }
  out.fields.emplace_back(":method", std::string(requestLine.substr(0, methodEnd)));
  out.fields.emplace_back(":scheme", std::string(scheme));
  out.fields.emplace_back(":path", std::string(target));
  out.fields.emplace_back(":authority", authority);
  std::size_t position = lineEnd + 2;
  for (;;) {
    const auto end = head.find("\r\n", position);
    if (end == std::string_view::npos) return {502, "request head without its blank line"};
    if (end == position) break;  // the blank line
    const std::string_view line = head.substr(position, end - position);
    position = end + 2;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return {502, "malformed request field"};
    std::string name = lowerCase(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "host") {
      if (out.fields[3].second.empty()) out.fields[3].second = std::string(value);
      continue;
    }
    if (connectionSpecific(name, value)) continue;
    out.fields.emplace_back(std::move(name), std::string(value));
  }
  // gRPC servers require "te: trailers" (gRPC over HTTP/2), which an HTTP/2
  // client's stream had and its HTTP/1.1 form lost as hop-by-hop.
  bool grpc = false;
  bool te = false;
  for (const auto& [name, value] : out.fields) {
    grpc = grpc || (name == "content-type" && value.starts_with("application/grpc"));
    te = te || name == "te";
  }
  if (grpc && !te) out.fields.emplace_back("te", "trailers");
  if (out.fields[3].second.empty()) out.fields.erase(out.fields.begin() + 3);  // no authority to give
  return {};
}

std::string http1HeadFromH2c(std::uint16_t status, std::string_view fields, bool hasContentLength, bool bodiless) {
  std::string head;
  head.reserve(32 + fields.size());
  head += "HTTP/1.1 ";
  head += std::to_string(status);
  head += " \r\n";  // HTTP/2 has no reason phrase; an empty one is valid HTTP/1.1
  head += fields;
  if (!hasContentLength && !bodiless) head += "transfer-encoding: chunked\r\n";
  head += "\r\n";
  return head;
}

void appendChunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  constexpr char kHex[] = "0123456789abcdef";
  char size[16];
  int length = 0;
  for (std::size_t n = data.size(); n != 0; n >>= 4) size[length++] = kHex[n & 0xf];
  while (length > 0) out += size[--length];
  out += "\r\n";
  out += data;
  out += "\r\n";
}

void appendLastChunk(std::string& out, std::string_view trailers) {
  out += "0\r\n";
  out += trailers;
  out += "\r\n";
}

}  // namespace ringlb::proxy
