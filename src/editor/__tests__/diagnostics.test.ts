/**
 * Placing the magic's parse errors in the cell editor (src/editor/diagnostics.ts):
 * spec line L is editor line L + 1 (the `%%nk` line comes first), columns are
 * code points, the marked range covers the word at the column.
 */

import {
  codeUnitOffset,
  diagnosticLines,
  isSpecDiagnostic,
  placeDiagnostic,
} from '../diagnostics';

const CELL = [
  '%%nk',
  'net = serial(Dense(10), Relu())',
  'data = digits(train=10, test=5)',
  'compute = nngp,, ntk',
].join('\n');

function marked(cell: string, line: number, col: number): string {
  const placed = placeDiagnostic(cell, { line, col, message: 'm' })!;
  return cell.slice(placed.from, placed.to);
}

describe('placeDiagnostic', () => {
  it('puts spec line 3 on editor line 4, at the column', () => {
    // (3, 16) is what the Python parser reports for this cell's `,,`.
    const placed = placeDiagnostic(CELL, {
      line: 3,
      col: 16,
      message: 'syntax error',
    });
    expect(placed).toEqual({
      from: CELL.indexOf(',,') + 1,
      to: CELL.indexOf(',,') + 2,
      editorLine: 4,
      message: 'syntax error',
    });
  });

  it('marks the whole name or number starting at the column', () => {
    expect(marked(CELL, 1, 14)).toBe('Dense');
    expect(marked(CELL, 2, 21)).toBe('10');
    expect(marked(CELL, 1, 1)).toBe('net');
  });

  it('counts blank lines before the magic (IPython drops them)', () => {
    const placed = placeDiagnostic('\n\n' + CELL, {
      line: 1,
      col: 14,
      message: '',
    })!;
    expect(placed.editorLine).toBe(4);
  });

  it('turns code-point columns into UTF-16 offsets', () => {
    // '😀' is one code point but two UTF-16 units; 'é' is one of each.
    const cell = "%%nk\nnet = Dense('😀é', W_sdt=1)";
    expect(marked(cell, 1, 19)).toBe('W_sdt');
    expect(codeUnitOffset('😀é x', 3)).toBe(4);
    expect(codeUnitOffset('ab', 10)).toBe(2);
  });

  it('clamps positions past the end of a line or of the cell', () => {
    // "unexpected EOF" points one past the last character: mark that character.
    const cell = '%%nk\nnet = Dense(10';
    const eof = placeDiagnostic(cell, { line: 1, col: 16, message: '' })!;
    expect(cell.slice(eof.from, eof.to)).toBe('0');
    const below = placeDiagnostic(cell, { line: 9, col: 1, message: '' })!;
    expect(below.editorLine).toBe(2);
  });

  it('gives up when the cell no longer starts with %%nk', () => {
    expect(
      placeDiagnostic('net = 1', { line: 1, col: 1, message: '' }),
    ).toBeNull();
  });
});

describe('isSpecDiagnostic', () => {
  it('accepts the payload shape of nkwidgets/magic.py only', () => {
    expect(
      isSpecDiagnostic({ line: 3, col: 1, message: 'x', source: 'y' }),
    ).toBe(true);
    expect(isSpecDiagnostic({ line: '3', col: 1, message: 'x' })).toBe(false);
    expect(isSpecDiagnostic({ line: 3, message: 'x' })).toBe(false);
    expect(isSpecDiagnostic(null)).toBe(false);
  });
});

describe('diagnosticLines', () => {
  it('points a caret at the column, counting the magic line', () => {
    const [where, source, caret] = diagnosticLines(
      3,
      16,
      'compute = nngp,, ntk',
    );
    expect(where).toBe('%%nk: error at line 4 of the cell, column 16');
    expect(caret.indexOf('^') - source.indexOf('compute')).toBe(15);
  });
});
