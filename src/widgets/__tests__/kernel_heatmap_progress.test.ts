/**
 * The block count beside a heatmap's title (src/widgets/kernel_heatmap/view.ts).
 */

import { progressText } from '../kernel_heatmap/view';

describe('progressText', () => {
  it('counts against the total when one is known', () => {
    expect(progressText(3, 12)).toBe('3 / 12 blocks');
    expect(progressText(1, 1)).toBe('1 / 1 block');
  });

  it('counts alone without a total, in the singular for one block', () => {
    expect(progressText(1, 0)).toBe('1 block');
    expect(progressText(7, 0)).toBe('7 blocks');
  });

  it('says nothing before the first block', () => {
    expect(progressText(0, 0)).toBe('');
  });
});
