/**
 * Passphrase rules and a strength hint for the create-identity form.
 *
 * The backup is only as strong as its passphrase against an offline guesser, slowed by scrypt
 * (about 2^18 work per guess). The hint is a rough entropy estimate, meant to nudge people toward
 * longer passphrases, not to certify them: it cannot know a phrase is a famous quote.
 */

export const MIN_PASSPHRASE_LENGTH = 10;

export type StrengthLevel = "too-short" | "weak" | "fair" | "strong";

export interface Strength {
  level: StrengthLevel;
  /** Estimated bits of entropy (rough). */
  bits: number;
  /** One sentence for people. */
  hint: string;
}

export function passphraseStrength(passphrase: string): Strength {
  const characters = Array.from(passphrase);
  const bits = Math.round(estimateBits(Array.from(collapseCommonFragments(passphrase))));
  if (characters.length < MIN_PASSPHRASE_LENGTH) {
    return {
      level: "too-short",
      bits,
      hint: `Use at least ${MIN_PASSPHRASE_LENGTH} characters (${characters.length} so far).`,
    };
  }
  if (bits < 45) return { level: "weak", bits, hint: "Easy to guess. Add a few unrelated words." };
  if (bits < 65) return { level: "fair", bits, hint: "Fair. Another word or two would make it strong." };
  return { level: "strong", bits, hint: "Strong. Write it down somewhere safe: nobody can reset it." };
}

/** The fragments guessers try first; each counts as a single character. */
const COMMON_FRAGMENTS = [
  "password",
  "passwort",
  "motdepasse",
  "qwerty",
  "azerty",
  "letmein",
  "welcome",
  "iloveyou",
  "admin",
  "monkey",
  "dragon",
  "123456789",
  "12345",
  "1234",
  "abcdef",
  "abc",
  "p2pos",
];

function collapseCommonFragments(passphrase: string): string {
  let text = passphrase;
  for (const fragment of COMMON_FRAGMENTS) text = text.replace(new RegExp(fragment, "gi"), "\u0000");
  return text;
}

/**
 * Length × log2(alphabet), discounted for repeats: each character counts only as much as it is new
 * (a run like "aaaaaaaaaa" scores about one character).
 */
function estimateBits(characters: readonly string[]): number {
  const pool =
    (characters.some((c) => /[a-z]/.test(c)) ? 26 : 0) +
    (characters.some((c) => /[A-Z]/.test(c)) ? 26 : 0) +
    (characters.some((c) => /[0-9]/.test(c)) ? 10 : 0) +
    (characters.some((c) => /[^a-zA-Z0-9]/.test(c)) ? 33 : 0);
  if (pool === 0) return 0;
  const perCharacter = Math.log2(pool);
  const seen = new Map<string, number>();
  let bits = 0;
  for (const c of characters) {
    const count = seen.get(c) ?? 0;
    bits += perCharacter / (1 + count);
    seen.set(c, count + 1);
  }
  return bits;
}
