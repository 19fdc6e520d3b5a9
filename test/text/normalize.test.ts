import { describe, expect, it } from 'vitest';

import { normalizeBasic, normalizeEnglish, normalizeFor, words } from '../../src/text/normalize.js';

function expectNormalized(cases: Array<[input: string, expected: string]>): void {
  for (const [input, expected] of cases) expect(normalizeEnglish(input), JSON.stringify(input)).toBe(expected);
}

describe('normalizeEnglish: letters and punctuation', () => {
  it('lower-cases, strips punctuation and collapses whitespace', () => {
    expectNormalized([
      ['And so, my fellow Americans: ask not!', 'and so my fellow americans ask not'],
      ['  Hello\t\n  WORLD...  ', 'hello world'],
      ['"Quoted" — dashes – and…ellipsis', 'quoted dashes and ellipsis'],
      ['', ''],
      ['?!.', ''],
    ]);
  });

  it('applies NFKC so full-width and compatibility characters match plain ones', () => {
    expectNormalized([
      ['Ｈｅｌｌｏ　ＷＯＲＬＤ', 'hello world'],
      ['ﬁne', 'fine'],
      ['Cafe\u0301', 'café'],
    ]);
  });

  it('removes bracketed and parenthesised annotations', () => {
    expectNormalized([
      ['[MUSIC] Hello there (laughs) friend', 'hello there friend'],
      ['{noise} okay [ inaudible ] yes', 'okay yes'],
      ['(applause)', ''],
    ]);
  });

  it('deletes apostrophes, straight or curly, so contractions match however they are typed', () => {
    expectNormalized([
      ["don't", 'dont'],
      ['don’t', 'dont'],
      ["It's five o'clock", 'its five oclock'],
      ["THERE'S IRON", 'theres iron'],
      ["the students' books", 'the students books'],
    ]);
  });

  it('splits words on hyphens and slashes', () => {
    expectNormalized([
      ['twenty-one well-known and/or', 'twenty one well known and or'],
      ['up-to-date', 'up to date'],
    ]);
  });

  it('expands the common titles', () => {
    expectNormalized([
      ['Mr. Quilter and Mrs. Hale', 'mister quilter and missus hale'],
      ['Ms Smith met Dr. Watson', 'miss smith met doctor watson'],
      ['MISTER THORNTON', 'mister thornton'],
    ]);
  });

  it('spells symbols', () => {
    expectNormalized([
      ['salt & pepper', 'salt and pepper'],
      ['AT&T', 'at and t'],
      ['50%', 'fifty percent'],
      ['3.5 %', 'three point five percent'],
    ]);
  });
});

describe('normalizeEnglish: numbers', () => {
  it('spells cardinals without "and"', () => {
    expectNormalized([
      ['0', 'zero'],
      ['7', 'seven'],
      ['13', 'thirteen'],
      ['42', 'forty two'],
      ['100', 'one hundred'],
      ['105', 'one hundred five'],
      ['999', 'nine hundred ninety nine'],
      ['1,000', 'one thousand'],
      ['12,345', 'twelve thousand three hundred forty five'],
      ['1,000,000', 'one million'],
      ['2,000,017', 'two million seventeen'],
      ['123456789', 'one hundred twenty three million four hundred fifty six thousand seven hundred eighty nine'],
      ['1000', 'one thousand'],
      ['10000', 'ten thousand'],
    ]);
  });

  it('reads 4-digit numbers in 1100-1999 and 2010-2099 as years, others as cardinals', () => {
    expectNormalized([
      ['1961', 'nineteen sixty one'],
      ['1905', 'nineteen oh five'],
      ['1900', 'nineteen hundred'],
      ['1100', 'eleven hundred'],
      ['2024', 'twenty twenty four'],
      ['2099', 'twenty ninety nine'],
      ['2005', 'two thousand five'],
      ['2000', 'two thousand'],
      ['1066', 'one thousand sixty six'],
      ['2100', 'two thousand one hundred'],
      ['1,961', 'one thousand nine hundred sixty one'],
    ]);
  });

  it('spells ordinals', () => {
    expectNormalized([
      ['1st', 'first'],
      ['2nd', 'second'],
      ['3rd', 'third'],
      ['4th', 'fourth'],
      ['5th', 'fifth'],
      ['8th', 'eighth'],
      ['9th', 'ninth'],
      ['12th', 'twelfth'],
      ['20th', 'twentieth'],
      ['22nd', 'twenty second'],
      ['101st', 'one hundred first'],
      ['100th', 'one hundredth'],
      ['the 1,000th visitor', 'the one thousandth visitor'],
    ]);
  });

  it('spells decades and plural numbers', () => {
    expectNormalized([
      ['the 1980s', 'the nineteen eighties'],
      ["the '90s", 'the nineties'],
      ['the 1800s', 'the eighteen hundreds'],
      ['in 6s and 7s', 'in sixes and sevens'],
    ]);
  });

  it('reads decimals digit by digit after the point', () => {
    expectNormalized([
      ['3.5', 'three point five'],
      ['3.14', 'three point one four'],
      ['0.05', 'zero point zero five'],
      ['1,234.5', 'one thousand two hundred thirty four point five'],
      ['The end.', 'the end'],
      ['It was 1961.', 'it was nineteen sixty one'],
    ]);
  });

  it('spells currency amounts with their unit', () => {
    expectNormalized([
      ['$5', 'five dollars'],
      ['$1', 'one dollar'],
      ['$5.50', 'five dollars fifty cents'],
      ['$1.01', 'one dollar one cent'],
      ['$0.99', 'ninety nine cents'],
      ['$2.00', 'two dollars'],
      ['$1,200', 'one thousand two hundred dollars'],
      ['$1.5 million', 'one point five million dollars'],
      ['$3 billion', 'three billion dollars'],
      ['£1', 'one pound'],
      ['£3.20', 'three pounds twenty pence'],
      ['€10', 'ten euros'],
      ['¥500', 'five hundred yen'],
    ]);
  });

  it('reads leading zeros and very long numbers digit by digit', () => {
    expectNormalized([
      ['007', 'zero zero seven'],
      ['1234567890123456', 'one two three four five six seven eight nine zero one two three four five six'],
    ]);
  });

  it('separates digits from adjoining letters', () => {
    expectNormalized([
      ['mp3', 'mp three'],
      ['covid-19', 'covid nineteen'],
      ['3:30', 'three thirty'],
    ]);
  });

  it('drops "and" between a scale word and a number word so spoken and written numbers agree', () => {
    expectNormalized([
      ['one hundred and five', 'one hundred five'],
      ['a thousand and one nights', 'a thousand one nights'],
      ['two hundred and twenty', 'two hundred twenty'],
      ['a hundred and the rest', 'a hundred and the rest'],
      ['bread and one egg', 'bread and one egg'],
    ]);
    expect(normalizeEnglish('one hundred and five')).toBe(normalizeEnglish('105'));
  });
});

describe('normalizeEnglish: written and spoken forms agree', () => {
  it.each([
    ['Mr. Smith paid $5 in 1961.', 'MISTER SMITH PAID FIVE DOLLARS IN NINETEEN SIXTY ONE'],
    ["It's 3.5% higher than the 22nd.", 'its three point five percent higher than the twenty-second'],
    ['Dr. Who & the 1st doctor', 'DOCTOR WHO AND THE FIRST DOCTOR'],
    ['Chapter 105', 'Chapter one hundred and five'],
    ['And so, my fellow Americans, ask not...', 'AND SO MY FELLOW AMERICANS ASK NOT'],
  ])('%s == %s', (written, spoken) => {
    expect(normalizeEnglish(written)).toBe(normalizeEnglish(spoken));
  });
});

describe('words', () => {
  it('returns the normalised words and nothing empty', () => {
    expect(words(' Hello,  world! [noise] 42 ')).toEqual(['hello', 'world', 'forty', 'two']);
    expect(words('')).toEqual([]);
    expect(words('(laughs)')).toEqual([]);
  });
});

describe('normalizeBasic', () => {
  it('lower-cases, strips punctuation, keeps accents and digits', () => {
    expect(normalizeBasic('Sous le consulat, il devient conservateur des Eaux et Forêts.')).toBe(
      'sous le consulat il devient conservateur des eaux et forêts',
    );
    expect(normalizeBasic("L'homme a 42 ans")).toBe('l homme a 42 ans');
    expect(normalizeBasic('¿Qué   tal? [música]')).toBe('qué tal');
  });

  it('splits Chinese, Japanese and Korean into characters for a character error rate', () => {
    expect(normalizeBasic('广州市房地产中介协会分析')).toBe('广 州 市 房 地 产 中 介 协 会 分 析');
    expect(normalizeBasic('客観的実在。カタカナー')).toBe('客 観 的 実 在 カ タ カ ナ ー');
    expect(normalizeBasic('그는 길, 한 옆')).toBe('그 는 길 한 옆');
    expect(normalizeBasic('ＡＢＣ漢字abc')).toBe('abc 漢 字 abc');
  });
});

describe('normalizeFor', () => {
  it('uses the English rules for English and for unknown language', () => {
    expect(normalizeFor('en', 'Mr. 5')).toBe('mister five');
    expect(normalizeFor('en-US', 'Mr. 5')).toBe('mister five');
    expect(normalizeFor('English', 'Mr. 5')).toBe('mister five');
    expect(normalizeFor(null, 'Mr. 5')).toBe('mister five');
  });

  it('uses the basic rules for other languages', () => {
    expect(normalizeFor('de', 'Herr Müller, 5 Äpfel!')).toBe('herr müller 5 äpfel');
    expect(normalizeFor('zh', '协会分析')).toBe('协 会 分 析');
  });
});
