// The command line of the example programs: flags read by node:util's parseArgs, `--help`, and
// the checks of their values. A wrong command line says what is wrong and exits with code 2.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The model every example runs without a download: models/inferkit-tiny in this repository. */
export const EMBEDDED_MODEL = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'inferkit-tiny');

/** Writes `message` to stderr and exits with `code` (2: the command line is wrong). */
export function fail(message, code = 2) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/**
 * The values of the program's flags, as parseArgs reads them with `options`. `--help` (`-h`)
 * prints `usage` and exits; an unknown or malformed flag prints the error and `usage`.
 */
export function parseFlags(options, usage) {
  let values;
  try {
    values = parseArgs({
      // `pnpm start -- --flag` passes the `--` through; it is not an end-of-options marker here.
      args: process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (e) {
    fail(`${e.message}\n\n${usage}`);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** The flag `name` (read as a string) as a positive integer. */
export function readPositiveInteger(values, name) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got '${values[name]}'`);
  return n;
}

/** `--temperature` as a number from 0 to 2, or `undefined` when it is not given (the model's default). */
export function readTemperature(values) {
  if (values.temperature === undefined) return undefined;
  const t = Number(values.temperature);
  if (!(t >= 0 && t <= 2)) fail(`--temperature must be a number from 0 to 2, got '${values.temperature}'`);
  return t;
}

/**
 * `--model` (default: the embedded model) as an absolute path: a Hugging Face checkpoint directory,
 * a `.gguf` file, or a directory holding one `.gguf` file (what `loadWeights` takes as a local path).
 */
export function readModelPath(values) {
  const path = resolve(values.model ?? EMBEDDED_MODEL);
  if (!existsSync(path)) fail(`--model ${path}: no such file or directory`);
  if (statSync(path).isFile()) {
    if (!path.endsWith('.gguf')) fail(`--model ${path}: expected a .gguf file or a Hugging Face checkpoint directory`);
    return path;
  }
  const ggufs = readdirSync(path).filter((f) => f.endsWith('.gguf'));
  if (!existsSync(join(path, 'config.json')) && ggufs.length === 0) {
    fail(`--model ${path}: no config.json and no .gguf file there (expected a Hugging Face checkpoint directory or a GGUF file)`);
  }
  return path;
}

const LOCAL_CHAT_USAGE = `usage: demo.mjs [--model <dir|file.gguf>] [--prompt <text>] [--system <text>] [--max-tokens <n>] [--temperature <t>] [--device auto|cuda|cpu]

  --model        a local Hugging Face checkpoint directory or GGUF file (Llama, Mistral, Qwen2, Qwen3);
                 default: the embedded model in models/inferkit-tiny
  --prompt       the user message (default: "Tell me a story about a cat.")
  --system       a system message
  --max-tokens   most tokens to generate (default 200)
  --temperature  0 for greedy; default: the model's generation_config.json
  --device       auto (default), cuda or cpu; INFERKIT_DEVICE overrides it`;

/**
 * The command line of the demos that send one chat to a local checkpoint (quickstart, ai-sdk),
 * checked: `modelPath` is a checkpoint directory or a GGUF file (`readModelPath`), `maxTokens` is a positive integer, `temperature` is
 * from 0 to 2 or `undefined`, `system` is `undefined` when not given.
 */
export function readLocalChatFlags() {
  const values = parseFlags(
    {
      model: { type: 'string' },
      prompt: { type: 'string', default: 'Tell me a story about a cat.' },
      system: { type: 'string' },
      'max-tokens': { type: 'string', default: '200' },
      temperature: { type: 'string' },
      device: { type: 'string', default: 'auto' },
    },
    LOCAL_CHAT_USAGE,
  );
  return {
    maxTokens: readPositiveInteger(values, 'max-tokens'),
    temperature: readTemperature(values),
    modelPath: readModelPath(values),
    prompt: values.prompt,
    system: values.system,
    device: values.device,
  };
}
