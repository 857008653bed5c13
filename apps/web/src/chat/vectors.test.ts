import { vectorTests } from "../vectors/vitest.ts";

// testvectors/chat.json, and tampered copies that must fail.
await vectorTests("chat");
