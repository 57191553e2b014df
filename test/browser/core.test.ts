// The core's Node suites, run unchanged in real Chromium: the in-memory adapters'
// acceptance suites, five peers in one realm, RPC, identity and registry behaviour.
import '../unit/memory-adapters.test.ts';
import '../unit/peer.test.ts';
import '../unit/rpc.test.ts';
import '../unit/broadcast-channel-transport.test.ts';
import '../unit/registry-persistence.test.ts';
import '../unit/blob-fetch.test.ts';
