import type { ToolCallDelta } from '@inferkit/inference-core';
import type { ToolCallFormat } from './tool-call-format.js';

/** A piece of parsed output: visible text, or a piece of a tool call. */
export type ToolCallPiece = { text: string } | { call: ToolCallDelta };

const NAME_OPEN = '{"name": "';

type State =
  /** Visible text, watching for the trigger (held back while it may be starting). */
  | 'text'
  /** llama3 `auto`: the first character decides between a call and text. */
  | 'first'
  /** Text for good: the reply did not start a call. */
  | 'plain'
  /** Between calls: the format's envelope, up to the next `{"name": "`. */
  | 'seek_name'
  | 'name'
  /** Between the name and the arguments: `", "arguments": `. */
  | 'seek_args'
  | 'args';

/**
 * Splits a model's streamed reply into text and tool calls, in the layout the grammar of
 * `toolCallGrammar` enforces (so no guessing at the model's formatting is needed): text before
 * the trigger is text; each call object yields one delta with the id and the name, then
 * `argumentsDelta`s carrying the arguments' JSON exactly as generated. A reply cut short (finish
 * `length`) leaves the last call's arguments incomplete, as OpenAI does.
 */
export class ToolCallParser {
  private state: State;
  private held: string;
  private name: string;
  private depth: number;
  private inString: boolean;
  private escaped: boolean;
  private count: number;
  private readonly argsOpen: string;

  /**
   * @param mode `auto`: text may come first (the reply may have no call); `calls`: the reply is calls only.
   * @param newId the id of each new call.
   */
  constructor(
    private readonly format: ToolCallFormat,
    mode: 'auto' | 'calls',
    private readonly newId: () => string,
  ) {
    this.state = mode === 'calls' ? 'seek_name' : format.trigger === undefined ? 'first' : 'text';
    this.held = '';
    this.name = '';
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.count = 0;
    this.argsOpen = `, "${format.argumentsKey}": `;
  }

  /** Calls started so far. */
  get calls(): number {
    return this.count;
  }

  push(text: string): ToolCallPiece[] {
    const out: ToolCallPiece[] = [];
    let s = this.held + text;
    this.held = '';
    let args = '';
    const flushArgs = () => {
      if (args !== '') out.push({ call: { index: this.count - 1, argumentsDelta: args } });
      args = '';
    };
    while (s.length > 0) {
      switch (this.state) {
        case 'plain':
          out.push({ text: s });
          s = '';
          break;
        case 'first':
          this.state = s[0] === '{' ? 'seek_name' : 'plain';
          break;
        case 'text': {
          const trigger = this.format.trigger!;
          const at = s.indexOf(trigger);
          if (at >= 0) {
            if (at > 0) out.push({ text: s.slice(0, at) });
            s = s.slice(at + trigger.length);
            this.state = 'seek_name';
            break;
          }
          const keep = partialSuffix(s, trigger);
          if (s.length > keep) out.push({ text: s.slice(0, s.length - keep) });
          this.held = s.slice(s.length - keep);
          s = '';
          break;
        }
        case 'seek_name':
        case 'seek_args': {
          const marker = this.state === 'seek_name' ? NAME_OPEN : this.argsOpen;
          const at = s.indexOf(marker);
          if (at < 0) {
            this.held = s.slice(s.length - partialSuffix(s, marker));
            s = '';
            break;
          }
          s = s.slice(at + marker.length);
          if (this.state === 'seek_name') {
            this.state = 'name';
            this.name = '';
            this.escaped = false;
          } else {
            this.state = 'args';
            this.depth = 0;
            this.inString = false;
            this.escaped = false;
          }
          break;
        }
        case 'name': {
          let i = 0;
          for (; i < s.length; i++) {
            if (this.escaped) this.escaped = false;
            else if (s[i] === '\\') this.escaped = true;
            else if (s[i] === '"') break;
          }
          if (i === s.length) {
            this.name += s;
            s = '';
            break;
          }
          this.name += s.slice(0, i);
          s = s.slice(i + 1);
          let name: string;
          try {
            name = JSON.parse(`"${this.name}"`) as string;
          } catch {
            name = this.name;
          }
          this.count++;
          out.push({ call: { index: this.count - 1, id: this.newId(), name } });
          this.state = 'seek_args';
          break;
        }
        case 'args': {
          let i = 0;
          let ended = false;
          for (; i < s.length; i++) {
            const c = s[i]!;
            if (this.inString) {
              if (this.escaped) this.escaped = false;
              else if (c === '\\') this.escaped = true;
              else if (c === '"') this.inString = false;
              continue;
            }
            if (c === '"') this.inString = true;
            else if (c === '{' || c === '[') this.depth++;
            else if (c === '}' || c === ']') {
              if (this.depth === 0) {
                ended = true;
                break;
              }
              this.depth--;
            }
          }
          args += s.slice(0, i);
          s = s.slice(i);
          if (ended) {
            flushArgs();
            this.state = 'seek_name';
          }
          break;
        }
      }
    }
    flushArgs();
    return out;
  }

  /** What is still held back at the end of the reply (text that only looked like a trigger). */
  end(): ToolCallPiece[] {
    const held = this.held;
    this.held = '';
    if (held === '' || (this.state !== 'text' && this.state !== 'plain' && this.state !== 'first')) return [];
    return [{ text: held }];
  }
}

/** Length of the longest suffix of `s` that is a proper prefix of `marker`. */
function partialSuffix(s: string, marker: string): number {
  for (let n = Math.min(s.length, marker.length - 1); n > 0; n--) {
    if (marker.startsWith(s.slice(s.length - n))) return n;
  }
  return 0;
}
