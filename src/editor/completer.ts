/** JupyterLab completer provider for `%%nk` cells (Tab), over `complete()`. */

import type {
  CompletionHandler,
  ICompletionContext,
  ICompletionProvider,
} from '@jupyterlab/completer';

import { complete } from './completion';
import { type Vocabulary } from './vocabulary';

/** Above the kernel's (550) and the context's (500): `%%nk` items come first. */
export const NK_COMPLETER_RANK = 800;

export class NkCompletionProvider implements ICompletionProvider {
  readonly identifier = 'nkwidgets:nk-language';
  readonly rank = NK_COMPLETER_RANK;
  readonly renderer = null;

  constructor(private readonly vocabulary: Vocabulary) {}

  async isApplicable(context: ICompletionContext): Promise<boolean> {
    return !!context.editor;
  }

  async fetch(
    request: CompletionHandler.IRequest,
    _context: ICompletionContext,
  ): Promise<CompletionHandler.ICompletionItemsReply> {
    const result = complete(request.text, request.offset, this.vocabulary);
    if (result === null) {
      return { start: request.offset, end: request.offset, items: [] };
    }
    return {
      start: result.from,
      end: result.to,
      items: result.items.map(item => ({
        label: item.label,
        insertText: item.insertText,
        type: item.type,
        documentation: item.detail,
      })),
    };
  }
}
