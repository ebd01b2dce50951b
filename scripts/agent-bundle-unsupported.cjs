// Stands in, in the docker agent bundle (scripts/build-agent.ts), for packages dockerode loads at
// start for features the agent never uses: ssh2 (engines over ssh://) and gRPC/protobuf (BuildKit
// sessions and build progress). Loading them costs ~20 MB of RSS on every customer host. Any use
// fails loudly, naming the feature, instead of silently doing nothing.
'use strict';
function unsupported(name) {
  return () => {
    throw new Error(`the distr docker agent bundle does not include ${name} (dockerode over ssh:// or BuildKit sessions); point DOCKER_SOCKET at a unix socket`);
  };
}
module.exports = new Proxy(
  {},
  {
    get(_, key) {
      if (typeof key === 'symbol' || key === '__esModule' || key === 'then' || key === 'default') return undefined;
      return unsupported(`this dependency's ${String(key)}`);
    },
  },
);
