/**
 * Every vector case of `testvectors/*.json`, plus tampered copies, as runnable cases.
 *
 * Used by the Vitest suites (one test per case) and by the browser harness (`runVectors`).
 */
import { checkAge, checkBackup, checkBlob, checkId, checkRecord, checkVaultState, type Check } from "./checks.ts";
import { checkChat, tamperChat } from "../chat/vectors.ts";
import { ageFile, backupsFile, blobsFile, chatFile, idsFile, recordsFile, vaultStateFile } from "./files.ts";
import { casesOf, type VectorCase } from "./schema.ts";
import { tamperAge, tamperBackups, tamperBlobs, tamperIds, tamperRecords, tamperVaultState } from "./tamper.ts";

export type SuiteName = "ids" | "records" | "age" | "backups" | "blobs" | "vault-state" | "chat";

export interface RunnableCase {
  suite: SuiteName;
  name: string;
  /** A deliberately damaged copy of a valid case: it must fail with `expected`. */
  tampered: boolean;
  /** "ok" for a valid case, else the error kind it must produce. */
  expected: string;
  run: () => Promise<void>;
}

interface SuiteSource {
  file: unknown;
  check: Check;
  tamper: (cases: readonly VectorCase[]) => VectorCase[] | Promise<VectorCase[]>;
}

const SOURCES: Record<SuiteName, SuiteSource> = {
  ids: { file: idsFile, check: checkId, tamper: tamperIds },
  records: { file: recordsFile, check: checkRecord, tamper: tamperRecords },
  age: { file: ageFile, check: checkAge, tamper: tamperAge },
  backups: { file: backupsFile, check: checkBackup, tamper: tamperBackups },
  blobs: { file: blobsFile, check: checkBlob, tamper: tamperBlobs },
  "vault-state": { file: vaultStateFile, check: checkVaultState, tamper: tamperVaultState },
  chat: { file: chatFile, check: checkChat, tamper: tamperChat },
};

export const SUITE_NAMES = Object.keys(SOURCES) as SuiteName[];

/** The cases of one suite: the file's own, then the tampered copies. */
export async function suiteCases(suite: SuiteName): Promise<RunnableCase[]> {
  const { file, check, tamper } = SOURCES[suite];
  const original = casesOf(file, `${suite}.json`);
  const tampered = await tamper(original);
  const runnable = (c: VectorCase, isTampered: boolean): RunnableCase => ({
    suite,
    name: c.name,
    tampered: isTampered,
    expected: c.valid ? "ok" : (c.error ?? "?"),
    run: () => check(c),
  });
  return [...original.map((c) => runnable(c, false)), ...tampered.map((c) => runnable(c, true))];
}

export interface VectorReport {
  passed: number;
  failed: number;
  /** "suite/name: why", one per failed case. */
  failures: string[];
  /** Cases per suite, and how many of them were tampered copies. */
  counts: Record<SuiteName, { cases: number; tampered: number }>;
  /** Tampered cases that failed exactly as they should (they count as passed). */
  tamperedFailedAsExpected: number;
}

/** Run every case of every suite, sequentially (scrypt cases are memory hungry). */
export async function runAllVectors(): Promise<VectorReport> {
  const report: VectorReport = {
    passed: 0,
    failed: 0,
    failures: [],
    counts: {
      ids: zero(),
      records: zero(),
      age: zero(),
      backups: zero(),
      blobs: zero(),
      "vault-state": zero(),
      chat: zero(),
    },
    tamperedFailedAsExpected: 0,
  };
  for (const suite of SUITE_NAMES) {
    for (const c of await suiteCases(suite)) {
      report.counts[suite].cases++;
      if (c.tampered) report.counts[suite].tampered++;
      try {
        await c.run();
        report.passed++;
        if (c.tampered) report.tamperedFailedAsExpected++;
      } catch (error) {
        report.failed++;
        report.failures.push(`${suite}/${c.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return report;
}

function zero(): { cases: number; tampered: number } {
  return { cases: 0, tampered: 0 };
}
