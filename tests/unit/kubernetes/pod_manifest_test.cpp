#include "ringlb/operator/kubernetes_pod_manifest.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using nlohmann::json;

ReplicaSpec apodSpec() {
  ReplicaSpec spec;
  spec.ring = "apod";
  spec.ringNamespace = "team-a";
  spec.slot = "apod-2";
  spec.ordinal = 2;
  spec.specHash = "0123abcd";
  spec.templ.image = "ringlb/apod:0.1.0";
  spec.templ.args = {"--port", "$(PORT)"};
  spec.templ.port = 9090;
  spec.templ.env = {{"APOD_DATA", "/data"}, {"PORT", "1"}};
  spec.templ.resources.limits = {{"memory", "256Mi"}, {"cpu", "500m"}};
  spec.templ.memoryBytes = 256u << 20;
  spec.templ.cpus = 0.5;
  return spec;
}

PodOwner owner() {
  PodOwner o;
  o.name = "apod";
  o.uid = "uid-123";
  o.healthCheck.path = "/healthz";
  o.healthCheck.intervalSeconds = 2;
  o.healthCheck.timeoutSeconds = 1;
  o.healthCheck.failureThreshold = 4;
  o.healthCheck.successThreshold = 1;
  return o;
}

TEST(ReplicaPod, NameNamespaceLabelsAndOwner) {
  const json pod = buildReplicaPod(apodSpec(), owner());
  EXPECT_EQ(pod["apiVersion"], "v1");
  EXPECT_EQ(pod["kind"], "Pod");
  EXPECT_EQ(pod["metadata"]["name"], "apod-2");
  EXPECT_EQ(pod["metadata"]["namespace"], "team-a");
  const json& labels = pod["metadata"]["labels"];
  EXPECT_EQ(labels["app.kubernetes.io/name"], "apod");
  EXPECT_EQ(labels["app.kubernetes.io/managed-by"], "ringlb-operator");
  EXPECT_EQ(labels["ringlb.dev/ring"], "apod");
  EXPECT_EQ(labels["ringlb.dev/slot"], "apod-2");
  EXPECT_EQ(labels["ringlb.dev/spec-hash"], "0123abcd");
  ASSERT_EQ(pod["metadata"]["ownerReferences"].size(), 1u);
  const json& ref = pod["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], "ringlb.dev/v1alpha1");
  EXPECT_EQ(ref["kind"], "HashRing");
  EXPECT_EQ(ref["name"], "apod");
  EXPECT_EQ(ref["uid"], "uid-123");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
}

TEST(ReplicaPod, RestrictedSecurityContext) {
  const json pod = buildReplicaPod(apodSpec(), owner());
  const json& podContext = pod["spec"]["securityContext"];
  EXPECT_EQ(podContext["runAsNonRoot"], true);
  EXPECT_EQ(podContext["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_NE(podContext["runAsUser"], 0);
  ASSERT_EQ(pod["spec"]["containers"].size(), 1u);
  const json& context = pod["spec"]["containers"][0]["securityContext"];
  EXPECT_EQ(context["allowPrivilegeEscalation"], false);
  EXPECT_EQ(context["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_FALSE(context["capabilities"].contains("add"));
  EXPECT_EQ(context["readOnlyRootFilesystem"], true);
  EXPECT_EQ(context["runAsNonRoot"], true);
  EXPECT_EQ(context["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["spec"]["automountServiceAccountToken"], false);
}

TEST(ReplicaPod, ContainerPortEnvProbeAndResources) {
  const json pod = buildReplicaPod(apodSpec(), owner());
  const json& container = pod["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "ringlb/apod:0.1.0");
  EXPECT_FALSE(container.contains("command"));  // empty keeps the image's entrypoint
  EXPECT_EQ(container["args"], json::array({"--port", "$(PORT)"}));
  EXPECT_EQ(container["ports"][0]["containerPort"], 9090);
  EXPECT_EQ(container["ports"][0]["name"], "http");
  const json expectedEnv = json::array({{{"name", "APOD_DATA"}, {"value", "/data"}},
                                        {{"name", "PORT"}, {"value", "9090"}},
                                        {{"name", "RINGLB_SLOT"}, {"value", "apod-2"}},
                                        {{"name", "LISTEN_ADDRESS"}, {"value", "0.0.0.0"}}});
  EXPECT_EQ(container["env"], expectedEnv);  // the template's PORT is overridden, not duplicated
  const json& probe = container["readinessProbe"];
  EXPECT_EQ(probe["httpGet"]["path"], "/healthz");
  EXPECT_EQ(probe["httpGet"]["port"], "http");
  EXPECT_EQ(probe["periodSeconds"], 2);
  EXPECT_EQ(probe["failureThreshold"], 4);
  // Limits only: Kubernetes requests the limits (both set: Guaranteed QoS), so no default request is added.
  EXPECT_EQ(container["resources"], json::parse(R"({"limits": {"memory": "256Mi", "cpu": "500m"}})"));
}

ReplicaSpec plainSpec() {
  ReplicaSpec spec = apodSpec();
  spec.templ.resources = {};
  spec.templ.memoryBytes.reset();
  spec.templ.cpus.reset();
  return spec;
}

TEST(ReplicaPod, ReadinessProbeSpeaksTheRingsProtocol) {
  PodOwner grpcOwner = owner();
  grpcOwner.protocol = ring::UpstreamProtocol::H2c;
  grpcOwner.healthCheck.grpc = GrpcHealthCheck{"ringlb.test.Echo"};
  json probe = buildReplicaPod(apodSpec(), grpcOwner)["spec"]["containers"][0]["readinessProbe"];
  EXPECT_EQ(probe["grpc"], json::parse(R"({"port": 9090, "service": "ringlb.test.Echo"})"));
  EXPECT_FALSE(probe.contains("httpGet"));
  EXPECT_EQ(probe["periodSeconds"], 2);
  EXPECT_EQ(probe["failureThreshold"], 4);

  PodOwner h2cOwner = owner();  // the kubelet cannot GET over h2c: it checks the port, the operator the path
  h2cOwner.protocol = ring::UpstreamProtocol::H2c;
  probe = buildReplicaPod(apodSpec(), h2cOwner)["spec"]["containers"][0]["readinessProbe"];
  EXPECT_EQ(probe["tcpSocket"], json::parse(R"({"port": "http"})"));
  EXPECT_FALSE(probe.contains("httpGet"));
}

TEST(ReplicaPod, DefaultsRequestCpuAndMemoryWithoutLimits) {
  ReplicaSpec spec = plainSpec();
  spec.templ.command = {"/bin/apod"};
  const json pod = buildReplicaPod(spec, owner());
  const json& container = pod["spec"]["containers"][0];
  // Requests below any limit and no limits: Burstable QoS.
  EXPECT_EQ(container["resources"], json::parse(R"({"requests": {"cpu": "50m", "memory": "32Mi"}})"));
  EXPECT_EQ(container["command"], json::array({"/bin/apod"}));
}

TEST(ReplicaPod, ExplicitRequestsAndLimitsReplaceTheDefaultsPerResource) {
  ReplicaSpec spec = plainSpec();
  spec.templ.resources.requests = {{"cpu", "200m"}};
  spec.templ.resources.limits = {{"memory", "128Mi"}, {"ephemeral-storage", "1Gi"}};
  const json pod = buildReplicaPod(spec, owner());
  // cpu: the request given; memory: only a limit, which Kubernetes also requests.
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"],
            json::parse(R"({"requests": {"cpu": "200m"}, "limits": {"memory": "128Mi", "ephemeral-storage": "1Gi"}})"));
}

TEST(ReplicaPod, WritableTmpEmptyDirOnAReadOnlyRoot) {
  const json pod = buildReplicaPod(plainSpec(), owner());
  const json& container = pod["spec"]["containers"][0];
  EXPECT_EQ(container["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(container["volumeMounts"], json::parse(R"([{"name": "tmp", "mountPath": "/tmp"}])"));
  EXPECT_EQ(pod["spec"]["volumes"], json::parse(R"([{"name": "tmp", "emptyDir": {}}])"));
}

TEST(ReplicaPod, AVolumeNamedTmpReplacesTheDefault) {
  ReplicaSpec spec = plainSpec();
  spec.templ.pod.volumes = json::parse(R"([{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}])");
  const json pod = buildReplicaPod(spec, owner());
  EXPECT_EQ(pod["spec"]["volumes"], spec.templ.pod.volumes);
  EXPECT_EQ(pod["spec"]["containers"][0]["volumeMounts"], json::parse(R"([{"name": "tmp", "mountPath": "/tmp"}])"));
}

TEST(ReplicaPod, WithoutPodSettingsThePodSpecHasNone) {
  const json spec = buildReplicaPod(plainSpec(), owner())["spec"];
  for (const char* field :
       {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets", "serviceAccountName"}) {
    EXPECT_FALSE(spec.contains(field)) << field;
  }
  EXPECT_EQ(spec["securityContext"]["runAsUser"], 65532);
  EXPECT_EQ(spec["securityContext"]["runAsGroup"], 65532);
  EXPECT_FALSE(spec["securityContext"].contains("fsGroup"));
}

TEST(ReplicaPod, EveryPodSettingLandsInThePod) {
  ReplicaSpec spec = plainSpec();
  PodSettings& settings = spec.templ.pod;
  settings.nodeSelector = {{"disktype", "ssd"}};
  settings.tolerations = json::parse(R"([{"key": "dedicated", "operator": "Equal", "value": "ringlb", "effect": "NoSchedule"}])");
  settings.affinity = json::parse(R"({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
      {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                          "labelSelector": {"matchLabels": {"ringlb.dev/ring": "apod"}}}}]}})");
  settings.topologySpreadConstraints = json::parse(R"([
      {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"},
      {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
       "labelSelector": {"matchLabels": {"tier": "web"}}}])");
  settings.imagePullSecrets = {"regcred", "mirror"};
  settings.serviceAccountName = "apod-reader";
  settings.volumes = json::parse(R"([{"name": "data", "configMap": {"name": "apod-data"}}])");
  settings.volumeMounts = json::parse(R"([{"name": "data", "mountPath": "/data", "readOnly": true}])");
  spec.templ.securityContext.runAsUser = 1000;
  spec.templ.securityContext.runAsGroup = 3000;
  spec.templ.securityContext.fsGroup = 2000;
  spec.templ.securityContext.supplementalGroups = {4000};

  const json pod = buildReplicaPod(spec, owner());
  const json& podSpec = pod["spec"];
  EXPECT_EQ(podSpec["nodeSelector"], json::parse(R"({"disktype": "ssd"})"));
  EXPECT_EQ(podSpec["tolerations"], settings.tolerations);
  EXPECT_EQ(podSpec["affinity"], settings.affinity);
  // A constraint without a selector counts this ring's Pods; one with a selector keeps it.
  json spread = settings.topologySpreadConstraints;
  spread[0]["labelSelector"] = {{"matchLabels", {{"ringlb.dev/ring", "apod"}}}};
  EXPECT_EQ(podSpec["topologySpreadConstraints"], spread);
  EXPECT_EQ(podSpec["imagePullSecrets"], json::parse(R"([{"name": "regcred"}, {"name": "mirror"}])"));
  EXPECT_EQ(podSpec["serviceAccountName"], "apod-reader");
  EXPECT_EQ(podSpec["automountServiceAccountToken"], false);
  EXPECT_EQ(podSpec["volumes"],
            json::parse(R"([{"name": "tmp", "emptyDir": {}}, {"name": "data", "configMap": {"name": "apod-data"}}])"));
  EXPECT_EQ(podSpec["containers"][0]["volumeMounts"],
            json::parse(R"([{"name": "tmp", "mountPath": "/tmp"}, {"name": "data", "mountPath": "/data", "readOnly": true}])"));
  EXPECT_EQ(podSpec["securityContext"], json::parse(R"({"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 3000,
      "fsGroup": 2000, "supplementalGroups": [4000], "seccompProfile": {"type": "RuntimeDefault"}})"));
}

json runningPod(const std::string& ip, bool ready) {
  json pod = buildReplicaPod(apodSpec(), owner());
  pod["metadata"]["uid"] = "pod-uid";
  pod["status"] = {{"phase", "Running"},
                   {"podIP", ip},
                   {"conditions", json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
                   {"containerStatuses", json::array({{{"name", "replica"}, {"restartCount", 2}}})}};
  return pod;
}

TEST(PodView, ReadsAddressReadinessAndLabels) {
  const PodView view = viewPod(runningPod("127.1.2.3", true));
  EXPECT_EQ(view.ring, "apod");
  EXPECT_EQ(view.slot, "apod-2");
  EXPECT_EQ(view.ringNamespace, "team-a");
  EXPECT_EQ(view.uid, "pod-uid");
  EXPECT_EQ(view.specHash, "0123abcd");
  EXPECT_EQ(view.address, "127.1.2.3:9090");
  EXPECT_TRUE(view.ready);
  EXPECT_FALSE(view.terminating);
  EXPECT_EQ(view.restarts, 2u);

  EXPECT_EQ(viewPod(runningPod("fd00::5", true)).address, "[fd00::5]:9090");
  EXPECT_FALSE(viewPod(runningPod("127.1.2.3", false)).ready);
}

TEST(PodView, TerminatingPodIsNeverReady) {
  json pod = runningPod("127.1.2.3", true);
  pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  const PodView view = viewPod(pod);
  EXPECT_TRUE(view.terminating);
  EXPECT_FALSE(view.ready);
  EXPECT_EQ(view.reason, "terminating");
}

TEST(PodView, PendingPodHasNoAddressAndAReason) {
  json pod = buildReplicaPod(apodSpec(), owner());
  pod["status"] = {{"phase", "Pending"},
                   {"containerStatuses",
                    json::array({{{"name", "replica"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}})}};
  const PodView view = viewPod(pod);
  EXPECT_EQ(view.address, "");
  EXPECT_FALSE(view.ready);
  EXPECT_EQ(view.reason, "ImagePullBackOff");
}

TEST(PodSelector, MatchesManagedReplicaPods) {
  EXPECT_EQ(managedPodSelector(), "app.kubernetes.io/managed-by=ringlb-operator,ringlb.dev/ring");
}

}  // namespace
}  // namespace ringlb::op
