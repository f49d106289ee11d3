#include "tls_certificate_store.h"

namespace ringlb::proxy {

TlsCertificateStore::TlsCertificateStore(std::vector<TlsCertificateFiles> files, TlsAlpn alpn)
    : files_(std::move(files)), alpn_(alpn) {}

std::vector<std::optional<FileStamp>> TlsCertificateStore::stamps() const {
  std::vector<std::optional<FileStamp>> out;
  for (const auto& pair : files_) {
    out.push_back(fileStamp(pair.chain));
    out.push_back(pair.key.empty() ? std::nullopt : fileStamp(pair.key));
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
