/**
 * The shared vector files, bundled from the repository root (`testvectors/`). Typed as `unknown`:
 * `schema.ts` checks their shape where they are read.
 */
import ageJson from "../../../../testvectors/age.json";
import backupsJson from "../../../../testvectors/backups.json";
import blobsJson from "../../../../testvectors/blobs.json";
import chatJson from "../../../../testvectors/chat.json";
import idsJson from "../../../../testvectors/ids.json";
import recordsJson from "../../../../testvectors/records.json";
import vaultStateJson from "../../../../testvectors/vault-state.json";

export const idsFile: unknown = idsJson;
export const recordsFile: unknown = recordsJson;
export const ageFile: unknown = ageJson;
export const backupsFile: unknown = backupsJson;
export const blobsFile: unknown = blobsJson;
export const vaultStateFile: unknown = vaultStateJson;
export const chatFile: unknown = chatJson;
