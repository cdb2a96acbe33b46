/**
 * Kubernetes `resource.ParseQuantity` acceptance (apimachinery `quantity.go`), for Egress `spec.bandwidth.rate` and
 * `.burst`. Only whether a string parses matters here (Antrea's webhook rejects the Egress otherwise); the errors
 * carry apimachinery's wording because the webhook message embeds them.
 */

const SPLIT_RE = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';

export const ERR_FORMAT_WRONG = `quantities must match the regular expression '${SPLIT_RE}'`;
export const ERR_SUFFIX = "unable to parse quantity's suffix";
export const ERR_NUMERIC = 'unable to parse numeric part of quantity';

const SUFFIXES = new Set(['', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei']);

/** null when `s` is a valid quantity, else apimachinery's error text. */
export function quantityError(s: string): string | null {
  if (s.length === 0) return ERR_FORMAT_WRONG;
  if (s === '0') return null;
  let pos = 0;
  const end = s.length;
  if (s[0] === '-' || s[0] === '+') pos++;
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
  let digits = 0;
  while (pos < end && isDigit(s[pos])) {
    pos++;
    digits++;
  }
  if (pos < end && s[pos] === '.') {
    pos++;
    while (pos < end && isDigit(s[pos])) {
      pos++;
      digits++;
    }
  }
  const suffixStart = pos;
  while (pos < end && 'eEinumkKMGTP'.includes(s[pos]!)) pos++;
  if (pos < end && (s[pos] === '-' || s[pos] === '+')) pos++;
  while (pos < end && isDigit(s[pos])) pos++;
  if (pos < end) return ERR_FORMAT_WRONG;
  const suffix = s.slice(suffixStart);
  const exponent = /^[eE][-+]?[0-9]+$/.test(suffix);
  if (!SUFFIXES.has(suffix) && !exponent) return ERR_SUFFIX;
  if (digits === 0) return ERR_NUMERIC;
  return null;
}

const BINARY_EXP: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/**
 * `Quantity.Value()`: the integer value, rounded away from zero; null when the text is not a quantity.
 * `quantityValue("100M") === 100_000_000n`, `quantityValue("1Ki") === 1024n`, `quantityValue("1500m") === 2n`;
 * saturated at ±(2^63 − 1).
 */
export function quantityValue(s: string): bigint | null {
  if (quantityError(s) !== null) return null;
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(s)!;
  const negative = m[1] === '-';
  const intPart = m[2] ?? '';
  const frac = m[3] ?? '';
  const suffix = m[4] ?? '';
  let exp10 = -frac.length;
  let exp2 = 0;
  if (suffix in BINARY_EXP) exp2 = BINARY_EXP[suffix]!;
  else if (suffix in DECIMAL_EXP) exp10 += DECIMAL_EXP[suffix]!;
  else exp10 += Number(suffix.slice(1));
  const digits = (intPart + frac).replace(/^0+/, '');
  if (digits === '') return 0n;
  // Exponents are unbounded in the text (`1e99999999`): saturate at int64 as apimachinery's Value() does, and
  // never build the power of ten (seconds and gigabytes for one string from the store).
  if (digits.length + exp10 > 20) return negative ? -MAX_INT64 : MAX_INT64;
  if (-exp10 > digits.length + 20) return negative ? -1n : 1n; // below 1: rounds up to 1
  let num = BigInt(digits) << BigInt(exp2);
  let den = 1n;
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den = 10n ** BigInt(-exp10);
  let v = (num + den - 1n) / den; // round up (away from zero for the magnitude)
  if (v > MAX_INT64) v = MAX_INT64;
  return negative ? -v : v;
}

const MAX_INT64 = (1n << 63n) - 1n;

/** The largest rate or burst an OVS meter holds: a 32-bit count of kbit(/s). */
export const METER_MAX_KBIT = 0xffffffffn;

/** A bandwidth quantity as a meter sees it (Antrea: `Quantity.Value() / 1000`): whole kbit, 0 when not positive. */
export function quantityKbit(s: string): bigint {
  const v = quantityValue(s) ?? 0n;
  return v <= 0n ? 0n : v / 1000n;
}
