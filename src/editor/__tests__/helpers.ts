/** The real generated catalog, read from disk (as the plugin bundles it). */

import { readFileSync } from 'fs';
import { join } from 'path';

import { type Catalog, Vocabulary } from '../vocabulary';

export function loadVocabulary(): Vocabulary {
  const path = join(__dirname, '..', 'layer_catalog.json');
  return new Vocabulary(JSON.parse(readFileSync(path, 'utf-8')) as Catalog);
}
