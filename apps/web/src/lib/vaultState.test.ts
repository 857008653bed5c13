import { vectorTests } from "../vectors/vitest.ts";

// testvectors/vault-state.json: the node's records, folded here, give the Rust vault's grants.
await vectorTests("vault-state");
