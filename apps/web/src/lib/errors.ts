/**
 * The base of every error the library throws on purpose.
 *
 * Each module has its own subclass with a small set of `kind`s. The kinds are the ones the shared
 * test vectors name (`testvectors/README.md`), so callers and tests branch on `kind`, never on
 * message text; messages are written for people.
 */
export class P2posError<Kind extends string> extends Error {
  readonly kind: Kind;

  constructor(kind: Kind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}
