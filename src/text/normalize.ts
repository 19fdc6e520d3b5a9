/**
 * Transcript normalisation applied to both reference and hypothesis before every WER.
 *
 * WER should count recognition mistakes, not formatting differences: Whisper writes
 * "Mr. Smith paid $5 in 1961." where LibriSpeech references read "MISTER SMITH PAID FIVE
 * DOLLARS IN NINETEEN SIXTY ONE". Every rule below therefore maps the written form to the way
 * it is spoken, and is applied identically to both sides, so a rule that guesses wrong for
 * some text costs the same on both sides rather than inventing errors.
 *
 * English rules, in order:
 *  1. Unicode NFKC (full-width forms, ligatures, superscripts become plain characters).
 *  2. Annotations in [brackets], (parentheses) or {braces} are removed: "[MUSIC]", "(laughs)".
 *  3. Lower-case. Apostrophes (straight or curly) are deleted, so "don't" -> "dont",
 *     "o'clock" -> "oclock", "'90s" -> "90s".
 *  4. Symbols: "&" -> "and", "%" -> "percent"; currency "$5" -> "five dollars",
 *     "$5.50" -> "five dollars fifty cents", "$1.5 million" -> "one point five million dollars"
 *     (also £ pounds/pence, € euros/cents, ¥ yen).
 *  5. Numbers are spelt out:
 *     - cardinals without "and": "105" -> "one hundred five", "1,000" -> "one thousand";
 *     - four-digit numbers written without a comma in 1100-1999 or 2010-2099 are read as years,
 *       since that is overwhelmingly what such tokens are in speech: "1961" -> "nineteen sixty
 *       one", "1905" -> "nineteen oh five", "1900" -> "nineteen hundred", "2024" -> "twenty
 *       twenty four"; 2000-2009 stay cardinal ("two thousand five"), which is also how those
 *       years are said. With a comma ("1,961") the number is always cardinal;
 *     - ordinals "1st" -> "first", "22nd" -> "twenty second";
 *     - decades/plurals "1980s" -> "nineteen eighties", "90s" -> "nineties";
 *     - decimals "3.05" -> "three point zero five";
 *     - numbers with a leading zero ("007") and numbers of 16+ digits are read digit by digit.
 *  6. Every remaining character that is not a letter, digit or mark becomes a space (hyphens and
 *     slashes therefore split words: "twenty-one" -> "twenty one").
 *  7. Titles: mr -> mister, mrs -> missus, ms -> miss, dr -> doctor.
 *  8. "and" between a scale word and a number word is dropped ("one hundred and five" ->
 *     "one hundred five") because rule 5 never produces it but British readers say it.
 *  9. Whitespace is collapsed.
 */

const ONES = [
  'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine',
  'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen',
  'eighteen', 'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const SCALES = ['', 'thousand', 'million', 'billion', 'trillion'];
/** Past trillions nobody reads numbers as words; digit-by-digit is what is actually said. */
const MAX_CARDINAL = 10n ** 15n;

const SCALE_WORDS = new Set(['hundred', ...SCALES.filter(Boolean)]);
const NUMBER_WORDS = new Set([...ONES.slice(1), ...TENS.filter(Boolean)]);

const IRREGULAR_ORDINALS: Record<string, string> = {
  one: 'first', two: 'second', three: 'third', five: 'fifth', eight: 'eighth', nine: 'ninth', twelve: 'twelfth',
};

const TITLES: Record<string, string> = { mr: 'mister', mrs: 'missus', ms: 'miss', dr: 'doctor' };

interface Currency {
  unit: [singular: string, plural: string];
  subunit: [singular: string, plural: string];
}
const CURRENCIES: Record<string, Currency> = {
  $: { unit: ['dollar', 'dollars'], subunit: ['cent', 'cents'] },
  '£': { unit: ['pound', 'pounds'], subunit: ['penny', 'pence'] },
  '€': { unit: ['euro', 'euros'], subunit: ['cent', 'cents'] },
  '¥': { unit: ['yen', 'yen'], subunit: ['sen', 'sen'] },
};

/** An integer, optionally with thousands separators ("1,000,000"). */
const INTEGER = String.raw`\d{1,3}(?:,\d{3})+(?!\d)|\d+`;

function digitsOneByOne(digits: string): string {
  return [...digits].map((digit) => ONES[Number(digit)]).join(' ');
}

function belowThousand(n: number): string[] {
  const words: string[] = [];
  if (n >= 100) {
    words.push(ONES[Math.floor(n / 100)], 'hundred');
    n %= 100;
  }
  if (n >= 20) {
    words.push(TENS[Math.floor(n / 10)]);
    n %= 10;
    if (n > 0) words.push(ONES[n]);
  } else if (n > 0) {
    words.push(ONES[n]);
  }
  return words;
}

/** Cardinal reading of a string of digits (commas already removed). */
function cardinal(digits: string): string {
  if ((digits.length > 1 && digits.startsWith('0')) || BigInt(digits) >= MAX_CARDINAL) {
    return digitsOneByOne(digits);
  }
  let value = BigInt(digits);
  if (value === 0n) return 'zero';
  const groups: string[] = [];
  for (let scale = 0; value > 0n; scale++, value /= 1000n) {
    const group = Number(value % 1000n);
    if (group > 0) groups.unshift([...belowThousand(group), SCALES[scale]].filter(Boolean).join(' '));
  }
  return groups.join(' ');
}

function isSpokenAsYear(digits: string): boolean {
  if (!/^[12]\d{3}$/.test(digits)) return false;
  const value = Number(digits);
  return (value >= 1100 && value <= 1999) || (value >= 2010 && value <= 2099);
}

function yearReading(value: number): string {
  const century = cardinal(String(Math.floor(value / 100)));
  const rest = value % 100;
  if (rest === 0) return `${century} hundred`;
  if (rest < 10) return `${century} oh ${ONES[rest]}`;
  return `${century} ${cardinal(String(rest))}`;
}

/** How a bare integer token is read aloud: as a year when it looks like one, else cardinal. */
function spokenInteger(digits: string): string {
  return isSpokenAsYear(digits) ? yearReading(Number(digits)) : cardinal(digits);
}

function replaceLastWord(phrase: string, transform: (word: string) => string): string {
  const cut = phrase.lastIndexOf(' ') + 1;
  return phrase.slice(0, cut) + transform(phrase.slice(cut));
}

function ordinalWord(word: string): string {
  if (IRREGULAR_ORDINALS[word]) return IRREGULAR_ORDINALS[word];
  if (word.endsWith('y')) return `${word.slice(0, -1)}ieth`;
  return `${word}th`;
}

function pluralWord(word: string): string {
  if (word.endsWith('y')) return `${word.slice(0, -1)}ies`;
  if (word.endsWith('x')) return `${word}es`;
  return `${word}s`;
}

function decimal(integerDigits: string, fractionDigits: string): string {
  return `${cardinal(integerDigits)} point ${digitsOneByOne(fractionDigits)}`;
}

function withoutCommas(digits: string): string {
  return digits.replace(/,/g, '');
}

function currencyReading(
  symbol: string,
  integerPart: string,
  fractionPart: string | undefined,
  scaleWord: string | undefined,
): string {
  const { unit, subunit } = CURRENCIES[symbol];
  const whole = withoutCommas(integerPart);
  if (scaleWord) {
    const amount = fractionPart ? decimal(whole, fractionPart) : cardinal(whole);
    return `${amount} ${scaleWord} ${unit[1]}`;
  }
  const wholeValue = BigInt(whole);
  if (fractionPart === undefined || fractionPart.length !== 2) {
    if (fractionPart !== undefined) return `${decimal(whole, fractionPart)} ${unit[1]}`;
    return `${cardinal(whole)} ${wholeValue === 1n ? unit[0] : unit[1]}`;
  }
  const cents = Number(fractionPart);
  const parts: string[] = [];
  if (wholeValue > 0n || cents === 0) parts.push(`${cardinal(whole)} ${wholeValue === 1n ? unit[0] : unit[1]}`);
  if (cents > 0) parts.push(`${cardinal(String(cents))} ${cents === 1 ? subunit[0] : subunit[1]}`);
  return parts.join(' ');
}

function spellOutNumbers(text: string): string {
  const spaced = (words: string) => ` ${words} `;
  return text
    .replace(
      new RegExp(String.raw`([$£€¥])\s?(${INTEGER})(?:\.(\d+))?(?:\s?(thousand|million|billion|trillion)\b)?`, 'g'),
      (_, symbol: string, integerPart: string, fractionPart: string | undefined, scaleWord: string | undefined) =>
        spaced(currencyReading(symbol, integerPart, fractionPart, scaleWord)),
    )
    .replace(new RegExp(String.raw`(${INTEGER})(?:st|nd|rd|th)\b`, 'g'), (_, digits: string) =>
      spaced(replaceLastWord(cardinal(withoutCommas(digits)), ordinalWord)),
    )
    .replace(new RegExp(String.raw`(${INTEGER})s\b`, 'g'), (_, digits: string) =>
      spaced(replaceLastWord(digits.includes(',') ? cardinal(withoutCommas(digits)) : spokenInteger(digits), pluralWord)),
    )
    .replace(new RegExp(String.raw`(${INTEGER})\.(\d+)`, 'g'), (_, integerPart: string, fractionPart: string) =>
      spaced(decimal(withoutCommas(integerPart), fractionPart)),
    )
    .replace(new RegExp(INTEGER, 'g'), (digits: string) =>
      spaced(digits.includes(',') ? cardinal(withoutCommas(digits)) : spokenInteger(digits)),
    );
}

const ANNOTATIONS = /\[[^\]]*\]|\([^)]*\)|\{[^}]*\}/g;
const APOSTROPHES = /['\u2018\u2019\u02bc\u2032`]/g;
const NOT_WORD_CHARACTER = /[^\p{L}\p{M}\p{N}]+/gu;

/** Drops "and" in "hundred and five", "a thousand and one", matching how digits are spelt out. */
function dropAndInsideNumbers(tokens: string[]): string[] {
  return tokens.filter(
    (token, i) => !(token === 'and' && SCALE_WORDS.has(tokens[i - 1]) && NUMBER_WORDS.has(tokens[i + 1])),
  );
}

export function normalizeEnglish(text: string): string {
  let normalized = text.normalize('NFKC').replace(ANNOTATIONS, ' ').toLowerCase().replace(APOSTROPHES, '');
  normalized = normalized.replace(/&/g, ' and ').replace(/%/g, ' percent ');
  normalized = spellOutNumbers(normalized).replace(NOT_WORD_CHARACTER, ' ');
  const tokens = normalized
    .split(' ')
    .filter((token) => token.length > 0)
    .map((token) => TITLES[token] ?? token);
  return dropAndInsideNumbers(tokens).join(' ');
}

/** Normalised English words, the unit English WER is counted in. */
export function words(text: string): string[] {
  return normalizeEnglish(text)
    .split(' ')
    .filter((word) => word.length > 0);
}

/**
 * Scripts written without spaces between words. Each character becomes its own token, so WER
 * over these tokens is a character error rate; splitting into words would need a dictionary.
 */
const UNSPACED_SCRIPT_CHARACTER =
  /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]/gu;

/**
 * Language-neutral normalisation: NFKC, annotations removed, lower-case, punctuation and
 * symbols become spaces (so French "l'homme" -> "l homme" on both sides), whitespace collapsed,
 * and characters of unspaced scripts (Chinese, Japanese, Korean, Thai, ...) split apart.
 * Numbers stay as digits because spelling them out is language-specific.
 */
export function normalizeBasic(text: string): string {
  return text
    .normalize('NFKC')
    .replace(ANNOTATIONS, ' ')
    .toLowerCase()
    .replace(NOT_WORD_CHARACTER, ' ')
    .replace(UNSPACED_SCRIPT_CHARACTER, (character) => ` ${character} `)
    .split(' ')
    .filter((token) => token.length > 0)
    .join(' ');
}

/** English rules for English (and for clips of unknown language, e.g. non-speech); basic otherwise. */
export function normalizeFor(language: string | null | undefined, text: string): string {
  if (!language || /^en(?:glish)?\b/i.test(language)) return normalizeEnglish(text);
  return normalizeBasic(text);
}
