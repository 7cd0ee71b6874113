import { ModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import { modelDir, type TinyModel } from './paths.js';

const cache = new Map<string, Promise<ModelTokenizer>>();

export function tinyTokenizer(name: TinyModel = 'llama-gqa'): Promise<ModelTokenizer> {
  let t = cache.get(name);
  if (t === undefined) {
    t = ModelTokenizer.fromDirectory(modelDir(name));
    cache.set(name, t);
  }
  return t;
}
