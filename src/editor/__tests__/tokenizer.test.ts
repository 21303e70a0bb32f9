/**
 * The `%%nk` highlighter's tokens (src/editor/tokenizer.ts): which words are
 * settings, layers, argument names, functions, keywords, numbers; and that
 * nothing outside `%%nk` vocabulary is coloured as if it were.
 */

import { type Token, tokenize } from '../tokenizer';
import { isNkCell, magicLineIndex } from '../vocabulary';
import { loadVocabulary } from './helpers';

const vocabulary = loadVocabulary();

/** [text, kind] pairs, for readable expectations. */
function words(text: string): [string, string][] {
  return tokenize(text, vocabulary).map((t: Token) => [
    text.slice(t.from, t.to),
    t.kind,
  ]);
}

const CELL = `%%nk -o run
net = serial(Dense(512, W_std=1.5), Relu(), ElementwiseNumerical(tanh, deg=25))
data = digits(train=1000, test=500)  # small
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, 1e3, inf])
cache = "nk-cache"`;

describe('tokenize', () => {
  it('classifies every kind of word in a full cell', () => {
    expect(words(CELL)).toEqual([
      ['%%nk -o run', 'magic'],
      ['net', 'setting'],
      ['serial', 'layer'],
      ['Dense', 'layer'],
      ['512', 'number'],
      ['W_std', 'argument'],
      ['1.5', 'number'],
      ['Relu', 'layer'],
      ['ElementwiseNumerical', 'layer'],
      ['tanh', 'function'],
      ['deg', 'argument'],
      ['25', 'number'],
      ['data', 'setting'],
      ['digits', 'keyword'],
      ['train', 'argument'],
      ['1000', 'number'],
      ['test', 'argument'],
      ['500', 'number'],
      ['# small', 'comment'],
      ['compute', 'setting'],
      ['nngp', 'keyword'],
      ['ntk', 'keyword'],
      ['predict', 'setting'],
      ['gradient_descent_mse', 'keyword'],
      ['t', 'argument'],
      ['1', 'number'],
      ['1e3', 'number'],
      ['inf', 'keyword'],
      ['cache', 'setting'],
      ['"nk-cache"', 'string'],
    ]);
  });

  it('colours Slice, the one subscriptable name, like a function', () => {
    expect(words('net = Index(idx=Slice[:, 1:3])')).toEqual([
      ['net', 'setting'],
      ['Index', 'layer'],
      ['idx', 'argument'],
      ['Slice', 'function'],
      ['1', 'number'],
      ['3', 'number'],
    ]);
  });

  it('gives offsets that slice the text exactly, in order', () => {
    const tokens = tokenize(CELL, vocabulary);
    for (let i = 1; i < tokens.length; i++) {
      expect(tokens[i]!.from).toBeGreaterThanOrEqual(tokens[i - 1]!.to);
    }
    expect(CELL.slice(tokens[2]!.from, tokens[2]!.to)).toBe('serial');
  });

  it('leaves unknown names, settings and names inside words uncoloured', () => {
    expect(words('foo = Dnse(10)\nnet = x.Dense')).toEqual([
      ['10', 'number'],
      ['net', 'setting'],
      ['Dense', 'layer'],
    ]);
    // Digits inside a name are not a number; `==` is not an assignment.
    expect(words('net = W2(a == 3)')).toEqual([
      ['net', 'setting'],
      ['3', 'number'],
    ]);
  });

  it('knows a setting only at the start of a statement', () => {
    // `compute` inside brackets followed by `=` is an argument name; a setting
    // name continuing a bracketed line is not a new statement.
    expect(words('net = serial(\n  compute=1)')).toEqual([
      ['net', 'setting'],
      ['serial', 'layer'],
      ['compute', 'argument'],
      ['1', 'number'],
    ]);
  });

  it('ends strings at their closing quote, escapes included, and at line end if unclosed', () => {
    expect(words("cache = 'a\\'b' # c\nnet = 'open")).toEqual([
      ['cache', 'setting'],
      ["'a\\'b'", 'string'],
      ['# c', 'comment'],
      ['net', 'setting'],
      ["'open", 'string'],
    ]);
  });

  it('reads numbers in every literal form', () => {
    const numbers = words('net = f(1, 2.5, .5, 1e-3, 1_000, 3j)')
      .filter(([, kind]) => kind === 'number')
      .map(([text]) => text);
    expect(numbers).toEqual(['1', '2.5', '.5', '1e-3', '1_000', '3j']);
  });
});

describe('isNkCell', () => {
  it('accepts the magic on the first non-blank line only', () => {
    expect(isNkCell('%%nk\nnet = Dense(1)')).toBe(true);
    expect(isNkCell('\n  \n%%nk -o x')).toBe(true);
    expect(magicLineIndex('\n\n%%nk')).toBe(2);
    expect(isNkCell('x = 1\n%%nk')).toBe(false);
    expect(isNkCell('%%nkx\n')).toBe(false);
    expect(isNkCell('%%timeit\nnet = 1')).toBe(false);
  });
});
