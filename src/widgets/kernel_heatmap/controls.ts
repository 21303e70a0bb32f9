/**
 * Segmented buttons (kernel, colour mode) drawn in the view; a button click
 * only reports the choice, and the caller writes it to the model, so every
 * view of the model follows.
 */

import { DIFFERENCE } from './derive';

/** Display name of a kernel choice. */
export function kernelLabel(name: string): string {
  switch (name) {
    case 'nngp':
      return 'NNGP';
    case 'ntk':
      return 'NTK';
    case DIFFERENCE:
      return 'NTK \u2212 NNGP';
    default:
      return name;
  }
}

/** What a kernel choice's button says when hovered. */
function kernelHint(name: string): string {
  return name === DIFFERENCE
    ? 'NTK/rms(NTK) \u2212 NNGP/rms(NNGP): where the two kernels differ in shape, not scale'
    : `show the ${kernelLabel(name)}`;
}

/** One option of a segmented control. */
export interface Option {
  value: string;
  label: string;
  hint: string;
}

/** The kernel choices as options. */
export function kernelOptions(choices: readonly string[]): Option[] {
  return choices.map(value => ({
    value,
    label: kernelLabel(value),
    hint: kernelHint(value),
  }));
}

/** The colour-mode options for a matrix; correlation only when square. */
export function modeOptions(square: boolean): Option[] {
  return square
    ? [
        { value: 'values', label: 'values', hint: 'colour by K\u1d62\u2c7c' },
        {
          value: 'correlation',
          label: 'correlation',
          hint: 'colour by K\u1d62\u2c7c / \u221a(K\u1d62\u1d62 K\u2c7c\u2c7c): per-input magnitude removed',
        },
      ]
    : [];
}

/** A row of toggle buttons, one pressed. */
export class Segmented {
  readonly node: HTMLDivElement;
  private key = '';

  constructor(
    label: string,
    private readonly onSelect: (value: string) => void,
  ) {
    this.node = document.createElement('div');
    this.node.className = 'nk-kernel-heatmap-segmented';
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', label);
  }

  /** Show `options` with `selected` pressed; hidden with fewer than two. */
  update(options: readonly Option[], selected: string): void {
    const key = options.map(o => o.value).join('\u0000');
    if (key !== this.key) {
      this.key = key;
      this.node.replaceChildren(
        ...options.map(option => {
          const button = document.createElement('button');
          button.type = 'button';
          button.className = 'nk-kernel-heatmap-segment';
          button.textContent = option.label;
          button.title = option.hint;
          button.dataset.value = option.value;
          button.addEventListener('click', () => this.onSelect(option.value));
          return button;
        }),
      );
    }
    this.node.hidden = options.length < 2;
    for (const button of this.node.querySelectorAll('button')) {
      const pressed = button.dataset.value === selected;
      button.setAttribute('aria-pressed', String(pressed));
      button.classList.toggle('nk-mod-selected', pressed);
    }
  }
}
