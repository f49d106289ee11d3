// The certificate store: loading, SNI selection, and reloads that keep the
// set in force when the new files are bad. Certificates are made with the
// openssl CLI in a temporary directory.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tls_certificate_store.h"

namespace ringlb::proxy {
namespace {

namespace fs = std::filesystem;

class TlsCertificateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ringlb-tls-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    makeCertificate("a", "a.test", "DNS:a.test,DNS:*.wild.test");
    makeCertificate("b", "b.test", "DNS:b.test");
    makeCertificate("cn", "cn-only.test", "");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void makeCertificate(const std::string& stem, const std::string& commonName, const std::string& san) {
    std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout " +
                          path(stem + ".key") + " -out " + path(stem + ".crt") + " -subj /CN=" + commonName;
    if (!san.empty()) command += " -addext subjectAltName=" + san;
    command += " 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  TlsCertificateFiles pair(const std::string& stem) const { return {path(stem + ".crt"), path(stem + ".key")}; }
  static std::string read(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void write(const std::string& file, const std::string& content) { std::ofstream(file, std::ios::binary) << content; }

  // A Kubernetes Secret mount: tls.crt and tls.key through the `..data` symlink.
  void publishSecret(const std::string& stem, int generation) {
    const auto target = "..gen" + std::to_string(generation);
    fs::create_directories(dir_ / "secret" / target);
    fs::copy_file(path(stem + ".crt"), dir_ / "secret" / target / "tls.crt");
    fs::copy_file(path(stem + ".key"), dir_ / "secret" / target / "tls.key");
    fs::create_symlink(target, dir_ / "secret" / "..data_tmp");
    fs::rename(dir_ / "secret" / "..data_tmp", dir_ / "secret" / "..data");  // atomic, as the kubelet swaps
    if (!fs::is_symlink(dir_ / "secret" / "tls.crt")) {
      fs::create_symlink("..data/tls.crt", dir_ / "secret" / "tls.crt");
      fs::create_symlink("..data/tls.key", dir_ / "secret" / "tls.key");
    }
  }
  TlsCertificateFiles secret() const { return {path("secret/tls.crt"), path("secret/tls.key")}; }

  static std::string commonNameOf(SSL_CTX* context) {
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(SSL_CTX_get0_certificate(context)), NID_commonName, name, sizeof name);
    return name;
  }

  fs::path dir_;
};

TEST_F(TlsCertificateStoreTest, SelectsByServerNameWithTheFirstAsDefault) {
  auto set = TlsContextSet::load({pair("a"), pair("b"), pair("cn")}, TlsAlpn::H2AndHttp1);
  ASSERT_TRUE(set) << set.error();
  const auto& contexts = *set.value();
  EXPECT_EQ(contexts.names(), (std::vector<std::vector<std::string>>{{"a.test", "*.wild.test"}, {"b.test"}, {"cn-only.test"}}));
  EXPECT_EQ(commonNameOf(contexts.select("a.test")), "a.test");
  EXPECT_EQ(commonNameOf(contexts.select("b.test")), "b.test");
  EXPECT_EQ(commonNameOf(contexts.select("B.TEST")), "b.test");
  EXPECT_EQ(commonNameOf(contexts.select("cn-only.test")), "cn-only.test");  // no SAN: the CN names it
  EXPECT_EQ(commonNameOf(contexts.select("x.wild.test")), "a.test");
  EXPECT_EQ(commonNameOf(contexts.select("wild.test")), "a.test");  // the default: a wildcard needs a label
  EXPECT_EQ(contexts.select("x.y.wild.test"), contexts.initial().native_handle());  // one label only
  EXPECT_EQ(contexts.select("unknown.test"), contexts.initial().native_handle());
  EXPECT_EQ(commonNameOf(contexts.initial().native_handle()), "a.test");
}

TEST_F(TlsCertificateStoreTest, OffersOnlyTls12And13) {
  auto set = TlsContextSet::load({pair("a")}, TlsAlpn::H2AndHttp1);
  ASSERT_TRUE(set) << set.error();
  SSL_CTX* context = set.value()->initial().native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(context), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(context), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(context) & SSL_SESS_CACHE_SERVER, SSL_SESS_CACHE_SERVER);
  EXPECT_EQ(SSL_CTX_get_options(context) & SSL_OP_NO_TICKET, 0u);
}

TEST_F(TlsCertificateStoreTest, TakesTheKeyFromACombinedPem) {
  write(path("combined.pem"), read(path("b.crt")) + read(path("b.key")));
  auto set = TlsContextSet::load({{path("combined.pem"), ""}}, TlsAlpn::Http1Only);
  ASSERT_TRUE(set) << set.error();
  EXPECT_EQ(commonNameOf(set.value()->initial().native_handle()), "b.test");
}

TEST_F(TlsCertificateStoreTest, BadFilesAreNamedWithTheReason) {
  write(path("garbage.crt"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  auto garbage = TlsContextSet::load({{path("garbage.crt"), path("a.key")}}, TlsAlpn::H2AndHttp1);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().rfind(path("garbage.crt") + ": not a usable PEM certificate chain: ", 0), 0u) << garbage.error();

  auto mismatched = TlsContextSet::load({{path("a.crt"), path("b.key")}}, TlsAlpn::H2AndHttp1);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error(), path("b.key") + ": private key does not match the certificate in " + path("a.crt"));

  auto missing = TlsContextSet::load({{path("a.crt"), path("nope.key")}}, TlsAlpn::H2AndHttp1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), path("nope.key") + ": cannot be read: No such file or directory");

  write(path("junk.key"), "junk\n");
  auto junkKey = TlsContextSet::load({{path("a.crt"), path("junk.key")}}, TlsAlpn::H2AndHttp1);
  ASSERT_FALSE(junkKey);
  EXPECT_EQ(junkKey.error().rfind(path("junk.key") + ": not a usable PEM private key: ", 0), 0u) << junkKey.error();

  // A bad entry anywhere fails the whole set: a reload is all or nothing.
  EXPECT_FALSE(TlsContextSet::load({pair("a"), {path("a.crt"), path("b.key")}}, TlsAlpn::H2AndHttp1));
}

TEST_F(TlsCertificateStoreTest, ReloadsOnASymlinkSwapAndKeepsTheOldSetOnABadOne) {
  publishSecret("a", 1);
  TlsCertificateStore store({secret()}, TlsAlpn::H2AndHttp1);
  EXPECT_EQ(store.generation(), 0u);
  EXPECT_EQ(store.current(), nullptr);
  ASSERT_TRUE(store.load());
  EXPECT_EQ(store.generation(), 1u);
  const auto first = store.current();
  EXPECT_EQ(commonNameOf(first->initial().native_handle()), "a.test");
  EXPECT_FALSE(store.reloadIfChanged().has_value());  // nothing changed, nothing read

  publishSecret("b", 2);
  auto reloaded = store.reloadIfChanged();
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_TRUE(*reloaded) << reloaded->error();
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(commonNameOf(store.current()->initial().native_handle()), "b.test");
  // A connection holding the first set keeps it whole.
  EXPECT_EQ(commonNameOf(first->initial().native_handle()), "a.test");

  // A certificate with another certificate's key: refused, the set in force stays.
  fs::create_directories(dir_ / "secret" / "..gen3");
  fs::copy_file(path("a.crt"), dir_ / "secret" / "..gen3" / "tls.crt");
  fs::copy_file(path("b.key"), dir_ / "secret" / "..gen3" / "tls.key");
  fs::create_symlink("..gen3", dir_ / "secret" / "..data_tmp");
  fs::rename(dir_ / "secret" / "..data_tmp", dir_ / "secret" / "..data");
  auto refused = store.reloadIfChanged();
  ASSERT_TRUE(refused.has_value());
  ASSERT_FALSE(*refused);
  EXPECT_NE(refused->error().find("does not match the certificate"), std::string::npos) << refused->error();
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(commonNameOf(store.current()->initial().native_handle()), "b.test");
  EXPECT_EQ(store.applied(), 2u);
  EXPECT_EQ(store.rejected(), 1u);
  // Not read again until the files change once more.
  EXPECT_FALSE(store.reloadIfChanged().has_value());

  publishSecret("a", 4);
  auto fixed = store.reloadIfChanged();
  ASSERT_TRUE(fixed.has_value());
  EXPECT_TRUE(*fixed);
  EXPECT_EQ(store.generation(), 3u);
  EXPECT_EQ(commonNameOf(store.current()->initial().native_handle()), "a.test");
}

}  // namespace
}  // namespace ringlb::proxy
