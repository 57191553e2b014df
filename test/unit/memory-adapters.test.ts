import { runBlobStoreTests } from '../acceptance/blob-store.ts';
import { runKeyValueStoreTests } from '../acceptance/key-value-store.ts';
import { memoryBlobStoreHarness, memoryKeyValueStoreHarness, memoryTransportHarness } from '../acceptance/memory-harnesses.ts';
import { runTransportTests } from '../acceptance/transport.ts';

runTransportTests(memoryTransportHarness);
runBlobStoreTests(memoryBlobStoreHarness);
runKeyValueStoreTests(memoryKeyValueStoreHarness);
