#include "tls_certificate_store.h"

#include <sys/stat.h>

namespace ringlb::proxy {

TlsCertificateStore::TlsCertificateStore(std::vector<TlsCertificateFiles> files, TlsAlpn alpn)
    : files_(std::move(files)), alpn_(alpn) {}

std::vector<TlsCertificateStore::Stamp> TlsCertificateStore::stamps() const {
  std::vector<Stamp> out;
  const auto stampOf = [](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Stamp{};
    return Stamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                 static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
  };
  for (const auto& pair : files_) {
    out.push_back(stampOf(pair.chain));
    out.push_back(pair.key.empty() ? Stamp{} : stampOf(pair.key));
  }
  return out;
}

Status TlsCertificateStore::load() {
  // Stamped before reading: a swap landing between the chain and the key
  // (a mismatched pair) leaves stamps that differ from the files', so the
  // next check reads them again.
  lastStamps_ = stamps();
  auto set = TlsContextSet::load(files_, alpn_);
  if (!set) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return Error{set.error()};
  }
  {
    std::lock_guard lock(mutex_);
    set_ = std::move(set).value();
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  applied_.fetch_add(1, std::memory_order_relaxed);
  return ok();
}

std::optional<Status> TlsCertificateStore::reloadIfChanged() {
  if (stamps() == lastStamps_) return std::nullopt;
  return load();
}

std::shared_ptr<const TlsContextSet> TlsCertificateStore::current() const {
  std::lock_guard lock(mutex_);
  return set_;
}

}  // namespace ringlb::proxy
