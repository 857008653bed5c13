import { describe, expect, it } from "vitest";
import { sealBackup } from "./backup.ts";
import { BackupCheckError, backupStateOf, checkBackup, withBackupEvent } from "./backupState.ts";
import { CryptError } from "./crypt.ts";
import { generateIdentityFile } from "./identity.ts";

const PASSPHRASE = "River family summer photos";

interface Fields {
  createdAt: number;
  backupDownloadedAt?: number;
  backupConfirmedAt?: number;
}

describe("backup state", () => {
  it("starts with none, then downloaded, then confirmed", () => {
    const fresh: Fields = { createdAt: 1 };
    expect(backupStateOf(fresh)).toBe("none");
    const downloaded = withBackupEvent(fresh, "downloaded", 10);
    expect(backupStateOf(downloaded)).toBe("downloaded");
    expect(downloaded.backupDownloadedAt).toBe(10);
    const confirmed = withBackupEvent(downloaded, "confirmed", 20);
    expect(backupStateOf(confirmed)).toBe("confirmed");
    expect(confirmed).toEqual({ createdAt: 1, backupDownloadedAt: 10, backupConfirmedAt: 20 });
  });

  it("never goes back: a later download keeps the confirmation and its time", () => {
    const confirmed = withBackupEvent<Fields>({ createdAt: 1 }, "confirmed", 20);
    const again = withBackupEvent(withBackupEvent(confirmed, "downloaded", 30), "confirmed", 40);
    expect(backupStateOf(again)).toBe("confirmed");
    expect(again.backupConfirmedAt).toBe(20);
    expect(again.backupDownloadedAt).toBe(30);
  });
});

describe("checkBackup", () => {
  it("accepts the identity's own backup opened with its passphrase, and nothing else", async () => {
    const mine = await generateIdentityFile();
    const other = await generateIdentityFile();
    const myBackup = await sealBackup(mine, PASSPHRASE, { logN: 10 });
    const otherBackup = await sealBackup(other, PASSPHRASE, { logN: 10 });

    await expect(checkBackup(mine.id, myBackup, PASSPHRASE)).resolves.toBeUndefined();
    // The same file as bytes, as the file picker gives it.
    await expect(checkBackup(mine.id, new TextEncoder().encode(myBackup), PASSPHRASE)).resolves.toBeUndefined();

    const wrong = await checkBackup(mine.id, myBackup, "not the passphrase").catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(CryptError);
    expect((wrong as CryptError).kind).toBe("passphrase");

    const another = await checkBackup(mine.id, otherBackup, PASSPHRASE).catch((e: unknown) => e);
    expect(another).toBeInstanceOf(BackupCheckError);
    expect((another as Error).message).toContain(other.id.slice(0, 7));

    const notBackup = await checkBackup(mine.id, "holiday photo bytes", PASSPHRASE).catch((e: unknown) => e);
    expect(notBackup).toBeInstanceOf(CryptError);
  });
});
