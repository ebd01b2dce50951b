#!/usr/bin/env bash
# Starts the tests' real Kubernetes control plane on 127.0.0.1 (free ports): etcd, kube-apiserver
# (TLS from a throwaway openssl CA, RBAC, a static admin token in system:masters, service-account
# keys), kube-controller-manager, kube-scheduler, and kwok, which fakes one Node and the kubelet's
# pod lifecycle (pods become Running/Ready, Job pods complete; no container really runs).
# Binaries come from scripts/build-test-k8s.sh (built once, cached by version).
#
# Idempotent: a control plane that is already up and ready is reused. State lives in a temp
# folder ($DISTR_TEST_K8S_STATE, default /tmp/distr-test-k8s); the tests find the cluster through
# the well-known file $DISTR_TEST_K8S_STATE/cluster.json (kubeconfig, server, token, CA).
# Stop it with scripts/stop-test-k8s.sh. DISTR_TEST_K8S_NO_BUILD=1: fail instead of building.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${DISTR_TEST_K8S_STATE:-/tmp/distr-test-k8s}
info="$state/cluster.json"

log() { echo "start-test-k8s: $*" >&2; }
die() { log "$*"; exit 1; }

# A zombie still answers kill -0 (PID 1 here may reap late), so look at the process state.
alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$s" ] && [[ "$s" != Z* ]]
}

# What the control plane was started from: one started by another version of this script (other
# flags, other kwok stages) is restarted rather than reused.
config_sha=$(cat "$root/scripts/start-test-k8s.sh" "$root/scripts/k8s-tools/kwok-pod-stages.yaml" | sha256sum | cut -c1-16)

ready() { # the recorded control plane answers /readyz, all its processes live, same configuration
  [ -f "$info" ] && [ -f "$state/pids" ] || return 1
  [ "$(cat "$state/config.sha" 2>/dev/null)" = "$config_sha" ] || { log "restarting: started from another configuration"; return 1; }
  local pid
  for pid in $(awk '{ print $2 }' "$state/pids"); do alive "$pid" || return 1; done
  curl -fsS --max-time 5 --cacert "$state/pki/ca.crt" -H "Authorization: Bearer $(cat "$state/pki/admin.token")" \
    "$(sed -n 's/.*"server": "\([^"]*\)".*/\1/p' "$info")/readyz" >/dev/null 2>&1
}

exec 8>"/tmp/distr-test-k8s.lock"
flock 8
if ready; then
  log "reusing the control plane in $state"
  echo "$info"
  exit 0
fi
# Leftovers of a control plane that died or was half started.
[ -f "$info" ] || [ ! -d "$state" ] || log "cleaning up $state"
DISTR_TEST_K8S_STATE="$state" bash "$root/scripts/stop-test-k8s.sh" >/dev/null 2>&1 || true

if [ "${DISTR_TEST_K8S_NO_BUILD:-}" = 1 ]; then
  bin=$(DISTR_TEST_K8S_CHECK_ONLY=1 bash "$root/scripts/build-test-k8s.sh") || die "the control plane is not built; run scripts/setup-test-env.sh"
else
  bin=$(bash "$root/scripts/build-test-k8s.sh")
fi
started=$SECONDS

rm -rf "$state"
mkdir -p "$state/pki" "$state/logs" "$state/etcd"
# From here on a failure stops whatever was started.
ok=0
trap '[ "$ok" = 1 ] || DISTR_TEST_K8S_STATE="$state" bash "$root/scripts/stop-test-k8s.sh" >/dev/null 2>&1 || true' EXIT
chmod 700 "$state"
pki="$state/pki"

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
etcd_port=$(free_port)
etcd_peer_port=$(free_port)
api_port=$(free_port)
kwok_port=$(free_port)
server="https://127.0.0.1:$api_port"

# --- certificates and keys (a throwaway test CA) ------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=distr-test-k8s-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
  -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
token=$(openssl rand -hex 24)
printf '%s' "$token" >"$pki/admin.token"
printf '%s,distr-test-admin,distr-test-admin,"system:masters"\n' "$token" >"$pki/tokens.csv"

kubeconfig="$state/admin.kubeconfig"
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: distr-test
  cluster:
    server: $server
    certificate-authority: $pki/ca.crt
users:
- name: distr-test-admin
  user:
    token: $token
contexts:
- name: distr-test
  context:
    cluster: distr-test
    user: distr-test-admin
current-context: distr-test
EOF
chmod 600 "$kubeconfig"

# --- kwok's configuration: our pod stages, kwok's node stages --------------------------------
{
  cat "$bin/kwok-stages/node/fast/node-initialize.yaml"
  echo '---'
  cat "$bin/kwok-stages/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"
  echo '---'
  cat "$root/scripts/k8s-tools/kwok-pod-stages.yaml"
} >"$state/kwok.yaml"

# --- start ------------------------------------------------------------------------------------
launch() { # name command...: in its own session so it outlives this script; prints the pid
  local name=$1
  shift
  # 8>&-: the daemons must not inherit (and hold forever) this script's lock.
  # nice -n -5 (as root; unchanged otherwise): the control plane stands in for a cluster whose
  # controllers are not starved by the tests' own load. On the loaded 2-core machine, at equal
  # priority, a Ready pod's Deployment stayed unavailable past helm's --wait (docs/kubernetes-agent.md).
  local nice=()
  [ "$(id -u)" = 0 ] && nice=(nice -n -5)
  setsid nohup "${nice[@]}" "$@" >"$state/logs/$name.log" 2>&1 </dev/null 8>&- &
  echo "$name $!" >>"$state/pids"
  echo $!
}

wait_for() { # what pid command...: poll until the command succeeds, fail if pid dies
  local what=$1 pid=$2 deadline=$((SECONDS + 90))
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$pid" || { tail -n 30 "$state/logs/"*.log >&2 || true; die "$what exited during start-up (logs: $state/logs)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$state/logs/"*.log >&2 || true; die "$what not ready within 90 s (logs: $state/logs)"; }
    sleep 0.2
  done
}

kctl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

etcd_pid=$(launch etcd "$bin/etcd" --name=distr-test --data-dir="$state/etcd" --unsafe-no-fsync --log-level=warn \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster="distr-test=http://127.0.0.1:$etcd_peer_port")
wait_for etcd "$etcd_pid" curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

api_pid=$(launch kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --kubelet-preferred-address-types=InternalIP --allow-privileged=true --profiling=false)
wait_for kube-apiserver "$api_pid" kctl get --raw /readyz

# The node lifecycle controller marks every pod of a node Ready=False when the node's heartbeat (its
# Lease, or its status) is older than the grace period, and nothing marks them Ready again (kwok's pod
# stages act on Pending pods only), so their Deployments stay unavailable for good. kwok renews the
# node's Lease only with --node-lease-duration-seconds (below; without it the node went NotReady every
# ~50 s, the cause of the old "Known flake"); the long grace period keeps a starved kwok from doing
# the same under load.
kcm_pid=$(launch kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kubeconfig" \
  --secure-port=0 --leader-elect=false --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --controllers='*' --concurrent-gc-syncs=4 --node-monitor-grace-period=10m)
scheduler_pid=$(launch kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kubeconfig" --secure-port=0 --leader-elect=false)

# kwok's own CRDs, so the tests can declare per-namespace pod logs (ClusterLogs).
kctl apply -f "$bin/kwok-crds/kwok.x-k8s.io_clusterlogs.yaml" >/dev/null
kctl wait --for=condition=Established --timeout=60s crd/clusterlogs.kwok.x-k8s.io >/dev/null
kwok_pid=$(launch kwok "$bin/kwok" --kubeconfig="$kubeconfig" --config="$state/kwok.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-ip=127.0.0.1 --node-name=kwok-node-0 \
  --cidr=10.244.0.0/16 --server-address="127.0.0.1:$kwok_port" --node-port="$kwok_port" --enable-crds=ClusterLogs \
  --node-lease-duration-seconds=40)

# One fake node, managed by kwok (its kubelet is kwok's: pods are simulated, no container runs).
kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
EOF
wait_for kwok "$kwok_pid" kctl wait --for=condition=Ready --timeout=2s node/kwok-node-0
# The heartbeat the node lifecycle controller reads (see the controller manager's flags above).
wait_for kwok "$kwok_pid" kctl -n kube-node-lease get lease kwok-node-0
# Pods need the namespace's default ServiceAccount (made by the controller manager).
wait_for kube-controller-manager "$kcm_pid" kctl -n default get serviceaccount default

cat >"$info" <<EOF
{
  "server": "$server",
  "kubeconfig": "$kubeconfig",
  "caFile": "$pki/ca.crt",
  "tokenFile": "$pki/admin.token",
  "kubectl": "$bin/kubectl",
  "kubernetesVersion": "$("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -n 1)",
  "logs": "$state/logs",
  "podinfoChart": "$bin/charts/podinfo"
}
EOF
rss=$(ps -o rss= -p "$etcd_pid,$api_pid,$kcm_pid,$scheduler_pid,$kwok_pid" | awk '{ s += $1 } END { printf "%d", s / 1024 }')
echo "$config_sha" >"$state/config.sha"
ok=1
log "control plane ready in $((SECONDS - started)) s at $server (RSS ${rss} MB; state $state)"
echo "$info"
