/** What every vault page needs: the API client, the signed-in vault and who we are. */
import { createContext, useContext } from "react";
import type { ApiClient } from "../lib/api.ts";
import type { Me } from "../lib/apiTypes.ts";
import type { StoredIdentity } from "../lib/identity.ts";
import type { Vault } from "../lib/vault.ts";

export interface VaultSession {
  api: ApiClient;
  vault: Vault;
  me: Me;
  identity: StoredIdentity;
  isAdmin: boolean;
  signOut: () => Promise<void>;
  forget: () => void;
}

export const VaultContext = createContext<VaultSession | undefined>(undefined);

export function useVault(): VaultSession {
  const session = useContext(VaultContext);
  if (!session) throw new Error("useVault outside a signed-in vault");
  return session;
}
