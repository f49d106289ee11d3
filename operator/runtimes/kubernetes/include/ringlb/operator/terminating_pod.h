#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ringlb::op {

/// What the node a Pod is bound to says about its kubelet, from the Node's
/// Ready condition (which the node lifecycle controller sets to Unknown once
/// the kubelet stops reporting for node-monitor-grace-period).
enum class NodeHealth {
  Ready,      // Ready=True
  NotReady,   // Ready=False: the kubelet reports in, and finishes its own deletions
  Unknown,    // Ready=Unknown or no Ready condition: the kubelet is gone
  Missing,    // the Node object is gone (404)
  Unchecked,  // not read: no node name, no permission, or the API did not answer
};

/// The Node's health from a Node object's status.conditions.
NodeHealth nodeHealth(const nlohmann::json& node);

/// The fields of a terminating Pod the verdict needs.
struct TerminatingPod {
  std::optional<std::chrono::system_clock::time_point> deletionTimestamp;  // already includes the grace period
  std::string nodeName;  // spec.nodeName; empty while unscheduled
};

/// Reads deletionTimestamp and spec.nodeName from a Pod object (a missing or
/// unparsable deletionTimestamp reads as none).
TerminatingPod terminatingPod(const nlohmann::json& pod);

/// Whether to keep waiting for a terminating Pod's DELETED event or to
/// force-delete it (grace 0), so that its slot can be recreated under the same
/// name.
struct TerminationVerdict {
  bool forceDelete = false;
  std::string reason;  // why: for the Event and the log
  std::optional<std::chrono::system_clock::time_point> forceAt;  // when waiting: when it becomes due
};

/// The decision, pure: a Pod whose Node is Unknown or Missing (no kubelet will
/// ever finish the deletion) or that is still there `stuckAfter` past its
/// deletionTimestamp is force-deleted; otherwise the kubelet is given time.
/// A Pod without a readable deletionTimestamp gives no time to wait for, so
/// it is force-deleted too: waiting must always end.
TerminationVerdict judgeTerminatingPod(const TerminatingPod& pod, NodeHealth node,
                                       std::chrono::system_clock::time_point now, std::chrono::seconds stuckAfter);

/// `pod` with NoExecute tolerations of node.kubernetes.io/unreachable and
/// not-ready for `seconds`, so a lost node's replicas are evicted after that
/// rather than the 300 s the DefaultTolerationSeconds admission plugin gives.
/// A key the Pod already tolerates (the user's own toleration, or one that
/// tolerates every key) is left as it is. Pure.
nlohmann::json withLostNodeTolerations(nlohmann::json pod, std::chrono::seconds seconds);

}  // namespace ringlb::op
