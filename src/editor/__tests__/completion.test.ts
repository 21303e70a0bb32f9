/**
 * Completion in `%%nk` cells (src/editor/completion.ts): the list offered at
 * each kind of cursor position, and the range it replaces.
 */

import { complete, cursorContext } from '../completion';
import { loadVocabulary } from './helpers';

const vocabulary = loadVocabulary();

/** Completion at the `|` in `cell`. */
function at(cell: string) {
  const offset = cell.indexOf('|');
  const text = cell.slice(0, offset) + cell.slice(offset + 1);
  return { text, offset, result: complete(text, offset, vocabulary) };
}

function labels(cell: string): string[] {
  return at(cell).result?.items.map(item => item.label) ?? [];
}

describe('complete', () => {
  it('offers settings at the start of a statement', () => {
    expect(labels('%%nk\n|')).toEqual([
      'net',
      'data',
      'compute',
      'predict',
      'block_size',
      'dtype',
      'devices',
      'cache',
      'budget',
    ]);
    expect(labels('%%nk\nnet = Dense(1)\nd|')).toEqual([
      'data',
      'dtype',
      'devices',
    ]);
    const item = at('%%nk\nbl|').result!.items[0]!;
    expect(item.insertText).toBe('block_size = ');
  });

  it('offers every layer after `net =`, filtered by the typed prefix (any case)', () => {
    const all = labels('%%nk\nnet = |');
    expect(all.length).toBe(vocabulary.layers.size);
    expect(all).toContain('Dense');
    expect(labels('%%nk\nnet = Den|')).toEqual(['Dense']);
    expect(labels('%%nk\nnet = serial(Dense(10), re|').sort()).toEqual([
      'RectifiedMonomial',
      'Relu',
      'repeat',
    ]);
    const dense = at('%%nk\nnet = Den|').result!.items[0]!;
    expect(dense.type).toBe('layer');
    expect(dense.insertText).toBe('Dense(');
    expect(dense.detail).toMatch(/^Dense\(out_dim, W_std=1\.0/);
  });

  it("offers a layer's argument names, not those already given", () => {
    const params = vocabulary.layers.get('Dense')!.params;
    expect(labels('%%nk\nnet = Dense(10, |')).toEqual(params);
    expect(labels('%%nk\nnet = Dense(10, W_std=1.5, |')).toEqual(
      params.filter(p => p !== 'W_std'),
    );
    expect(labels('%%nk\nnet = serial(Dense(10, b|')).toEqual([
      'b_std',
      'batch_axis',
    ]);
    const item = at('%%nk\nnet = Dense(10, W_|').result!.items[0]!;
    expect(item).toMatchObject({
      label: 'W_std',
      insertText: 'W_std=',
      type: 'argument',
    });
  });

  it('knows combinators take layers and ElementwiseNumerical takes functions', () => {
    // serial's arguments are layers only; repeat also has `layer` and `n`.
    expect(labels('%%nk\nnet = serial(|')).toHaveLength(vocabulary.layers.size);
    expect(labels('%%nk\nnet = repeat(Dense(1), |')).toEqual(
      expect.arrayContaining(['n', 'Dense']),
    );
    expect(labels('%%nk\nnet = ElementwiseNumerical(ta|')).toEqual(['tanh']);
    // A value after `name=`: no argument names there.
    expect(labels('%%nk\nnet = ElementwiseNumerical(fn=|')).toEqual(
      vocabulary.catalog.functions,
    );
    expect(labels('%%nk\nnet = Dense(10, W_std=|')).toEqual([]);
  });

  it("offers Slice where Index's index goes, and nowhere else", () => {
    expect(labels('%%nk\nnet = Index(Sl|')).toEqual(['Slice']);
    expect(labels('%%nk\nnet = Index(idx=|')).toEqual(['Slice']);
    const item = at('%%nk\nnet = Index(idx=Sl|').result?.items[0];
    expect(item?.insertText).toBe('Slice[');
    expect(labels('%%nk\nnet = Index(Slice[0], batch_axis=|')).toEqual([]);
    expect(labels('%%nk\nnet = Dense(10, W_std=|')).toEqual([]);
    expect(labels('%%nk\nnet = serial(Sl|')).toEqual([]);
  });

  it('offers what data, predict, compute, dtype and block_size accept', () => {
    expect(labels('%%nk\ndata = |')).toEqual(['digits']);
    expect(labels('%%nk\ndata = digits(train=10, |')).toEqual([
      'test',
      'seed',
      'images',
    ]);
    expect(labels('%%nk\npredict = |')).toEqual([
      'gradient_descent_mse',
      'None',
    ]);
    expect(labels('%%nk\npredict = gradient_descent_mse(|')).toEqual([
      't',
      'learning_rate',
      'diag_reg',
    ]);
    expect(labels('%%nk\ncompute = nngp, |')).toEqual(['nngp', 'ntk']);
    expect(labels('%%nk\ndtype = float|')).toEqual(['float32', 'float64']);
    expect(labels('%%nk\nblock_size = |')).toEqual(['auto']);
  });

  it('follows a value over several lines inside brackets', () => {
    expect(labels('%%nk\nnet = serial(\n    Dense(10),\n    Re|')).toEqual(
      expect.arrayContaining(['Relu']),
    );
    expect(labels('%%nk\nnet = serial(Dense(10))\n|')).toContain('data');
  });

  it('replaces the whole word under the cursor', () => {
    const { text, result } = at('%%nk\nnet = De|nse(10)');
    expect(text.slice(result!.from, result!.to)).toBe('Dense');
  });

  it('offers nothing outside %%nk cells, on the magic line, in comments or strings', () => {
    expect(at('x = De|').result).toBeNull();
    expect(at('%%n|k').result).toBeNull();
    expect(at('%%nk\nnet = Dense(1)  # De|').result).toBeNull();
    expect(at("%%nk\ncache = 'De|").result).toBeNull();
  });
});

describe('cursorContext', () => {
  it('tracks the innermost call and the setting', () => {
    expect(cursorContext('net = serial(Dense(10, W_std=1, ')).toEqual({
      callee: 'Dense',
      givenArguments: ['W_std'],
      afterArgumentEquals: false,
      setting: 'net',
      depth: 2,
    });
    expect(cursorContext('net = Conv(8, (3, ')).toMatchObject({
      callee: null,
      depth: 2,
    });
    expect(cursorContext('net = Dense(1)\n')).toMatchObject({
      setting: null,
      depth: 0,
    });
  });
});
