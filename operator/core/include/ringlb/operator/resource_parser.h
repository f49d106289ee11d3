#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

inline constexpr std::string_view kHashRingApiVersion = "ringlb.dev/v1alpha1";
inline constexpr std::string_view kHashRingKind = "HashRing";
inline constexpr std::int32_t kMaxReplicas = 1000;
inline constexpr std::size_t kMaxGrpcServiceLength = 1024;  // spec.healthCheck.grpc.service, as the CRD caps it

struct ParseOptions {
  /// Objects read from the Kubernetes API carry server-populated metadata
  /// (uid, resourceVersion, managedFields, ...) and a status; files must not
  /// carry unknown metadata fields.
  bool fromKubernetes = false;
};

/// One document that failed: the ring it named (if the name could be read)
/// and the message "<origin>: <field path>: <reason>".
struct ResourceError {
  std::string key;  // "namespace/name", empty when the document did not name a ring
  std::string message;
};

/// The result of parsing one YAML stream (`---`-separated documents).
struct ParsedResources {
  std::vector<HashRing> rings;
  std::vector<ResourceError> errors;
};

/// Parses and strictly validates every HashRing document in `text`: unknown
/// fields, wrong types and out-of-range values are rejected with messages of
/// the form "<origin>: spec.replicas: must be >= 0, got -1". Empty documents
/// are skipped. Pure; thread-safe.
ParsedResources parseHashRings(std::string_view text, const std::string& origin, const ParseOptions& options = {});

/// Parses exactly one HashRing document (a YAML or JSON object). Returns the
/// ring or an Error "<origin>: <field path>: <reason>".
Result<HashRing> parseHashRing(std::string_view text, const std::string& origin, const ParseOptions& options = {});

/// Checks the semantic rules a parsed ring must meet (also applied by the
/// parsers). Returns an Error "<field path>: <reason>" without origin.
Status validateHashRing(const HashRing& ring);

}  // namespace ringlb::op
