/* LD_PRELOAD shim that the test node agent (node_agent.py) puts under every Pod's process. It
 * stands in for what a Pod's network namespace, cluster DNS and kube-proxy would give, and for
 * nothing else:
 *
 *  - bind() to 0.0.0.0 binds the Pod's own address RINGLB_POD_IP (a 127.x.y.z loopback address),
 *    so two Pods can both listen on :8080, as in their own network namespaces;
 *  - bind() or connect() to 127.0.0.1 uses RINGLB_POD_LOOPBACK instead, a second address private
 *    to the Pod: what a Pod binds on its loopback is not reachable from the node (probes) or from
 *    other Pods, as in a real Pod;
 *  - getaddrinfo() of a name listed in RINGLB_SERVICES_FILE ("H <name> <ip>" lines: Service DNS
 *    names) answers that address (the Service's virtual IP, 127.96.x.y for ClusterIP 10.96.x.y);
 *  - connect() to a Service's virtual IP and port ("S <vip> <port> <ip:port>..." lines) connects
 *    to one of the ready endpoints, picked at random, as kube-proxy's DNAT does; none ready gives
 *    ECONNREFUSED, as kube-proxy's REJECT rule does.
 *
 * The file is re-read on every lookup, so the agent's updates apply at once. Built by the agent
 * with `cc -shared -fPIC -O2 -o shim.so node_agent_shim.c -ldl`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int env_ip(const char* name, struct in_addr* out) {
  const char* value = getenv(name);
  return value != NULL && inet_pton(AF_INET, value, out) == 1;
}

typedef int (*bind_fn)(int, const struct sockaddr*, socklen_t);
typedef int (*connect_fn)(int, const struct sockaddr*, socklen_t);
typedef int (*getaddrinfo_fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

/* 1: the file names this VIP:port, *out is the picked endpoint (or 0 when none is ready);
 * 0: not a Service address. */
static int service_endpoint(struct in_addr vip, unsigned port, struct sockaddr_in* out, int* none_ready) {
  const char* path = getenv("RINGLB_SERVICES_FILE");
  if (path == NULL) return 0;
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (line[0] != 'S' || line[1] != ' ') continue;
    char* save = NULL;
    strtok_r(line, " \n", &save);
    char* vip_text = strtok_r(NULL, " \n", &save);
    char* port_text = strtok_r(NULL, " \n", &save);
    struct in_addr parsed;
    if (vip_text == NULL || port_text == NULL || inet_pton(AF_INET, vip_text, &parsed) != 1) continue;
    if (parsed.s_addr != vip.s_addr || (unsigned)atoi(port_text) != port) continue;
    char* endpoints[256];
    int n = 0;
    char* token;
    while (n < 256 && (token = strtok_r(NULL, " \n", &save)) != NULL) endpoints[n++] = token;
    found = 1;
    *none_ready = n == 0;
    if (n > 0) {
      struct timeval tv;
      gettimeofday(&tv, NULL);
      char* pick = endpoints[(unsigned)(tv.tv_usec ^ getpid()) % (unsigned)n];
      char* colon = strrchr(pick, ':');
      if (colon == NULL) { found = 0; break; }
      *colon = '\0';
      out->sin_family = AF_INET;
      out->sin_port = htons((unsigned short)atoi(colon + 1));
      if (inet_pton(AF_INET, pick, &out->sin_addr) != 1) found = 0;
    }
    break;
  }
  fclose(f);
  return found;
}

static const char* service_name_address(const char* name, char* buffer, size_t size) {
  const char* path = getenv("RINGLB_SERVICES_FILE");
  if (path == NULL || name == NULL) return NULL;
  size_t len = strlen(name);
  while (len > 0 && name[len - 1] == '.') --len;  /* a fully qualified name's trailing dot */
  FILE* f = fopen(path, "r");
  if (f == NULL) return NULL;
  char line[4096];
  const char* result = NULL;
  while (fgets(line, sizeof line, f) != NULL) {
    if (line[0] != 'H' || line[1] != ' ') continue;
    char* save = NULL;
    strtok_r(line, " \n", &save);
    char* listed = strtok_r(NULL, " \n", &save);
    char* address = strtok_r(NULL, " \n", &save);
    if (listed == NULL || address == NULL) continue;
    if (strlen(listed) == len && strncasecmp(listed, name, len) == 0) {
      snprintf(buffer, size, "%s", address);
      result = buffer;
      break;
    }
  }
  fclose(f);
  return result;
}

int bind(int fd, const struct sockaddr* addr, socklen_t len) {
  static bind_fn real = NULL;
  if (real == NULL) real = (bind_fn)dlsym(RTLD_NEXT, "bind");
  if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in copy;
    memcpy(&copy, addr, sizeof copy);
    struct in_addr replacement;
    if (copy.sin_addr.s_addr == htonl(INADDR_ANY) && env_ip("RINGLB_POD_IP", &replacement)) {
      copy.sin_addr = replacement;
      return real(fd, (const struct sockaddr*)&copy, sizeof copy);
    }
    if (copy.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && env_ip("RINGLB_POD_LOOPBACK", &replacement)) {
      copy.sin_addr = replacement;
      return real(fd, (const struct sockaddr*)&copy, sizeof copy);
    }
  }
  if (addr != NULL && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 copy;
    memcpy(&copy, addr, sizeof copy);
    struct in_addr replacement;
    if (memcmp(&copy.sin6_addr, &in6addr_any, sizeof copy.sin6_addr) == 0 && env_ip("RINGLB_POD_IP", &replacement)) {
      /* [::] becomes the v4-mapped Pod address (the socket must then accept IPv4). */
      int off = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
      memset(&copy.sin6_addr, 0, sizeof copy.sin6_addr);
      copy.sin6_addr.s6_addr[10] = 0xff;
      copy.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&copy.sin6_addr.s6_addr[12], &replacement, 4);
      return real(fd, (const struct sockaddr*)&copy, sizeof copy);
    }
  }
  return real(fd, addr, len);
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  static connect_fn real = NULL;
  if (real == NULL) real = (connect_fn)dlsym(RTLD_NEXT, "connect");
  if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in copy;
    memcpy(&copy, addr, sizeof copy);
    struct in_addr replacement;
    if (copy.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && env_ip("RINGLB_POD_LOOPBACK", &replacement)) {
      copy.sin_addr = replacement;
      return real(fd, (const struct sockaddr*)&copy, sizeof copy);
    }
    struct sockaddr_in endpoint;
    int none_ready = 0;
    if (service_endpoint(copy.sin_addr, ntohs(copy.sin_port), &endpoint, &none_ready)) {
      if (none_ready) {
        errno = ECONNREFUSED;
        return -1;
      }
      return real(fd, (const struct sockaddr*)&endpoint, sizeof endpoint);
    }
  }
  return real(fd, addr, len);
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
  static getaddrinfo_fn real = NULL;
  if (real == NULL) real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  char buffer[64];
  const char* address = service_name_address(node, buffer, sizeof buffer);
  if (address != NULL) {
    struct addrinfo copy;
    if (hints != NULL) {
      copy = *hints;
    } else {
      memset(&copy, 0, sizeof copy);
    }
    if (copy.ai_family == AF_INET6) return EAI_NONAME; /* Service addresses here are IPv4 */
    copy.ai_family = AF_INET;
    copy.ai_flags |= AI_NUMERICHOST;
    copy.ai_flags &= ~(AI_CANONNAME | AI_ADDRCONFIG);
    return real(address, service, &copy, res);
  }
  return real(node, service, hints, res);
}
