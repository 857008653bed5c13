/**
 * Reading the shared test vector files (`testvectors/README.md`) without trusting their shape.
 *
 * The files are produced by the Rust side; if a field is renamed or missing, the tests should say
 * which case and which field, not fail later with "undefined is not a string".
 */

/** One case as found in a file: `name`, `valid`, optional `error`, and suite-specific fields. */
export interface VectorCase {
  readonly name: string;
  readonly valid: boolean;
  readonly error?: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export class VectorSchemaError extends Error {}

/** The cases of a vector file. */
export function casesOf(file: unknown, fileName: string): VectorCase[] {
  if (!isObject(file) || !Array.isArray(file["cases"])) {
    throw new VectorSchemaError(`${fileName}: expected an object with a "cases" array`);
  }
  return file["cases"].map((raw: unknown, index): VectorCase => {
    if (!isObject(raw)) throw new VectorSchemaError(`${fileName}: case ${index} is not an object`);
    const { name, valid, error } = raw;
    if (typeof name !== "string" || typeof valid !== "boolean") {
      throw new VectorSchemaError(`${fileName}: case ${index} needs "name" (text) and "valid" (boolean)`);
    }
    if (!valid && typeof error !== "string") {
      throw new VectorSchemaError(`${fileName}: invalid case "${name}" has no "error" kind`);
    }
    return { name, valid, ...(typeof error === "string" ? { error } : {}), fields: raw };
  });
}

/** A text field of a case. */
export function text(c: VectorCase, field: string): string {
  const value = c.fields[field];
  if (typeof value !== "string") throw new VectorSchemaError(`case "${c.name}": "${field}" is not text`);
  return value;
}

/** A list-of-text field of a case. */
export function textList(c: VectorCase, field: string): string[] {
  const value = c.fields[field];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new VectorSchemaError(`case "${c.name}": "${field}" is not a list of text`);
  }
  return value;
}

/** A whole-number field of a case. */
export function integer(c: VectorCase, field: string): number {
  const value = c.fields[field];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new VectorSchemaError(`case "${c.name}": "${field}" is not a whole number`);
  }
  return value;
}

/** Any JSON field of a case (must be present). */
export function json(c: VectorCase, field: string): unknown {
  if (!(field in c.fields)) throw new VectorSchemaError(`case "${c.name}": "${field}" is missing`);
  return c.fields[field];
}

/** The expected error kind of an invalid case. */
export function expectedError(c: VectorCase): string {
  if (c.valid || c.error === undefined) throw new VectorSchemaError(`case "${c.name}" is not an invalid case`);
  return c.error;
}

/** A copy of a case with changed fields and expectation, for tampered variants. */
export function derive(
  c: VectorCase,
  how: string,
  changes: Record<string, unknown>,
  expectation: { valid: true } | { valid: false; error: string },
): VectorCase {
  return {
    name: `${c.name} [tampered: ${how}]`,
    ...expectation,
    fields: { ...c.fields, ...changes },
  };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
