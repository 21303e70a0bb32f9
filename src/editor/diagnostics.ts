/**
 * Where a `%%nk` parse error goes in the cell's editor. The Python parser
 * counts lines of the spec (line 1 is the line after `%%nk`) and columns in
 * characters (code points); the editor counts lines of the cell and offsets
 * in UTF-16 code units.
 */

import { magicLineIndex } from './vocabulary';

/** MIME type of the output the `%%nk` magic displays for a parse error. */
export const DIAGNOSTIC_MIME = 'application/vnd.nkwidgets.diagnostic+json';

/** The payload of a DIAGNOSTIC_MIME output (nkwidgets/magic.py). */
export interface SpecDiagnostic {
  line: number;
  col: number;
  message: string;
  source?: string;
}

/** A diagnostic placed in a cell: offsets `[from, to)` and the 1-based editor line. */
export interface PlacedDiagnostic {
  from: number;
  to: number;
  editorLine: number;
  message: string;
}

export function isSpecDiagnostic(value: unknown): value is SpecDiagnostic {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return (
    Number.isInteger(v.line) &&
    Number.isInteger(v.col) &&
    typeof v.message === 'string'
  );
}

/**
 * The range to mark for `diagnostic` in a cell whose text is `cellText`: the
 * word (name or number) starting at the column, else one character; clamped to
 * the cell. Null if the cell no longer holds a `%%nk` magic.
 */
export function placeDiagnostic(
  cellText: string,
  diagnostic: SpecDiagnostic,
): PlacedDiagnostic | null {
  const magic = magicLineIndex(cellText);
  if (magic === null) {
    return null;
  }
  const lines = cellText.split('\n');
  const index = Math.min(
    magic + Math.max(diagnostic.line, 1),
    lines.length - 1,
  );
  const lineText = lines[index] ?? '';
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    lineStart += (lines[i] ?? '').length + 1;
  }
  const column = codeUnitOffset(lineText, Math.max(diagnostic.col, 1) - 1);
  let from = lineStart + column;
  let to = from;
  while (
    to < lineStart + lineText.length &&
    /[\w.]/.test(cellText[to] as string)
  ) {
    to++;
  }
  if (to === from) {
    if (from < lineStart + lineText.length) {
      to = from + 1;
    } else if (lineText.length > 0) {
      // Past the end of the line ("unexpected EOF"): mark its last character.
      from = lineStart + lineText.length - 1;
      to = from + 1;
    }
  }
  return { from, to, editorLine: index + 1, message: diagnostic.message };
}

/** UTF-16 offset of code point `points` of `line` (clamped to its length). */
export function codeUnitOffset(line: string, points: number): number {
  let offset = 0;
  let seen = 0;
  for (const char of line) {
    if (seen >= points) {
      break;
    }
    offset += char.length;
    seen++;
  }
  return offset;
}

/**
 * The rendering of a diagnostic output: where (in cell lines, counting the
 * `%%nk` line), the source line, and a caret under the column.
 */
export function diagnosticLines(
  line: number,
  col: number,
  source: string,
): [string, string, string] {
  const prefix = `${String(line + 1).padStart(4)} | `;
  const caretPad = [...source].slice(0, Math.max(col - 1, 0)).length;
  return [
    `%%nk: error at line ${line + 1} of the cell, column ${col}`,
    prefix + source,
    ' '.repeat(prefix.length - 2) + '| ' + ' '.repeat(caretPad) + '^',
  ];
}
