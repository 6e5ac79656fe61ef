import { inspect } from "node:util";

const REDACTED = "[redacted]";
// Every secret value ever wrapped, so that text built from it by accident (an SDK error that
// echoes an access key, a URL pasted into a message) is scrubbed before anyone sees it.
const known = new Set<string>();
const MIN_SCRUB_LENGTH = 4;

/**
 * A credential. It prints, serialises and inspects as `[redacted]`; only `reveal()` gives the
 * value, and only the code that hands it to an SDK or a Kubernetes Secret should call it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    registerSecretValue(value);
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

export function isSecret(value: unknown): value is Secret {
  return value instanceof Secret;
}

/** Registers a credential that did not come through `new Secret` (e.g. read from a file). */
export function registerSecretValue(value: string): void {
  if (value.length < MIN_SCRUB_LENGTH) return;
  known.add(value);
  // the forms a value commonly takes once it has been through a URL or an encoder
  known.add(Buffer.from(value).toString("base64"));
  known.add(encodeURIComponent(value));
  known.add(encodeURIComponent(Buffer.from(value).toString("base64")));
}

/** Replaces every registered secret in `text` with `***`. */
export function redact(text: string): string {
  if (known.size === 0 || text.length === 0) return text;
  let out = text;
  // longest first, so a secret that contains another is replaced whole
  for (const value of [...known].sort((a, b) => b.length - a.length)) {
    if (value.length >= MIN_SCRUB_LENGTH && out.includes(value)) out = out.split(value).join("***");
  }
  return out;
}
